import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { comparePositions, type EventMetadata, type LogPosition, type StoredEvent } from "../src/port.js";
import { pgExecutor, PostgresEventStore, type SqlQueryable } from "../src/postgres/index.js";
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
      const slow = new pg.Client({ connectionString: DATABASE_URL, options: `-c search_path=${schema.name}` });
      await slow.connect();
      const slowTx: SqlQueryable = {
        query: async <Row>(sql: string, params: readonly unknown[] = []) => {
          const r = await slow.query(sql, params as unknown[]);
          return { rows: r.rows as Row[], rowCount: r.rowCount ?? 0 };
        },
      };
      await slow.query("begin");
      const slowAppend = await store.appendWith(slowTx, "slow", [event(1)], "no_stream");

      const fast = [];
      for (let i = 0; i < 5; i++) fast.push(await store.append(`fast-${i}`, [event(10 + i)], "no_stream"));
      // The slow event took its sequence number first but has not committed:
      // ordering by position alone would let a reader pass it and never come back.
      for (const f of fast) expect(slowAppend.position.prepare).toBeLessThan(f.position.prepare);

      expect(await store.readStream("fast-4")).toHaveLength(1); // committed and visible...
      expect(await store.readAll({ after: start })).toEqual([]); // ...but not yet in the global log
      await new Promise((r) => setTimeout(r, 300));
      expect(received).toEqual([]);

      await slow.query("commit");
      await slow.end();

      const all = await store.readAll({ after: start });
      expect(all.map((e) => e.stream)).toEqual(["slow", "fast-0", "fast-1", "fast-2", "fast-3", "fast-4"]);
      expectLogOrder(all);

      await waitFor(() => received.length >= 6, "the subscription to deliver all six");
      await new Promise((r) => setTimeout(r, 200));
      await subscription.close();
      expect(received.map((e) => e.id)).toEqual(all.map((e) => e.id));
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
