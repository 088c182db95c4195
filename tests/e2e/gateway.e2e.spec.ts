import { randomUUID } from "node:crypto";
import { sampleOf } from "@shenguan/contracts";
import { generateSigningKey, signEvent, type Signer } from "@shenguan/evidence";
import { mintToken } from "@shenguan/gateway";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO, OPS, startE2e, type E2e } from "./support.js";

// The gateway as the bus starts it: the registry bootstrapped with the demo
// departments (custody keys, grants), publishing through the EvidenceStore,
// and services that take only identities the gateway vouches for.
let e: E2e;
let bureauKey: Signer;
let opsKey: Signer;
beforeAll(async () => {
  e = await startE2e({ name: "gateway", start: "2026-03-02T10:00:00+08:00" });
  bureauKey = (await e.bus.keys.signerFor(DEMO.bureau))!;
  opsKey = (await e.bus.keys.signerFor(OPS))!;
});
afterAll(() => e?.stop());

const bearer = (key: Signer, department: string) => ({ authorization: `Bearer ${mintToken(key, department)}` });

describe("gateway in the bus", () => {
  it("bootstraps the demo departments with their custody keys and grants", () => {
    const bureau = e.bus.registry.get(DEMO.bureau)!;
    expect(bureau.keys).toEqual([expect.objectContaining({ keyId: bureauKey.keyId, custody: "bus", retired: false })]);
    expect(bureau.grants.publish).toContain("LicenceGranted");
    expect(e.bus.registry.get(OPS)?.grants.admin).toBe(true);
    expect(e.bus.registry.keyRing().get(bureauKey.keyId)?.owner).toBe(DEMO.bureau);
  });

  it("publishes a department's event, signed by the bus with its custody key", async () => {
    const data = sampleOf("LicenceGranted");
    const res = await e.bus.gateway.inject({ method: "POST", url: "/v1/events", headers: bearer(bureauKey, DEMO.bureau), payload: { type: "LicenceGranted", subject: "CASE-GW-1", data } });
    expect(res.statusCode, res.body).toBe(201);
    const [event] = await e.readStream(res.json().stream);
    expect(event?.metadata).toMatchObject({ department: DEMO.bureau, evidence: { signature: { keyId: bureauKey.keyId } } });
  });

  it("keeps a department's own signature, and refuses a tampered or unknown one with the reason", async () => {
    const own = generateSigningKey("Ed25519");
    const added = await e.bus.gateway.inject({
      method: "POST",
      url: `/v1/admin/departments/${DEMO.bureau}/keys`,
      headers: bearer(opsKey, OPS),
      payload: { pem: own.publicKey.toPem(), custody: "department" },
    });
    expect(added.statusCode, added.body).toBe(201);

    const presign = (subject: string, signer: Signer, data = sampleOf("LicenceGranted")) => {
      const id = randomUUID();
      const time = new Date("2026-03-02T02:00:01.000Z");
      const stream = `published-${DEMO.bureau}-${subject}`;
      const metadata = { correlationId: id, causationId: null, department: DEMO.bureau, subject };
      const signature = signEvent({ id, type: "LicenceGranted", stream, revision: 0n, time, data, metadata }, signer);
      return { type: "LicenceGranted", subject, id, time: time.toISOString(), revision: "0", data, signature };
    };
    const publish = (payload: object) => e.bus.gateway.inject({ method: "POST", url: "/v1/events", headers: bearer(bureauKey, DEMO.bureau), payload });

    const good = presign("CASE-GW-2", own);
    const ok = await publish(good);
    expect(ok.statusCode, ok.body).toBe(201);
    const [stored] = await e.readStream(ok.json().stream);
    expect(stored?.metadata).toMatchObject({ evidence: { signature: good.signature } });

    const tampered = { ...presign("CASE-GW-3", own), data: { ...sampleOf("LicenceGranted"), licenceContent: "改过的许可内容" } };
    const refused = await publish(tampered);
    expect(refused.statusCode).toBe(422);
    expect(refused.json()).toMatchObject({ code: "eventstore.evidence-rejected", reason: "signature-invalid" });

    const stranger = await publish(presign("CASE-GW-4", generateSigningKey("SM2-SM3")));
    expect(stranger.json()).toMatchObject({ status: 422, reason: "unknown-key" });
    expect(await e.readStream(`published-${DEMO.bureau}-CASE-GW-3`)).toEqual([]);
  });

  it("lets services accept only what the gateway vouches for", async () => {
    const raw = await e.bus.apps.approval.inject({ url: "/cases/DEMO-1", headers: { "x-shenguan-department": DEMO.bureau } });
    expect(raw.statusCode).toBe(401);
    const vouched = await e.bus.apps.approval.inject({ url: "/cases/DEMO-1", headers: e.bus.vouch(DEMO.bureau) });
    expect(vouched.statusCode).toBe(404);
  });
});
