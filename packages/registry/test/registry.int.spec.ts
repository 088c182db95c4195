import { randomUUID } from "node:crypto";
import { DomainRefusal, openEventStore, type OpenedEventStore } from "@shenguan/eventstore";
import { generateSigningKey } from "@shenguan/evidence";
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

  it("a second registry instance loads everything and follows live changes", async () => {
    const other = await new DepartmentRegistry({ store: opened.store, clock }).start();
    try {
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
