import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { comparePositions, type EventMetadata, type LogPosition, type StoredEvent } from "../src/port.js";
import { UndeclaredAppendError } from "../src/errors.js";
import { appendWithin, declareAppender, pgExecutor, PostgresEventStore, type SqlQueryable } from "../src/postgres/index.js";
import { createTestSchema, DATABASE_URL, postgresReachable, unavailableMessage, type TestSchema } from "./support/postgres.js";

const metadata: EventMetadata = { correlationId: "ordering", causationId: null, department: "TEST" };
const event = (i: number) => ({ type: "Ordered", data: { i }, metadata });

function collect(store: PostgresEventStore, after: LogPosition) {
  const received: StoredEvent[] = [];
  const subscription = store.subscribeToAll(async (batch) => void received.push(...batch), { after, batchSize: 100 });
  return { received, subscription };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function expectLogOrder(events: readonly StoredEvent[]) {
  for (let i = 1; i < events.length; i++) expect(comparePositions(events[i - 1]!.position, events[i]!.position)).toBe(-1);
}

/** A transaction of its own on a dedicated connection, kept open until `end`. */
async function openTransaction(schemaName: string) {
  const client = new pg.Client({ connectionString: DATABASE_URL, options: `-c search_path=${schemaName}` });
  await client.connect();
  const tx: SqlQueryable = {
    query: async <Row>(sql: string, params: readonly unknown[] = []) => {
      const r = await client.query(sql, params as unknown[]);
      return { rows: r.rows as Row[], rowCount: r.rowCount ?? 0 };
    },
  };
  await client.query("begin");
  return {
    tx,
    async end(how: "commit" | "rollback") {
      await client.query(how);
      await client.end();
    },
  };
}

if (await postgresReachable()) {
  describe("PostgreSQL global order", () => {
    let schema: TestSchema;
    let store: PostgresEventStore;
    beforeAll(async () => {
      schema = await createTestSchema();
      store = new PostgresEventStore(schema.sql, { pollIntervalMs: 50 });
      await store.migrate();
    });
    afterAll(async () => {
      await store.close();
      await schema.drop();
    });

    it("holds back transactions that commit after an older, still open one, then delivers all once, in order", async () => {
      const start = (await store.append("ordering-start", [event(0)], "no_stream")).position;
      const { received, subscription } = collect(store, start);

      // The slow writer runs the adapter's own append statement inside a
      // transaction it keeps open on a dedicated connection.
      const slow = await openTransaction(schema.name);
      const slowAppend = await store.appendWith(slow.tx, "slow", [event(1)], "no_stream");

      const fast = [];
      for (let i = 0; i < 5; i++) fast.push(await store.append(`fast-${i}`, [event(10 + i)], "no_stream"));
      // The slow event took its sequence number first but has not committed:
      // ordering by position alone would let a reader pass it and never come back.
      for (const f of fast) expect(slowAppend.position.prepare).toBeLessThan(f.position.prepare);

      expect(await store.readStream("fast-4")).toHaveLength(1); // committed and visible...
      expect(await store.readAll({ after: start })).toEqual([]); // ...but not yet in the global log
      await new Promise((r) => setTimeout(r, 300));
      expect(received).toEqual([]);

      await slow.end("commit");

      const all = await store.readAll({ after: start });
      expect(all.map((e) => e.stream)).toEqual(["slow", "fast-0", "fast-1", "fast-2", "fast-3", "fast-4"]);
      expectLogOrder(all);

      await waitFor(() => received.length >= 6, "the subscription to deliver all six");
      await new Promise((r) => setTimeout(r, 200));
      await subscription.close();
      expect(received.map((e) => e.id)).toEqual(all.map((e) => e.id));
    });

    it("passes by an open transaction that wrote elsewhere and never declared itself an appender", async () => {
      await schema.sql.query("create table if not exists ordering_side (i int)");
      const start = (await store.append("bystander-start", [event(0)], "no_stream")).position;
      // A read model's transaction, say: it has a transaction id (its insert) older than the appends below.
      const bystander = await openTransaction(schema.name);
      await bystander.tx.query("insert into ordering_side values (1)");
      const { rows } = await bystander.tx.query<{ xid: string }>("select pg_current_xact_id()::text as xid");
      const fast = [];
      for (let i = 0; i < 3; i++) fast.push(await store.append(`bystander-fast-${i}`, [event(i)], "no_stream"));
      for (const f of fast) expect(BigInt(rows[0]!.xid)).toBeLessThan(f.position.commit);

      const all = await store.readAll({ after: start });
      expect(all.map((e) => e.stream)).toEqual(["bystander-fast-0", "bystander-fast-1", "bystander-fast-2"]);
      // It may still commit, and append nothing: nobody was waiting for it.
      await expect(store.appendWith(bystander.tx, "bystander-late", [event(9)], "no_stream")).rejects.toBeInstanceOf(UndeclaredAppendError);
      await bystander.end("rollback");
    });

    it("waits for a transaction that declared itself an appender before its first write, then gives its events first", async () => {
      await schema.sql.query("create table if not exists ordering_side (i int)");
      const start = (await store.append("declared-start", [event(0)], "no_stream")).position;
      const { received, subscription } = collect(store, start);
      const manager = await openTransaction(schema.name);
      await declareAppender(manager.tx);
      await manager.tx.query("insert into ordering_side values (2)"); // its transaction id, before the fast appends'
      for (let i = 0; i < 3; i++) await store.append(`declared-fast-${i}`, [event(i)], "no_stream");
      expect(await store.readAll({ after: start })).toEqual([]);
      await new Promise((r) => setTimeout(r, 200));
      expect(received).toEqual([]);

      // Declared once: the append inside the same transaction, after other writes, is accepted.
      await appendWithin(manager.tx, "declared-manager", [event(1)], "no_stream");
      await manager.end("commit");
      const all = await store.readAll({ after: start });
      expect(all.map((e) => e.stream)).toEqual(["declared-manager", "declared-fast-0", "declared-fast-1", "declared-fast-2"]);
      expectLogOrder(all);
      await waitFor(() => received.length >= 4, "the subscription to deliver all four");
      await subscription.close();
      expect(received.map((e) => e.id)).toEqual(all.map((e) => e.id));
    });

    it("refuses to declare, or to append in, a transaction that already wrote something else", async () => {
      await schema.sql.query("create table if not exists ordering_side (i int)");
      for (const attempt of [
        (tx: SqlQueryable) => declareAppender(tx),
        (tx: SqlQueryable) => appendWithin(tx, "undeclared-within", [event(1)], "no_stream"),
        (tx: SqlQueryable) => store.appendWith(tx, "undeclared-with", [event(1)], "no_stream"),
      ]) {
        const late = await openTransaction(schema.name);
        await late.tx.query("insert into ordering_side values (3)");
        const refusal = attempt(late.tx);
        await expect(refusal).rejects.toBeInstanceOf(UndeclaredAppendError);
        await expect(refusal).rejects.toThrow(/shenguan_begin_append\(\) before its first write/);
        await late.end("rollback");
      }
      expect(await store.readStream("undeclared-within")).toEqual([]);
      expect(await store.readStream("undeclared-with")).toEqual([]);
    });

    it("16 concurrent writers: a live subscriber sees every event exactly once, streams in revision order", async () => {
      const writers = 16;
      const appendsPerWriter = 250;
      const start = (await store.append("stress-start", [event(0)], "no_stream")).position;
      const { received, subscription } = collect(store, start);

      const writerPool = new pg.Pool({ connectionString: DATABASE_URL, max: writers, options: `-c search_path=${schema.name}` });
      const writerStore = new PostgresEventStore(pgExecutor(writerPool));
      let expected = 0;
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          let revision: bigint | "no_stream" = "no_stream";
          for (let i = 0; i < appendsPerWriter; i++) {
            // Every third append carries two events, so multi-event transactions are in the mix.
            const batch = i % 3 === 0 ? [event(i), event(i)] : [event(i)];
            expected += batch.length;
            revision = (await writerStore.append(`stress-${w}`, batch, revision)).nextExpectedRevision;
          }
        }),
      );
      await writerPool.end();

      await waitFor(() => received.length >= expected, `${expected} events`);
      await new Promise((r) => setTimeout(r, 300));
      await subscription.close();

      expect(received).toHaveLength(expected);
      expect(new Set(received.map((e) => e.id)).size).toBe(expected);
      expectLogOrder(received);
      const revisions = new Map<string, bigint[]>();
      for (const e of received) revisions.set(e.stream, [...(revisions.get(e.stream) ?? []), e.revision]);
      expect(revisions.size).toBe(writers);
      for (const seen of revisions.values()) expect(seen).toEqual(seen.map((_, i) => BigInt(i)));
      expect(received.map((e) => e.id)).toEqual((await store.readAll({ after: start })).map((e) => e.id));
    });
  });
} else {
  it(`PostgreSQL ordering tests not run: ${unavailableMessage}`, () => {
    expect(process.env.CI, unavailableMessage).not.toBe("true");
  });
}
