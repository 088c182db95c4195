import type { SqlExecutor, SqlQueryable, WithQueries } from "../postgres/executor.js";

export type { WithQueries };

/**
 * The consumer's bookkeeping, next to the read models it guards:
 * - consumer_offsets: per partition, the next offset to apply. The DB, not
 *   Kafka's committed offsets, is where a consumer resumes, and it moves in
 *   the same transaction as the read model, hence exactly-once effects.
 * - consumer_inbox: the ce_ids a consumer applied, so an event published
 *   twice (the relay is at-least-once) is applied once.
 * Run before first use; idempotent and safe from several processes at once.
 */
export async function migrateConsumerTables(db: SqlExecutor): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(`select pg_advisory_xact_lock(hashtext('shenguan_consumer_tables'))`);
    await tx.query(
      `create table if not exists consumer_offsets (
         consumer text not null,
         topic text not null,
         partition int not null,
         next_offset bigint not null,
         updated_at timestamptz not null default now(),
         primary key (consumer, topic, partition)
       )`,
    );
    await tx.query(
      `create table if not exists consumer_inbox (
         consumer text not null,
         ce_id text not null,
         topic text not null,
         partition int not null,
         "offset" bigint not null,
         applied_at timestamptz not null default now(),
         primary key (consumer, ce_id)
       )`,
    );
  });
}

/** The next offset `consumer` has to apply on the partition; undefined when it never applied one. */
export async function storedOffset(db: SqlQueryable, consumer: string, topic: string, partition: number): Promise<string | undefined> {
  const { rows } = await db.query<{ next_offset: string }>(
    `select next_offset::text as next_offset from consumer_offsets where consumer = $1 and topic = $2 and partition = $3`,
    [consumer, topic, partition],
  );
  return rows[0]?.next_offset;
}

/**
 * Moves the partition's position past `offset`. Never backwards: a consumer
 * that lost its partition in a rebalance but still finishes its batch cannot
 * undo the new owner's progress.
 */
export async function storeOffset(db: SqlQueryable, consumer: string, topic: string, partition: number, offset: string): Promise<void> {
  await db.query(STORE_OFFSET, [consumer, topic, partition, offset]);
}

/** An offset upsert's conflict branch: a partition's position only moves forward (see storeOffset). */
const OFFSET_FORWARD = `on conflict (consumer, topic, partition) do update
       set next_offset = greatest(consumer_offsets.next_offset, excluded.next_offset), updated_at = now()`;

/** A partition's position to store: past `offset`. */
export interface OffsetToStore {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/** storeOffset for several partitions in one statement (in one order, so that two of these never wait on each other). */
export async function storeOffsets(db: SqlQueryable, consumer: string, offsets: readonly OffsetToStore[]): Promise<void> {
  if (offsets.length === 0) return;
  const sorted = [...offsets].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
  await db.query(
    `insert into consumer_offsets (consumer, topic, partition, next_offset)
     select $1, o.topic, o.part, o.last + 1 from unnest($2::text[], $3::int[], $4::bigint[]) as o(topic, part, last)
     ${OFFSET_FORWARD}`,
    [consumer, sorted.map((o) => o.topic), sorted.map((o) => o.partition), sorted.map((o) => o.offset)],
  );
}

/** A statement's parameter `$<first + i - 1>`: the bookkeeping's SQL numbers its own parameters from 1. */
const numbered = (first: number) => (i: number) => `$${first + i - 1}`;

/** The offset upsert over (consumer, topic, partition, offset) as parameters 1 to 4 of `p`. */
const storeOffsetSql = (
  p: (i: number) => string,
) => `insert into consumer_offsets (consumer, topic, partition, next_offset) values (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}::bigint + 1)
     ${OFFSET_FORWARD}`;
const STORE_OFFSET = storeOffsetSql(numbered(1));

/** The claims over (consumer, topic, partition, ce_ids, offsets) as parameters 1 to 5 of `p`; its rows are the ce_ids claimed now. */
const claimSql = (p: (i: number) => string) => `insert into consumer_inbox (consumer, ce_id, topic, partition, "offset")
     select ${p(1)}, c.ce_id, ${p(2)}, ${p(3)}, c.off from unnest(${p(4)}::text[], ${p(5)}::bigint[]) as c(ce_id, off)
     on conflict (consumer, ce_id) do nothing
     returning ce_id`;
const CLAIM = claimSql(numbered(1));

/** The WITH query of the offset's upsert (claimAndStoreOffsetQueries). */
const OFFSET_STORED = "shenguan_offset_stored";

/**
 * The claims and the offset (parameter 6) as WITH queries; `claimed` names
 * the claims. A data-modifying WITH runs to completion whether or not the
 * query reads it; each returns rows, so a statement may also read it first.
 */
const claimAndStoreOffsetQueries = (p: (i: number) => string, claimed: string) =>
  `${OFFSET_STORED} as (${storeOffsetSql((i) => p(i === 4 ? 6 : i))} returning next_offset), ${claimed} as (${claimSql(p)})`;
const CLAIM_AND_STORE_OFFSET = `with ${claimAndStoreOffsetQueries(numbered(1), "claimed")} select ce_id from claimed`;

/**
 * claimInboxMany with the offset, as WITH queries whose parameters start at
 * `firstParam`, for a statement that also writes the chunk's read model (one
 * round trip for both). The query named `claimed` lists the ce_ids claimed
 * now (column ce_id); `written` names both queries (each returns rows).
 */
export function claimAndStoreOffsetWith(
  consumer: string,
  topic: string,
  partition: number,
  claims: ReadonlyArray<{ readonly ceId: string; readonly offset: string }>,
  storeOffsetOf: string,
  claimed: string,
  firstParam: number,
): WithQueries & { readonly written: readonly string[] } {
  return {
    // The claims first, as the consumer's own statements take them (one lock order for the inbox and the offset row).
    written: [claimed, OFFSET_STORED],
    with: claimAndStoreOffsetQueries(numbered(firstParam), claimed),
    params: [consumer, topic, partition, claims.map((c) => c.ceId), claims.map((c) => c.offset), storeOffsetOf],
  };
}

/**
 * Records that `consumer` applies the ce_ids of a chunk of one partition, in
 * one statement: the ce_ids that were new (claimed now), which may be applied;
 * the others were applied before and must not be again. A ce_id repeated
 * within `claims` is claimed once. Concurrent claims of one ce_id queue on
 * the primary key: the second waits for the first transaction and then sees
 * the conflict. With `storeOffsetOf`, the same statement also moves the
 * partition's position past that offset (storeOffset): one round trip for a
 * chunk's bookkeeping instead of two.
 */
export async function claimInboxMany(
  db: SqlQueryable,
  consumer: string,
  topic: string,
  partition: number,
  claims: ReadonlyArray<{ readonly ceId: string; readonly offset: string }>,
  storeOffsetOf?: string,
): Promise<Set<string>> {
  if (claims.length === 0) {
    if (storeOffsetOf !== undefined) await storeOffset(db, consumer, topic, partition, storeOffsetOf);
    return new Set();
  }
  const params = [consumer, topic, partition, claims.map((c) => c.ceId), claims.map((c) => c.offset)];
  const { rows } = await db.query<{ ce_id: string }>(
    storeOffsetOf === undefined ? CLAIM : CLAIM_AND_STORE_OFFSET,
    storeOffsetOf === undefined ? params : [...params, storeOffsetOf],
  );
  return new Set(rows.map((r) => r.ce_id));
}

// One probe of the key per ce_id, in a nested loop over them. Written as
// `consumer = $1 and ce_id = any($2)`, PostgreSQL judged a chunk of 160 ids
// or more dearer than a walk of the consumer's whole part of the key (the
// table never analyzed, its estimate a few hundred rows a consumer) and read
// every row the consumer ever applied, filtering on ce_id: in the loop bench
// supervision-incoming's look-up took 10 ms at 60,000 rows, and it grew with
// the log. A plain join of the ids with the table can be planned the same
// way (a hash join over that walk); a lateral subquery with a limit cannot be
// flattened into a join, so each id is looked up on its own.
const INBOXED = `select i.ce_id from unnest($2::text[]) as c(id)
  cross join lateral (select ce_id from consumer_inbox where consumer = $1 and ce_id = c.id limit 1) i`;

/** Which of `ceIds` `consumer` already applied: one query for a reactor's chunk. */
export async function inboxed(db: SqlQueryable, consumer: string, ceIds: readonly string[]): Promise<Set<string>> {
  const { rows } = await db.query<{ ce_id: string }>(INBOXED, [consumer, ceIds]);
  return new Set(rows.map((r) => r.ce_id));
}

/**
 * Forgets everything `consumer` applied, so that it replays its topics from
 * the beginning on its next start. Call it with the consumer stopped, in the
 * transaction that truncates the consumer's read model.
 */
export async function rebuildProjection(tx: SqlQueryable, consumer: string): Promise<void> {
  await tx.query(`delete from consumer_offsets where consumer = $1`, [consumer]);
  await tx.query(`delete from consumer_inbox where consumer = $1`, [consumer]);
}

/**
 * A projection rebuilt from its topics: its read model's `tables` emptied and
 * everything `consumer` applied forgotten, in one transaction, so that its next
 * start replays every topic from the beginning. Stop the consumer first.
 */
export async function resetProjection(db: SqlExecutor, consumer: string, tables: readonly string[]): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(`truncate ${tables.join(", ")}`);
    // The consumer's tables exist once it ran; before that there is nothing to reset.
    const { rows } = await tx.query<{ n: number }>(
      `select count(*)::int as n from information_schema.tables where table_schema = current_schema() and table_name = 'consumer_offsets'`,
    );
    if (Number(rows[0]?.n ?? 0) > 0) await rebuildProjection(tx, consumer);
  });
}
