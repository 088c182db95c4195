import { randomUUID } from "node:crypto";
import { PGlite } from "@electric-sql/pglite";
import { pgExecutor, pgliteExecutor, type SqlExecutor } from "@shenguan/eventstore";
import { databaseUrl } from "@shenguan/tests/harness/services";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { IdempotencyInProgressError } from "../src/errors.js";
import { IdempotencyKeys } from "../src/idempotency.js";

// The keys' claims and answers are group-committed: concurrent commands share statements.
describe.each(["postgres", "pglite"] as const)("idempotency keys under concurrency (%s)", (kind) => {
  let sql: SqlExecutor;
  let close: () => Promise<void>;
  const statements: string[] = [];

  beforeAll(async () => {
    if (kind === "pglite") {
      sql = pgliteExecutor(new PGlite());
      close = () => sql.close();
    } else {
      const url = await databaseUrl();
      const name = `t_idem_${randomUUID().replaceAll("-", "")}`;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`create schema ${name}`);
      await admin.end();
      sql = pgExecutor(new pg.Pool({ connectionString: url, max: 10, options: `-c search_path=${name}` }));
      close = async () => {
        await sql.close();
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        await c.query(`drop schema ${name} cascade`);
        await c.end();
      };
    }
  });
  afterAll(() => close());

  const counted = () => ({
    query: ((text: string, params?: unknown[]) => (statements.push(text), sql.query(text, params))) as SqlExecutor["query"],
  });

  it("runs each of many concurrent commands once, in a few shared statements, and replays their answers", async () => {
    const keys = new IdempotencyKeys(counted());
    await keys.migrate();
    statements.length = 0;
    let runs = 0;
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        keys.run("SPJ-350100", `k-${i}`, { n: i }, async () => ((runs += 1), { status: 201, body: { n: i } })),
      ),
    );
    expect(runs).toBe(50);
    expect(answers.map((a) => a.body)).toEqual(Array.from({ length: 50 }, (_, i) => ({ n: i })));
    // 50 commands: far fewer than the 100 statements one claim and one answer each would take.
    expect(statements.length).toBeLessThan(50);
    const replay = await keys.run("SPJ-350100", "k-7", { n: 7 }, async () => ((runs += 1), { status: 201, body: "never" }));
    expect(replay).toEqual({ status: 201, body: { n: 7 }, replayed: true });
    expect(runs).toBe(50);
  });

  it("forgets keys past their retention, in batches, and a retry after that runs again", async () => {
    const keys = new IdempotencyKeys(sql, { retainSeconds: 3_600, forgetEverySeconds: 3_600 });
    await keys.migrate();
    let runs = 0;
    const command = (key: string) => keys.run("ZJJ-350100", key, { key }, async () => ((runs += 1), { status: 201, body: { key } }));
    await Promise.all(["old-1", "old-2", "recent"].map(command));
    await keys.forgetting(); // the sweep the first claim started: nothing was old yet
    // Claimed two hours ago, with 5,000 more of another department: more than one statement's batch.
    await sql.query(`update idempotency_keys set created_at = now() - interval '2 hours' where key in ('old-1', 'old-2')`);
    await sql.query(
      `insert into idempotency_keys (department, key, request_hash, status, body, created_at)
       select 'XZSP-350100', 'bulk-' || g, 'h', 201, '{}', now() - interval '3 hours' from generate_series(1, 5000) g`,
    );
    expect(await keys.forgetExpired()).toBe(5_002);
    const { rows } = await sql.query<{ key: string }>(`select key from idempotency_keys where department in ('ZJJ-350100', 'XZSP-350100')`);
    expect(rows.map((r) => r.key)).toEqual(["recent"]);
    expect(await command("recent")).toMatchObject({ replayed: true });
    expect(await command("old-1")).toMatchObject({ status: 201, replayed: false });
    expect(runs).toBe(4);
  });

  it("sweeps while claiming, off the request's path, at most once an interval", async () => {
    const keys = new IdempotencyKeys(sql, { retainSeconds: 3_600, forgetEverySeconds: 3_600 });
    await keys.migrate();
    await sql.query(
      `insert into idempotency_keys (department, key, request_hash, status, body, created_at)
       values ('SWEEP-350100', 'stale-1', 'h', 201, '{}', now() - interval '2 hours')`,
    );
    const stale = async () =>
      (await sql.query(`select key from idempotency_keys where department = 'SWEEP-350100' and key like 'stale-%'`)).rows.length;
    await keys.run("SWEEP-350100", "fresh-1", {}, async () => ({ status: 200, body: {} }));
    await keys.forgetting();
    expect(await stale()).toBe(0);
    // Within the interval a claim starts no sweep.
    await sql.query(
      `insert into idempotency_keys (department, key, request_hash, status, body, created_at)
       values ('SWEEP-350100', 'stale-2', 'h', 201, '{}', now() - interval '2 hours')`,
    );
    await keys.run("SWEEP-350100", "fresh-2", {}, async () => ({ status: 200, body: {} }));
    await keys.forgetting();
    expect(await stale()).toBe(1);
  });

  it("refuses a retention no longer than the time a first attempt may run", () => {
    expect(() => new IdempotencyKeys(sql, { abandonAfterSeconds: 60, retainSeconds: 60 })).toThrow(
      /retainSeconds must be longer than abandonAfterSeconds \(60\), got 60/,
    );
  });

  it("lets only the first of one key's concurrent requests run, even within one group", async () => {
    const keys = new IdempotencyKeys(sql);
    await keys.migrate();
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const attempts = Array.from({ length: 5 }, () =>
      keys.run("SCJG-350100", "same-key", { claim: "H-1" }, async () => {
        runs++;
        await gate;
        return { status: 200, body: { claimed: true } };
      }),
    );
    const settled = Promise.allSettled(attempts);
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    const outcomes = await settled;
    expect(runs).toBe(1);
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    for (const o of outcomes.filter((o) => o.status === "rejected"))
      expect((o as PromiseRejectedResult).reason).toBeInstanceOf(IdempotencyInProgressError);
    expect(await keys.run("SCJG-350100", "same-key", { claim: "H-1" }, async () => ({ status: 500, body: null }))).toMatchObject({
      replayed: true,
      body: { claimed: true },
    });
  });
});
