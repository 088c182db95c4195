/**
 * The bus split as two processes on two cores would run it (startBus's
 * `run`): one serves the APIs and seals the log, the other relays to Kafka
 * and runs the consumers, over one database and one set of topics. The loop
 * still closes, each part runs in one place only, and the log both wrote is
 * one log, signed with one set of custody keys.
 */
import { demoUscc } from "@shenguan/bus";
import { KeyRing } from "@shenguan/evidence";
import { verifyStore } from "@shenguan/eventstore";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addRoute, DEMO, grantLicence, startE2e, waitFor, waitQuiet, type E2e } from "./support.js";

describe("the bus split over two processes' parts (e2e)", () => {
  let e: E2e;
  beforeAll(async () => {
    e = await startE2e({ name: "split", start: "2026-06-10T10:00:00+08:00", split: true });
  });
  afterAll(async () => {
    await e?.stop();
  });

  it("runs the relay and the consumers in one part only, and the grant still reaches the regulator", async () => {
    expect(e.pipeline).not.toBe(e.bus);
    expect(e.bus.consumers).toHaveLength(0);
    expect(e.pipeline.consumers.length).toBeGreaterThan(0);

    await addRoute(e.linkage, { itemCode: DEMO.items.food.code, regulator: DEMO.market, claimDays: 5 });
    const licenceId = "JY13501020610901";
    await grantLicence(
      e,
      {
        caseId: "E2E-SPLIT-1",
        licenceId,
        item: DEMO.items.food,
        holder: { name: "福州鼓楼示范餐饮有限公司", uscc: demoUscc(901) },
        underCommitment: false,
      },
      "2026-06-10",
    );
    // Asked through the first part's API: the second part's consumers received the push.
    const inbox = await waitFor("the handoff at the regulator", async () => {
      const r = await e.supervision.get(`/handoffs/H-${licenceId}`, DEMO.market);
      return r.status === 200 ? r.body : undefined;
    });
    expect(inbox).toMatchObject({ status: "pushed", handoff: { licenceId, regulator: DEMO.market, claimDue: "2026-06-17" } });
    await waitQuiet(e);
    expect(e.bus.relay.metrics().published).toBe(0);
    expect(e.pipeline.relay.metrics().published).toBeGreaterThan(0);

    // Each part's /metrics says what it ran: the consumers on their services', the relay on the gateway's.
    const scrape = async (app: { inject(o: { method: "GET"; url: string }): Promise<{ body: string }> }) =>
      (await app.inject({ method: "GET", url: "/metrics" })).body;
    const sample = (text: string, series: string) =>
      Number(new RegExp(`^${series.replaceAll(/[{}]/g, "\\$&")} (\\d+)$`, "m").exec(text)?.[1]);
    const applied = 'shenguan_consumer_messages_total{consumer="linkage",outcome="applied",service="linkage"}';
    expect(sample(await scrape(e.pipeline.apps.linkage), applied)).toBeGreaterThan(0);
    expect(await scrape(e.bus.apps.linkage)).not.toContain("shenguan_consumer_messages_total");
    const published = 'shenguan_relay_events_total{outcome="published",service="gateway"}';
    expect(sample(await scrape(e.pipeline.gateway), published)).toBe(e.pipeline.relay.metrics().published);
    expect(await scrape(e.bus.gateway)).not.toContain("shenguan_relay_events_total");
  });

  it("leaves one log, chained, sealed by the one sealer, and signed with one set of custody keys", async () => {
    await e.bus.sealer.flush();
    // The keys of either part: one directory, so one key per department whichever part signed.
    const keys = new KeyRing([...e.bus.registry.keyRing(), ...(await e.bus.keys.publicKeys())]);
    expect((await e.pipeline.keys.publicKeys()).map((k) => k.key.keyId).sort()).toEqual(
      (await e.bus.keys.publicKeys()).map((k) => k.key.keyId).sort(),
    );
    const verified = await verifyStore(e.bus.store, { keys, signatures: "all", workers: 0 });
    expect(verified.failure, JSON.stringify(verified.failure)).toBeUndefined();
    expect(verified).toMatchObject({ ok: true });
    expect(verified.seals).toBeGreaterThan(0);
    // Both parts wrote to it: the grant (the API's part) and the push (the consumers' part).
    const types = new Set((await e.bus.store.readByCorrelationKey("E2E-SPLIT-1")).map((event) => event.type));
    expect([...types]).toEqual(expect.arrayContaining(["LicenceGranted", "HandoffPushed"]));
  });
});
