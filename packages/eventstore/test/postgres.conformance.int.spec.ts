import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ConcurrencyError, StoreUnavailableError } from "../src/errors.js";
import { pgExecutor, PostgresEventStore } from "../src/postgres/index.js";
import { migrate } from "../src/postgres/schema.js";
import { describeEventStoreConformance } from "./conformance.js";
import { itLingersAfterAWakeUp, itWakesSubscribersOnNotify } from "./support/wake-up.js";
import { createTestSchema, postgresReachable, unavailableMessage, type TestSchema } from "./support/postgres.js";

if (await postgresReachable()) {
  let schema: TestSchema;
  beforeAll(async () => {
    schema = await createTestSchema();
    await new PostgresEventStore(schema.sql).migrate();
  });
  afterAll(() => schema.drop());

  describeEventStoreConformance("PostgreSQL (node-postgres)", async () => new PostgresEventStore(schema.sql, { pollIntervalMs: 50 }));

  itWakesSubscribersOnNotify(() => schema.sql);
  itLingersAfterAWakeUp(() => schema.sql);

  const metadata = { correlationId: "c", causationId: null, department: "TEST" };
  /** A store whose every statement is recorded, to count round trips. */
  const countingStore = () => {
    const queries: string[] = [];
    const counting = {
      ...schema.sql,
      query: ((text: string, params?: unknown[]) => (queries.push(text), schema.sql.query(text, params))) as typeof schema.sql.query,
    };
    return { store: new PostgresEventStore(counting, { pollIntervalMs: 50 }), queries };
  };

  it("reads concurrent whole streams in shared statements", async () => {
    const { store, queries } = countingStore();
    const streams = Array.from({ length: 20 }, (_, i) => `grouped-read-${Date.now()}-${i}`);
    await Promise.all(streams.map((s) => store.append(s, [{ type: "E", data: { s }, metadata }], "no_stream")));
    queries.length = 0;
    const reads = await Promise.all(streams.map((s) => store.readStream(s)));
    expect(reads.map((r) => r[0]!.data)).toEqual(streams.map((s) => ({ s })));
    // The first read alone, the other 19 together (the appends' NOTIFYs aside).
    expect(queries.filter((q) => q.includes("from events")).length).toBeLessThanOrEqual(2);
  });

  it("appendManyWith: every kind of expectation in one statement, events in batch order; a conflict names its stream and writes nothing", async () => {
    const store = new PostgresEventStore(schema.sql);
    const run = `many-${Date.now()}`;
    const e = (n: number) => ({ type: "E", data: { n }, metadata });
    await store.append(`${run}-exact`, [e(0), e(1)], "no_stream");
    await store.append(`${run}-exists`, [e(0)], "no_stream");
    await store.append(`${run}-any-old`, [e(0)], "no_stream");
    const results = await store.appendManyWith(schema.sql, [
      { stream: `${run}-new`, events: [e(1), e(2)], expectedRevision: "no_stream" },
      { stream: `${run}-exact`, events: [e(3)], expectedRevision: 1n },
      { stream: `${run}-exists`, events: [e(4)], expectedRevision: "stream_exists" },
      { stream: `${run}-any-old`, events: [e(5), e(6)], expectedRevision: "any" },
      { stream: `${run}-any-new`, events: [e(7)], expectedRevision: "any" },
    ]);
    expect(results.map((r) => r.nextExpectedRevision)).toEqual([1n, 2n, 1n, 2n, 0n]);
    const positions = results.map((r) => r.position.prepare);
    expect([...positions].sort((a, b) => (a < b ? -1 : 1))).toEqual(positions); // batch order is log order
    expect(new Set(results.map((r) => r.position.commit)).size).toBe(1); // one transaction
    const read = async (suffix: string) =>
      (await store.readStream(`${run}-${suffix}`)).map((x) => [x.revision, (x.data as { n: number }).n]);
    expect(await read("new")).toEqual([
      [0n, 1],
      [1n, 2],
    ]);
    expect(await read("exact")).toEqual([
      [0n, 0],
      [1n, 1],
      [2n, 3],
    ]);
    expect(await read("any-old")).toEqual([
      [0n, 0],
      [1n, 5],
      [2n, 6],
    ]);

    // The second and third conflict: the second is named, with its actual revision; nothing of the batch is stored.
    const failed = store.appendManyWith(schema.sql, [
      { stream: `${run}-later`, events: [e(8)], expectedRevision: "no_stream" },
      { stream: `${run}-exact`, events: [e(9)], expectedRevision: 1n },
      { stream: `${run}-new`, events: [e(9)], expectedRevision: "no_stream" },
    ]);
    await expect(failed).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(failed).rejects.toMatchObject({ stream: `${run}-exact`, expected: 1n, actual: 2n });
    await expect(
      store.appendManyWith(schema.sql, [
        { stream: `${run}-nothing`, events: [e(1)], expectedRevision: "stream_exists" },
        { stream: `${run}-x`, events: [e(1)], expectedRevision: "no_stream" },
      ]),
    ).rejects.toMatchObject({ stream: `${run}-nothing`, actual: "no_stream" });
    expect(await read("later")).toEqual([]);
    expect(await read("x")).toEqual([]);
    expect(await read("exact")).toHaveLength(3);
  });

  it("tryAppendManyWithin: inside a transaction, a conflict is an answer (undefined) and the transaction goes on", async () => {
    const store = new PostgresEventStore(schema.sql);
    const run = `within-${Date.now()}`;
    const e = (n: number) => ({ type: "E", data: { n }, metadata });
    await store.append(`${run}-taken`, [e(0)], "no_stream");
    const outcome = await schema.sql.transaction(async (tx) => {
      const refused = await store.tryAppendManyWithin(tx, [
        { stream: `${run}-a`, events: [e(1)], expectedRevision: "no_stream" },
        { stream: `${run}-taken`, events: [e(2)], expectedRevision: "no_stream" },
      ]);
      const accepted = await store.tryAppendManyWithin(tx, [
        { stream: `${run}-a`, events: [e(3)], expectedRevision: "no_stream" },
        { stream: `${run}-taken`, events: [e(4)], expectedRevision: 0n },
      ]);
      return { refused, accepted };
    });
    expect(outcome.refused).toBeUndefined();
    expect(outcome.accepted?.map((r) => r.nextExpectedRevision)).toEqual([0n, 1n]);
    expect((await store.readStream(`${run}-a`)).map((x) => x.data)).toEqual([{ n: 3 }]);
    expect((await store.readStream(`${run}-taken`)).map((x) => x.data)).toEqual([{ n: 0 }, { n: 4 }]);
  });

  it("group-commits concurrent appends: shared statements, and a conflicting one refused alone", async () => {
    const { store, queries } = countingStore();
    const streams = Array.from({ length: 20 }, (_, i) => `grouped-append-${Date.now()}-${i}`);
    await store.append(streams[3]!, [{ type: "E", data: {}, metadata }], "no_stream");
    queries.length = 0;
    const outcomes = await Promise.allSettled(streams.map((s) => store.append(s, [{ type: "E", data: { s }, metadata }], "no_stream")));
    expect(outcomes.map((o) => o.status)).toEqual(streams.map((_, i) => (i === 3 ? "rejected" : "fulfilled")));
    expect((outcomes[3] as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyError);
    const reads = await Promise.all(streams.map((s) => store.readStream(s)));
    expect(reads.map((r) => r.length)).toEqual(streams.map(() => 1));
    // Without a conflict the group is one statement.
    const fresh = Array.from({ length: 20 }, (_, i) => `grouped-append-ok-${Date.now()}-${i}`);
    queries.length = 0;
    await Promise.all(fresh.map((s) => store.append(s, [{ type: "E", data: {}, metadata }], "no_stream")));
    expect(queries.filter((q) => q.includes("shenguan_append")).length).toBeLessThanOrEqual(2);
  });

  it("appends find their streams by key, whatever the planner knew when the connection first appended", async () => {
    // A long-lived connection keeps the append function's plan. Made while the
    // table was empty and never analyzed (young tables; autovacuum off), it was
    // a hash join over a scan of every stream: at 600 grants/s the loop bench
    // read 420,000 stream rows a second for appends of a few streams each.
    const own = await createTestSchema(1);
    try {
      const store = new PostgresEventStore(own.sql);
      await store.migrate();
      const e = (n: number) => ({ type: "E", data: { n }, metadata });
      await store.appendManyWith(
        own.sql,
        [0, 1, 2].map((i) => ({ stream: `s-${i}`, events: [e(0)], expectedRevision: "no_stream" as const })),
      );
      // Then batches of new streams while the table is still under ten pages: the connection's generic
      // plan (from its sixth call) was made at ~1,000 streams, where a walk of the whole key looked
      // cheaper than ~100 guessed probes (migration 9; without it this test read every stream).
      for (let b = 0; b < 6; b++) {
        await store.appendManyWith(
          own.sql,
          Array.from({ length: 200 }, (_, i) => ({ stream: `young-${b}-${i}`, events: [e(0)], expectedRevision: "no_stream" as const })),
        );
      }
      for (let r = 0; r < 8; r++) {
        await store.appendManyWith(
          own.sql,
          [0, 1, 2].map((i) => ({ stream: `s-${i}`, events: [e(r + 1)], expectedRevision: BigInt(r) })),
        );
      }
      await own.sql.query(`insert into streams (stream_name, revision) select 'bulk-' || g, 0 from generate_series(1, 20000) g`);
      const read = await own.sql.transaction(async (tx) => {
        // The backend's counters not yet reported (inside a transaction nothing is reported): a difference.
        const counters = async () => {
          const { rows } = await tx.query<{ seq_scan: string; idx_tup_fetch: string }>(
            `select seq_scan::text, coalesce(idx_tup_fetch, 0)::text as idx_tup_fetch
             from pg_stat_xact_user_tables where schemaname = current_schema() and relname = 'streams'`,
          );
          return { seqScans: Number(rows[0]!.seq_scan), rowsByIndex: Number(rows[0]!.idx_tup_fetch) };
        };
        const before = await counters();
        await store.appendManyWith(
          tx,
          [0, 1, 2].map((i) => ({ stream: `s-${i}`, events: [e(9)], expectedRevision: 8n })),
        );
        const after = await counters();
        return { seqScans: after.seqScans - before.seqScans, rowsByIndex: after.rowsByIndex - before.rowsByIndex };
      });
      // No scan of the table, and no walk of its whole index either: a probe per stream.
      expect(read.seqScans).toBe(0);
      expect(read.rowsByIndex).toBeLessThan(20);
      expect((await store.readStream("s-2")).map((x) => x.data)).toEqual(Array.from({ length: 10 }, (_, n) => ({ n })));
    } finally {
      await own.drop();
    }
  });

  it("an append finds each stream's last position in one pass, however many streams its batch holds", async () => {
    // Migration 7's function took each stream's last position from a subquery
    // over every row the batch inserted, run once per stream: quadratic in the
    // batch (at 2,000 streams 428 of the call's 467 ms). auto_explain, sent to
    // this connection as notices, shows how often each CTE was read.
    const rescans = async (upTo?: number) => {
      const own = await createTestSchema(1);
      const pool = own.newPool(1);
      const client = await pool.connect();
      try {
        await migrate(own.sql, upTo === undefined ? {} : { upTo });
        const plans: PlanNode[] = [];
        client.on("notice", (n) => {
          const at = n.message?.indexOf("{") ?? -1;
          if (n.message?.startsWith("duration") && at >= 0) plans.push(JSON.parse(n.message.slice(at)) as PlanNode);
        });
        for (const setting of [
          "load 'auto_explain'",
          "set auto_explain.log_min_duration = 0",
          "set auto_explain.log_analyze = on",
          "set auto_explain.log_timing = off",
          "set auto_explain.log_nested_statements = on",
          "set auto_explain.log_format = json",
          "set auto_explain.log_level = notice",
        ])
          await client.query(setting);
        const streams = Array.from({ length: 300 }, (_, i) => `batch-${i}`);
        const results = await new PostgresEventStore(own.sql).appendManyWith(
          { query: (text, params) => client.query(text, params as unknown[]) as never },
          streams.map((stream, i) => ({ stream, events: [{ type: "E", data: { i }, metadata }], expectedRevision: "no_stream" as const })),
        );
        await client.query("set auto_explain.log_min_duration = -1");
        // Each stream's own last position, in the batch's order.
        const { rows } = await client.query<{ stream_name: string; global_position: string }>(
          "select stream_name, global_position::text from events order by global_position",
        );
        const positions = new Map(rows.map((r) => [r.stream_name, BigInt(r.global_position)]));
        expect(results.map((r) => r.position.prepare)).toEqual(streams.map((s) => positions.get(s)));
        const append = plans.find((p) => p["Query Text"]?.trimStart().startsWith("with items as materialized"));
        expect(append, "auto_explain showed the append's statement").toBeDefined();
        const loops = (node: PlanNode): number[] => [
          ...(node["Node Type"] === "CTE Scan" ? [node["Actual Loops"] ?? 0] : []),
          ...(node.Plans ?? []).flatMap(loops),
        ];
        return Math.max(...loops(append!.Plan!));
      } finally {
        client.release();
        await pool.end();
        await own.drop();
      }
    };
    expect(await rescans(9)).toBe(300);
    expect(await rescans()).toBe(1);
  });

  it("migrate() is idempotent and safe to run concurrently", async () => {
    await Promise.all([1, 2, 3].map(() => new PostgresEventStore(schema.sql).migrate()));
    const { rows } = await schema.sql.query<{ version: number }>("select version from shenguan_migrations");
    expect(rows.map((r) => r.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("upgrades a version-1 database in place: events appended before keep their time, new ones take the appender's", async () => {
    const old = await createTestSchema(2);
    try {
      const store = new PostgresEventStore(old.sql);
      await migrate(old.sql, { upTo: 1 });
      const metadata = { correlationId: "c", causationId: null, department: "TEST" };
      await store.append("s", [{ type: "Before", data: {}, metadata }], "no_stream");
      const [before] = await store.readStream("s");
      await store.migrate();
      const time = new Date("2026-01-02T03:04:05.678Z");
      await store.append("s", [{ type: "After", data: {}, metadata, time }], 0n);
      const read = await store.readStream("s");
      expect(read.map((e) => e.time.toISOString())).toEqual([before!.time.toISOString(), time.toISOString()]);
    } finally {
      await old.drop();
    }
  });
} else {
  // Never a skip: in CI the database is part of the environment and its absence is a failure.
  it(`PostgreSQL conformance not run: ${unavailableMessage}`, () => {
    expect(process.env.CI, unavailableMessage).not.toBe("true");
  });
}

it("reports an unreachable server as StoreUnavailableError", async () => {
  const sql = pgExecutor(new pg.Pool({ connectionString: "postgres://postgres@127.0.0.1:1/none", connectionTimeoutMillis: 2_000 }));
  const store = new PostgresEventStore(sql);
  const metadata = { correlationId: "c", causationId: null, department: "TEST" };
  await expect(store.append("s", [{ type: "T", data: {}, metadata }], "any")).rejects.toBeInstanceOf(StoreUnavailableError);
  await expect(store.readAll()).rejects.toBeInstanceOf(StoreUnavailableError);
  await sql.close();
});

/** A node of a plan as auto_explain's JSON format gives it (the keys this file reads). */
interface PlanNode {
  readonly "Query Text"?: string;
  readonly Plan?: PlanNode;
  readonly "Node Type"?: string;
  readonly "Actual Loops"?: number;
  readonly Plans?: readonly PlanNode[];
}
