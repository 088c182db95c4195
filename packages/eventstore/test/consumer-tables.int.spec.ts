import { afterAll, beforeAll, expect, it } from "vitest";
import { claimInboxMany, inboxed, migrateConsumerTables, storedOffset, storeOffsets } from "../src/consumer/tables.js";
import { createTestSchema, postgresReachable, unavailableMessage, type TestSchema } from "./support/postgres.js";

if (await postgresReachable()) {
  let schema: TestSchema;
  beforeAll(async () => {
    schema = await createTestSchema(2);
    await migrateConsumerTables(schema.sql);
  });
  afterAll(() => schema.drop());

  it("inboxed finds a reactor's chunk by key, however many events the consumer applied before", async () => {
    // A consumer with a long history, in a table never analyzed (young tables; autovacuum off).
    await schema.sql.query(
      `insert into consumer_inbox (consumer, ce_id, topic, partition, "offset")
       select c, c || '-' || g, 't', 0, g from generate_series(1, 20000) g, unnest(array['reactor', 'other']) c`,
    );
    await claimInboxMany(schema.sql, "reactor", "t", 0, [{ ceId: "applied-once", offset: "20001" }]);
    // A chunk of 300 ce_ids, two of them applied before: the size at which the
    // planner read all 20,000 of the consumer's rows for `ce_id = any($2)`.
    const chunk = [...Array.from({ length: 298 }, (_, i) => `new-${i}`), "reactor-17", "applied-once"];
    const { seen, read } = await schema.sql.transaction(async (tx) => {
      // The backend's counters not yet reported (inside a transaction nothing is reported): a difference.
      const counters = async () => {
        const { rows } = await tx.query<{ seq_tup_read: string; idx_tup_fetch: string }>(
          `select seq_tup_read::text, coalesce(idx_tup_fetch, 0)::text as idx_tup_fetch
           from pg_stat_xact_user_tables where schemaname = current_schema() and relname = 'consumer_inbox'`,
        );
        return Number(rows[0]!.seq_tup_read) + Number(rows[0]!.idx_tup_fetch);
      };
      const before = await counters();
      const seen = await inboxed(tx, "reactor", chunk);
      return { seen, read: (await counters()) - before };
    });
    expect([...seen].sort()).toEqual(["applied-once", "reactor-17"]);
    // A probe per ce_id: the two found, not the consumer's whole history (20,001 rows without the lateral form).
    expect(read).toBeLessThan(10);
  });

  it("storeOffsets moves several partitions' positions in one statement, never backwards", async () => {
    await storeOffsets(schema.sql, "waiting", [
      { topic: "b", partition: 0, offset: "9" },
      { topic: "a", partition: 1, offset: "4" },
    ]);
    // A late, older offset (another member's, after a rebalance) leaves the later one.
    await storeOffsets(schema.sql, "waiting", [
      { topic: "a", partition: 1, offset: "2" },
      { topic: "b", partition: 0, offset: "11" },
    ]);
    expect(await storedOffset(schema.sql, "waiting", "a", 1)).toBe("5");
    expect(await storedOffset(schema.sql, "waiting", "b", 0)).toBe("12");
  });
} else {
  // Never a skip: in CI the database is part of the environment and its absence is a failure.
  it(`consumer tables not tested: ${unavailableMessage}`, () => {
    expect(process.env.CI, unavailableMessage).not.toBe("true");
  });
}
