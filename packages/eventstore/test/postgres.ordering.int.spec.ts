import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { comparePositions, type EventMetadata, type LogPosition, type StoredEvent } from "../src/port.js";
import { AppendIsolationError } from "../src/errors.js";
import { appendWithin, pgExecutor, PostgresEventStore, type SqlQueryable } from "../src/postgres/index.js";
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
async function openTransaction(schemaName: string, begin = "begin") {
  const client = new pg.Client({ connectionString: DATABASE_URL, options: `-c search_path=${schemaName}` });
  await client.connect();
  const tx: SqlQueryable = {
    query: async <Row>(sql: string, params: readonly unknown[] = []) => {
      const r = await client.query(sql, params as unknown[]);
      return { rows: r.rows as Row[], rowCount: r.rowCount ?? 0 };
    },
  };
  await client.query(begin);
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

    it("passes by an open transaction that wrote elsewhere, then orders its later append after what it passed", async () => {
      await schema.sql.query("create table if not exists ordering_side (i int)");
      const start = (await store.append("bystander-start", [event(0)], "no_stream")).position;
      const { received, subscription } = collect(store, start);
      // A read model's transaction, say: it has a transaction id (its insert) older than the appends below.
      const bystander = await openTransaction(schema.name);
      await bystander.tx.query("insert into ordering_side values (1)");
      const { rows } = await bystander.tx.query<{ xid: string }>("select pg_current_xact_id()::text as xid");
      const fast = [];
      for (let i = 0; i < 3; i++) fast.push(await store.append(`bystander-fast-${i}`, [event(i)], "no_stream"));
      for (const f of fast) expect(BigInt(rows[0]!.xid)).toBeLessThan(f.position.commit);

      // Nobody waits for it while it has not appended.
      expect((await store.readAll({ after: start })).map((e) => e.stream)).toEqual([
        "bystander-fast-0",
        "bystander-fast-1",
        "bystander-fast-2",
      ]);
      await waitFor(() => received.length >= 3, "the subscription to deliver the three it passed by");

      // The case migration 4 had to refuse: an append after other writes, from an id older than what
      // readers have passed. Its place is taken at the append, after all of those.
      const late = await store.appendWith(bystander.tx, "bystander-late", [event(9)], "no_stream");
      for (const f of fast) expect(comparePositions(f.position, late.position)).toBe(-1);
      await store.append("bystander-after", [event(10)], "no_stream"); // held back until the late one ends
      await new Promise((r) => setTimeout(r, 200));
      expect(received).toHaveLength(3);
      await bystander.end("commit");

      const all = await store.readAll({ after: start });
      expect(all.map((e) => e.stream)).toEqual([
        "bystander-fast-0",
        "bystander-fast-1",
        "bystander-fast-2",
        "bystander-late",
        "bystander-after",
      ]);
      expectLogOrder(all);
      await waitFor(() => received.length >= 5, "the subscription to deliver all five");
      await new Promise((r) => setTimeout(r, 200));
      await subscription.close();
      expect(received.map((e) => e.id)).toEqual(all.map((e) => e.id));
    });

    it("waits for an appender from its first append, even when its other writes come after", async () => {
      await schema.sql.query("create table if not exists ordering_side (i int)");
      const start = (await store.append("declared-start", [event(0)], "no_stream")).position;
      const { received, subscription } = collect(store, start);
      const manager = await openTransaction(schema.name);
      await appendWithin(manager.tx, "declared-manager", [event(1)], "no_stream");
      await manager.tx.query("insert into ordering_side values (2)"); // a read model written after its append
      for (let i = 0; i < 3; i++) await store.append(`declared-fast-${i}`, [event(i)], "no_stream");
      expect(await store.readAll({ after: start })).toEqual([]);
      await new Promise((r) => setTimeout(r, 200));
      expect(received).toEqual([]);

      // A second append in the same transaction keeps the first one's place.
      await appendWithin(manager.tx, "declared-manager", [event(2)], 0n);
      await manager.end("commit");
      const all = await store.readAll({ after: start });
      expect(all.map((e) => e.stream)).toEqual([
        "declared-manager",
        "declared-manager",
        "declared-fast-0",
        "declared-fast-1",
        "declared-fast-2",
      ]);
      expectLogOrder(all);
      await waitFor(() => received.length >= 5, "the subscription to deliver all five");
      await subscription.close();
      expect(received.map((e) => e.id)).toEqual(all.map((e) => e.id));
    });

    it("an append rolled back to a savepoint takes a new place with the next one, after what committed meanwhile", async () => {
      const start = (await store.append("savepoint-start", [event(0)], "no_stream")).position;
      const writer = await openTransaction(schema.name);
      await writer.tx.query("savepoint s");
      const undone = await store.appendWith(writer.tx, "savepoint-undone", [event(1)], "no_stream");
      await writer.tx.query("rollback to savepoint s");
      const between = await store.append("savepoint-between", [event(2)], "no_stream");
      expect(comparePositions(undone.position, between.position)).toBe(-1);
      // Its lock went with the savepoint: nothing holds readers back now.
      expect((await store.readAll({ after: start })).map((e) => e.stream)).toEqual(["savepoint-between"]);
      const kept = await store.appendWith(writer.tx, "savepoint-kept", [event(3)], "no_stream");
      expect(comparePositions(between.position, kept.position)).toBe(-1);
      await writer.end("commit");
      expect((await store.readAll({ after: start })).map((e) => e.stream)).toEqual(["savepoint-between", "savepoint-kept"]);
    });

    it("refuses to append under REPEATABLE READ or SERIALIZABLE, whose snapshot cannot place the events", async () => {
      for (const level of ["repeatable read", "serializable"]) {
        const tx = await openTransaction(schema.name, `begin isolation level ${level}`);
        const refusal = store.appendWith(tx.tx, `isolation-${level.replace(" ", "-")}`, [event(1)], "no_stream");
        await expect(refusal).rejects.toBeInstanceOf(AppendIsolationError);
        await expect(refusal).rejects.toThrow(/needs READ COMMITTED isolation, this transaction is (repeatable read|serializable)/);
        await tx.end("rollback");
      }
      expect(await store.readStream("isolation-repeatable-read")).toEqual([]);
    });

    it.each([
      ["each append on its own", false],
      ["half of them writing another table first, appending last in their transactions", true],
    ])("16 concurrent writers (%s): a live subscriber sees every event exactly once, streams in revision order", async (_, writeFirst) => {
      const writers = 16;
      const appendsPerWriter = 250;
      const start = (await store.append(`stress-start-${writeFirst}`, [event(0)], "no_stream")).position;
      const { received, subscription } = collect(store, start);
      await schema.sql.query("create table if not exists ordering_side (i int)");

      const writerPool = new pg.Pool({ connectionString: DATABASE_URL, max: writers, options: `-c search_path=${schema.name}` });
      const writerExecutor = pgExecutor(writerPool);
      const writerStore = new PostgresEventStore(writerExecutor);
      let expected = 0;
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          let revision: bigint | "no_stream" = "no_stream";
          for (let i = 0; i < appendsPerWriter; i++) {
            // Every third append carries two events, so multi-event transactions are in the mix.
            const batch = i % 3 === 0 ? [event(i), event(i)] : [event(i)];
            expected += batch.length;
            const stream = `stress-${writeFirst}-${w}`;
            revision =
              writeFirst && w % 2 === 0
                ? // A process manager's shape: its transaction id comes from the read model, well before its append.
                  (
                    await writerExecutor.transaction(async (tx) => {
                      await tx.query("insert into ordering_side values ($1)", [i]);
                      await tx.query("select pg_sleep(0.001)");
                      return writerStore.appendWith(tx, stream, batch, revision);
                    })
                  ).nextExpectedRevision
                : (await writerStore.append(stream, batch, revision)).nextExpectedRevision;
          }
        }),
      );
      await writerPool.end();

      await waitFor(() => received.length >= expected, `${expected} events`).catch(async (err: Error) => {
        // What the log holds that the subscriber never got, next to what it got last.
        const all = await store.readAll({ after: start, maxCount: 100_000 });
        const got = new Set(received.map((e) => e.id));
        const at = (e: StoredEvent) => `${e.stream}@${e.position.commit}/${e.position.prepare}`;
        const missing = all
          .filter((e) => !got.has(e.id))
          .slice(0, 5)
          .map(at);
        throw new Error(
          `${err.message}: got ${received.length}, the log has ${all.length}; missing ${missing.join(" ")}; last got ${received.slice(-3).map(at).join(" ")}`,
        );
      });
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
