import { randomUUID } from "node:crypto";
import { PGlite } from "@electric-sql/pglite";
import { pgExecutor, pgliteExecutor, type SqlExecutor } from "@shenguan/eventstore";
import { databaseUrl } from "@shenguan/tests/harness/services";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { AccessLog, accessLogHash } from "../src/access-log.js";
import { ManualClock } from "../src/clock.js";

// Each test gets a schema of its own: tampering tests break the chain on purpose.
const opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of opened.splice(0)) await close();
});

async function freshSchema(poolSize = 10): Promise<{ sql: SqlExecutor; name: string; url: string }> {
  const url = await databaseUrl();
  const name = `t_access_${randomUUID().replaceAll("-", "")}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create schema ${name}`);
  await admin.end();
  const sql = pgExecutor(new pg.Pool({ connectionString: url, max: poolSize, options: `-c search_path=${name}` }));
  opened.push(async () => {
    await sql.close();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`drop schema ${name} cascade`);
    await c.end();
  });
  return { sql, name, url };
}

/** A superuser session going around the triggers, as an insider with database access could. */
async function asSuperuser(url: string, schema: string, statements: string[]): Promise<void> {
  const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  await c.connect();
  try {
    await c.query("alter table access_log disable trigger user");
    for (const s of statements) await c.query(s);
    await c.query("alter table access_log enable trigger user");
  } finally {
    await c.end();
  }
}

const clock = new ManualClock("2026-10-12T01:00:00.000Z");

describe("access log (PostgreSQL)", () => {
  it("appends a batch as chained rows and lists them by filter", async () => {
    const { sql } = await freshSchema();
    const log = new AccessLog(sql, clock);
    await log.migrate();
    await log.migrate(); // idempotent

    const written = await log.record([
      { department: "350100-SCJGJ", action: "delivery.sse", resource: "sse", detail: { events: ["e1", "e2"], count: 2 } },
      { department: "350100-SCJGJ", action: "pii.read", resource: "e1", detail: { paths: ["holder.idNumber"] } },
      { department: "350100-ZJJ", action: "audit.query", resource: "case-1", at: new Date("2026-10-12T02:00:00.000Z") },
    ]);
    expect(written.map((r) => r.id)).toEqual([1n, 2n, 3n]);
    expect(written[0]!.prevHash).toBe("0".repeat(64));
    expect(written[1]!.prevHash).toBe(written[0]!.hash);
    expect(written[2]!.prevHash).toBe(written[1]!.hash);

    const scjgj = await log.list({ department: "350100-SCJGJ" });
    expect(scjgj).toEqual(written.slice(0, 2));
    expect(scjgj[0]!.at).toEqual(clock.now());
    expect((await log.list({ action: "audit.query" })).map((r) => r.resource)).toEqual(["case-1"]);
    expect((await log.list({ from: new Date("2026-10-12T01:30:00Z") })).map((r) => r.id)).toEqual([3n]);
    expect((await log.list({ afterId: 1n, limit: 1 })).map((r) => r.id)).toEqual([2n]);
    await expect(log.list({ limit: 0 })).rejects.toThrow(/limit must be an integer/);
    await expect(log.record([{ department: "", action: "pii.read", resource: "x" }])).rejects.toThrow(/entries\.0\.department/);

    expect(await log.verify()).toEqual({ ok: true, checked: 3, head: written[2]!.hash });
  });

  it("refuses UPDATE, DELETE and TRUNCATE", async () => {
    const { sql } = await freshSchema();
    const log = new AccessLog(sql, clock);
    await log.migrate();
    await log.record([{ department: "D", action: "pii.read", resource: "e1" }]);
    await expect(sql.query(`update access_log set department = 'X'`)).rejects.toThrow(/append-only: UPDATE refused/);
    await expect(sql.query(`delete from access_log`)).rejects.toThrow(/append-only: DELETE refused/);
    await expect(sql.query(`truncate access_log`)).rejects.toThrow(/append-only: TRUNCATE refused/);
    expect(await log.list()).toHaveLength(1);
  });

  it("keeps one chain under concurrent writers from separate pools", async () => {
    const a = await freshSchema(8);
    const b = pgExecutor(new pg.Pool({ connectionString: a.url, max: 8, options: `-c search_path=${a.name}` }));
    opened.unshift(() => b.close());
    const logA = new AccessLog(a.sql, clock);
    const logB = new AccessLog(b, clock);
    await Promise.all([logA.migrate(), logB.migrate()]);
    const returned = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 ? logA : logB).record([
          { department: `D${i}`, action: "delivery.webhook", resource: `w${i}` },
          { department: `D${i}`, action: "pii.read", resource: `e${i}` },
        ]),
      ),
    );
    // Calls made together are committed together (group commit), each answered with its own rows.
    returned.forEach((records, i) => expect(records.map((r) => r.resource)).toEqual([`w${i}`, `e${i}`]));
    const rows = await logA.list({ limit: 1000 });
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 80 }, (_, i) => BigInt(i + 1)));
    // A batch stays contiguous: nobody interleaves inside it.
    for (let i = 0; i < rows.length; i += 2) expect(rows[i]!.department).toBe(rows[i + 1]!.department);
    expect(await logA.verify()).toMatchObject({ ok: true, checked: 80 });
  });

  it("fails every call of a write that fails, and writes the next ones", async () => {
    const { sql } = await freshSchema();
    const log = new AccessLog(sql, clock);
    // Not migrated: the head row is missing, so the write fails for everyone in it.
    const failed = await Promise.allSettled([log.record([{ department: "D1", action: "pii.read", resource: "e1" }]), log.record([{ department: "D2", action: "pii.read", resource: "e2" }])]);
    expect(failed.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    await log.migrate();
    expect(await log.record([{ department: "D3", action: "pii.read", resource: "e3" }])).toMatchObject([{ id: 1n, resource: "e3" }]);
  });

  it("refuses an entry PostgreSQL or the hash would refuse at once, naming the field, while a concurrent good call is written", async () => {
    const { sql } = await freshSchema();
    const log = new AccessLog(sql, clock);
    await log.migrate();
    const good = { department: "D1", action: "pii.read", resource: "e1", detail: { paths: ["holder.name"] } };
    const [ok, nul, surrogate, nulResource] = await Promise.allSettled([
      log.record([good]),
      log.record([{ department: "D2", action: "pii.read", resource: "e2", detail: { query: { text: "a\u0000b" } } }]),
      log.record([{ department: "D3", action: "pii.read", resource: "e3", detail: { text: "\ud800" } }]),
      log.record([{ department: "D4", action: "pii.read", resource: "e\u00004" }]),
    ]);
    expect(ok).toMatchObject({ status: "fulfilled", value: [{ id: 1n, resource: "e1" }] });
    expect(nul).toMatchObject({ status: "rejected", reason: { name: "ContractViolationError", issues: [{ path: "entries.0.detail.query.text", rule: "no-nul" }] } });
    expect(surrogate).toMatchObject({ status: "rejected", reason: { issues: [{ path: "entries.0.detail", rule: "canonical-json" }] } });
    expect((surrogate as PromiseRejectedResult).reason.message).toMatch(/lone surrogate/);
    expect(nulResource).toMatchObject({ status: "rejected", reason: { issues: [{ path: "entries.0.resource", rule: "no-nul" }] } });
    expect(await log.list()).toHaveLength(1);
    expect(await log.verify()).toMatchObject({ ok: true, checked: 1 });
  });

  it("when a batch write still fails, writes its calls one by one so only the bad call fails", async () => {
    const { sql } = await freshSchema();
    const log = new AccessLog(sql, clock);
    await log.migrate();
    const calls = await Promise.allSettled([
      log.record([{ department: "D1", action: "pii.read", resource: "e1" }]),
      // A valid JavaScript date PostgreSQL cannot store (year 275760): no check foresees every such refusal.
      log.record([{ department: "D2", action: "pii.read", resource: "e2", at: new Date(8.64e15) }]),
      log.record([{ department: "D3", action: "pii.read", resource: "e3" }]),
    ]);
    expect(calls.map((c) => c.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect((await log.list()).map((r) => r.resource).sort()).toEqual(["e1", "e3"]);
    expect(await log.verify()).toMatchObject({ ok: true, checked: 2 });
  });

  it("detects a row edited, removed or cut off around the trigger", async () => {
    const { sql, name, url } = await freshSchema();
    const log = new AccessLog(sql, clock);
    await log.migrate();
    await log.record(Array.from({ length: 5 }, (_, i) => ({ department: "D", action: "pii.decrypt", resource: `e${i + 1}` })));

    await asSuperuser(url, name, [`update access_log set detail = '{"hidden": true}' where id = 3`]);
    expect(await log.verify()).toMatchObject({ ok: false, brokenAt: 3n, reason: "hash", checked: 2 });

    // Recomputing the edited row's hash does not help: the next row still points at the original.
    const [row3] = await log.list({ afterId: 2n, limit: 1 });
    const forged = { ...row3!, resource: "forged", detail: {} };
    await asSuperuser(url, name, [
      `update access_log set resource = 'forged', detail = '{}', hash = '${accessLogHash(forged)}' where id = 3`,
    ]);
    expect(await log.verify()).toMatchObject({ ok: false, brokenAt: 4n, reason: "prev_hash", checked: 3 });
  });

  it("detects a deleted middle row and a truncated tail", async () => {
    const { sql, name, url } = await freshSchema();
    const log = new AccessLog(sql, clock);
    await log.migrate();
    await log.record(Array.from({ length: 5 }, (_, i) => ({ department: "D", action: "pii.read", resource: `e${i + 1}` })));

    await asSuperuser(url, name, [`delete from access_log where id = 5`]);
    expect(await log.verify()).toMatchObject({ ok: false, brokenAt: 5n, reason: "head", checked: 4 });

    await asSuperuser(url, name, [`delete from access_log where id = 2`]);
    expect(await log.verify()).toMatchObject({ ok: false, brokenAt: 3n, reason: "gap", checked: 1 });
  });
});

describe("access log (PGlite)", () => {
  it("chains, refuses changes and verifies on the embedded database", async () => {
    const sql = pgliteExecutor(new PGlite());
    opened.push(() => sql.close());
    const log = new AccessLog(sql, clock);
    await log.migrate();
    await Promise.all([1, 2, 3].map((i) => log.record([{ department: "D", action: "delivery.sse", resource: `e${i}` }])));
    await expect(sql.query(`delete from access_log`)).rejects.toThrow(/append-only/);
    expect(await log.verify()).toMatchObject({ ok: true, checked: 3 });
  });
});
