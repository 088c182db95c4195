import { randomUUID } from "node:crypto";
import { DomainRefusal, EvidenceRejectedError, EvidenceStore, MemoryKeyStore, openEventStore, type EventStore, type OpenedEventStore } from "@shenguan/eventstore";
import { canonicalEvent, generateSigningKey, signBytes, type SigningKey } from "@shenguan/evidence";
import { ManualClock } from "@shenguan/service-kit";
import { databaseUrl } from "@shenguan/tests/harness/services";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DepartmentRegistry } from "../src/index.js";

// The registry's read side on real PostgreSQL, in a schema of its own.
const clock = new ManualClock("2026-03-02T02:00:00Z");
const schema = `registry_${randomUUID().replaceAll("-", "").slice(0, 8)}`;
let url: string;
let opened: Extract<OpenedEventStore, { kind: "postgres" | "pglite" }>;
let registry: DepartmentRegistry;
const admin = (n: string) => ({ department: "OPS-350100", correlationId: `req-${n}` });
const market = { code: "SCJG-350100", name: "福州市市场监督管理局", uscc: "91350100M000100Y43", region: "350100", kind: "regulator" as const };

beforeAll(async () => {
  url = await databaseUrl();
  const o = await openEventStore({ url, schema, poolSize: 3 });
  if (o.kind === "kurrentdb") throw new Error("expected PostgreSQL");
  opened = o;
  registry = await new DepartmentRegistry({ store: opened.store, clock, follow: false }).start();
});
afterAll(async () => {
  await registry?.close();
  await opened?.close();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`drop schema if exists ${schema} cascade`);
  await client.end();
});

describe("DepartmentRegistry", () => {
  const old = generateSigningKey("SM2-SM3");
  const current = generateSigningKey("Ed25519");

  it("registers, adds and retires keys, records certificates, and reads its own writes", async () => {
    await registry.execute(market.code, "RegisterDepartment", market, admin("1"));
    await registry.execute(market.code, "AddKey", { pem: old.publicKey.toPem(), custody: "bus" }, admin("2"));
    clock.advance(60_000);
    await registry.execute(market.code, "AddKey", { pem: current.publicKey.toPem(), custody: "department" }, admin("3"));
    await registry.execute(market.code, "RetireKey", { keyId: old.keyId, reason: "rotated" }, admin("4"));
    await registry.execute(market.code, "RecordCertificate", { serial: "0A:FF", notAfter: "2027-03-02T00:00:00Z" }, admin("5"));
    const d = registry.get(market.code)!;
    expect(d).toMatchObject({ status: "active", code: market.code, uscc: market.uscc });
    expect(d.keys.map((k) => [k.keyId, k.retired])).toEqual([
      [old.keyId, true],
      [current.keyId, false],
    ]);
    expect(registry.byCertificateSerial("aff")?.department.code).toBe(market.code);
    expect(registry.byCertificateSerial("0B")).toBeUndefined();
  });

  it("keeps retired keys in the key ring, owned by their department", () => {
    const ring = registry.keyRing();
    expect(ring.get(old.keyId)).toMatchObject({ owner: market.code });
    expect(ring.get(current.keyId)?.key.alg).toBe("Ed25519");
  });

  it("shows the history: what changed, by whom, when", () => {
    const history = registry.history(market.code)!;
    expect(history.map((h) => h.type)).toEqual(["DepartmentRegistered", "KeyAdded", "KeyAdded", "KeyRetired", "CertificateRecorded"]);
    expect(history[3]).toMatchObject({ by: "OPS-350100", correlationId: "req-4", data: { keyId: old.keyId, reason: "rotated" } });
    expect(history.every((h) => !Number.isNaN(Date.parse(h.at)))).toBe(true);
    expect(registry.history("NOPE-1")).toBeUndefined();
  });

  it("refuses a key already registered for another department", async () => {
    await registry.execute("WJW-350100", "RegisterDepartment", { ...market, code: "WJW-350100", name: "福州市卫生健康委员会" }, admin("6"));
    await expect(registry.execute("WJW-350100", "AddKey", { pem: current.publicKey.toPem(), custody: "department" }, admin("7"))).rejects.toSatisfy(
      (e) => e instanceof DomainRefusal && e.code === "key.owned-by-other",
    );
  });

  it("activeKeyRing holds only keys that may sign now: no retired key, no key of a deactivated department", async () => {
    const ring = registry.activeKeyRing();
    expect(ring.get(current.keyId)).toMatchObject({ owner: market.code });
    expect(ring.get(old.keyId)).toBeUndefined();
    // Custody keys count only for departments the registry does not know (the bus's own), and never a registered key.
    const bus = generateSigningKey("Ed25519");
    const stray = generateSigningKey("Ed25519");
    const withCustody = registry.activeKeyRing([
      { key: bus.publicKey, owner: "SHENGUAN-BUS" },
      { key: stray.publicKey, owner: market.code },
      { key: old.publicKey, owner: "SHENGUAN-BUS" },
    ]);
    expect(withCustody.get(bus.keyId)).toMatchObject({ owner: "SHENGUAN-BUS" });
    expect(withCustody.get(stray.keyId)).toBeUndefined();
    expect(withCustody.get(old.keyId)).toBeUndefined();

    const gone = "GONE-350100";
    const goneKey = generateSigningKey("Ed25519");
    await registry.execute(gone, "RegisterDepartment", { ...market, code: gone, name: "已撤销的部门" }, admin("d1"));
    await registry.execute(gone, "AddKey", { pem: goneKey.publicKey.toPem(), custody: "department" }, admin("d2"));
    await registry.execute(gone, "ChangeGrants", { grants: { publish: [], subscribe: { families: ["approval"], regions: ["*"] }, pii: false, audit: false, admin: false } }, admin("d3"));
    expect(registry.activeKeyRing().get(goneKey.keyId)).toMatchObject({ owner: gone });
    expect(registry.active(gone)?.code).toBe(gone);
    await registry.execute(gone, "Deactivate", { reason: "merged" }, admin("d4"));
    expect(registry.activeKeyRing().get(goneKey.keyId)).toBeUndefined();
    expect(registry.keyRing().get(goneKey.keyId)).toMatchObject({ owner: gone });
    // Deliveries ask active(): a deactivated department has no grants any more, though get() still shows it.
    expect(registry.active(gone)).toBeUndefined();
    expect(registry.get(gone)?.status).toBe("inactive");
  });

  it("an EvidenceStore verifying against activeKeyRing refuses an event pre-signed with a retired key, storing nothing", async () => {
    const store = new EvidenceStore(opened.store, { keys: new MemoryKeyStore(), clock: () => clock.now(), verifiers: () => registry.activeKeyRing() });
    const stream = `published-${randomUUID()}`;
    const signed = (key: SigningKey) => {
      const event = { id: randomUUID(), type: "SelfPublished", stream, revision: 0n, time: clock.now(), data: { n: 1 }, metadata: { correlationId: "c", causationId: null, department: market.code } };
      return { id: event.id, type: event.type, data: event.data, time: event.time, metadata: { ...event.metadata, evidence: { signature: signBytes(canonicalEvent(event), key) } } };
    };
    const error = await store.append(stream, [signed(old)], "no_stream").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EvidenceRejectedError);
    expect(error).toMatchObject({ kind: "unknown-key" });
    expect((error as Error).message).toMatch(/retired/);
    expect(await opened.store.readStream(stream)).toHaveLength(0);
    await store.append(stream, [signed(current)], "no_stream");
    expect(await opened.store.readStream(stream)).toHaveLength(1);
  });

  it("a reload that finishes late with a shorter history does not undo a newer change", async () => {
    // The `holdAt`-th readStream from now is held (after reading) until released, so an earlier reload finishes last.
    let hold: Promise<void> | undefined;
    let holdAt = 0;
    let held: () => void = () => undefined;
    const slow: EventStore = new Proxy(opened.store, {
      get(target, prop, receiver) {
        if (prop !== "readStream") {
          const value = Reflect.get(target, prop, receiver) as unknown;
          return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        }
        return async (...args: Parameters<EventStore["readStream"]>) => {
          const events = await target.readStream(...args);
          const gate = hold !== undefined && --holdAt === 0 ? hold : undefined;
          if (gate) {
            hold = undefined;
            await gate;
          }
          return events;
        };
      },
    });
    const code = "SLOW-350100";
    const r = await new DepartmentRegistry({ store: slow, clock, follow: false }).start();
    try {
      await r.execute(code, "RegisterDepartment", { ...market, code, name: "慢部门" }, admin("s1"));
      // execute reads the stream to decide (1st), then reloads it (2nd): hold the reload.
      holdAt = 2;
      hold = new Promise<void>((resolve) => (held = resolve));
      const first = r.execute(code, "RecordCertificate", { serial: "5150", notAfter: "2027-03-02T00:00:00Z" }, admin("s2"));
      // The first reload has read 2 events and waits; the second change is written and reloaded (3 events) meanwhile.
      while (hold !== undefined) await new Promise((res) => setTimeout(res, 5));
      await r.execute(code, "RecordCertificate", { serial: "5151", notAfter: "2027-03-02T00:00:00Z" }, admin("s3"));
      held();
      await first;
      expect(r.history(code)).toHaveLength(3);
      expect(r.get(code)?.certificates.map((c) => c.serial)).toEqual(["5150", "5151"]);
    } finally {
      await r.close();
    }
  });

  it("a second registry instance loads everything and follows live changes", async () => {
    const other = await new DepartmentRegistry({ store: opened.store, clock }).start();
    try {
      // The global log shows a commit only once every older transaction on the server has ended (other test
      // suites share it), so the first load may not hold it yet: the subscription brings it.
      const loaded = Date.now() + 10_000;
      while (other.get(market.code)?.keys.length !== 2 && Date.now() < loaded) await new Promise((r) => setTimeout(r, 20));
      expect(other.get(market.code)?.keys).toHaveLength(2);
      await registry.execute(market.code, "RevokeCertificate", { serial: "AFF", reason: "key compromise" }, admin("8"));
      const until = Date.now() + 10_000;
      while (!other.byCertificateSerial("AFF")?.certificate.revoked && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(other.byCertificateSerial("AFF")?.certificate.revoked).toEqual({ reason: "key compromise" });
    } finally {
      await other.close();
    }
  });
});
