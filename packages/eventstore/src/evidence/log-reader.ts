/**
 * Reads of the log for verification only. readAll maps every row to a
 * StoredEvent (bigints, a position object); a verifier needs less: the
 * fields of the canonical bytes, the evidence, and the position as the
 * `commit/prepare` text the seals name. On the PostgreSQL/PGlite store these
 * come from lean queries, the next page requested before the current one is
 * checked so the database and the verifier work at the same time; on other
 * stores they come from readAll.
 */
import { chainLinkOf, type LoggedEvent } from "@shenguan/evidence";
import { comparePositions, formatPosition, parsePosition, type EventStore, type LogPosition, type StoredEvent } from "../port.js";
import type { SqlQueryable } from "../postgres/executor.js";
import { PostgresEventStore } from "../postgres/postgres-event-store.js";
import { EvidenceStore } from "./evidence-store.js";

/** An event as the verifier reads it: revision as decimal text, position as `commit/prepare`. */
export interface VerifiedRow extends LoggedEvent {
  readonly revision: string;
  readonly position: string;
}

/** One event's Merkle leaf: its position and its stored chain hash (undefined when it has no chain link). */
export interface LeafRow {
  readonly position: string;
  readonly hash: string | undefined;
}

export interface LogReadOptions {
  /** Start after this position (exclusive). */
  readonly after?: LogPosition;
  /** Events per query (default 10 000). */
  readonly pageSize?: number;
}

/** The PostgreSQL/PGlite executor under `store` (through an EvidenceStore), if it is one. */
export function sqlOf(store: EventStore): SqlQueryable | undefined {
  let inner: EventStore = store;
  while (inner instanceof EvidenceStore) inner = inner.inner;
  return inner instanceof PostgresEventStore ? inner.executor : undefined;
}

interface LeanRow {
  id: string;
  type: string;
  stream_name: string;
  revision: string;
  position: string;
  created_at: Date;
  data: unknown;
  metadata: object;
}

// The same order and the same visibility rule as readAll (see READ_ALL in the PostgreSQL store):
// only transactions below the log horizon, so a verifier never overtakes a slow appender.
// Revision and position come back as text: the verifier compares and prints them, never counts with them.
const READ_LOG = `select event_id as id, type, stream_name, revision::text as revision,
    transaction_id::text || '/' || global_position::text as position, created_at, data, metadata
  from events
  where (transaction_id, global_position) > ($1::xid8, $2::bigint)
    and transaction_id < (select shenguan_log_horizon())
  order by transaction_id, global_position
  limit $3`;

// Only the leaf of each event (the chain hash inside metadata), between two positions inclusive.
const READ_LEAVES = `select transaction_id::text || '/' || global_position::text as position,
    metadata->'evidence'->'chain'->>'hash' as hash
  from events
  where (transaction_id, global_position) >= ($1::xid8, $2::bigint)
    and (transaction_id, global_position) <= ($3::xid8, $4::bigint)
  order by transaction_id, global_position`;

function leanEvent(row: LeanRow): VerifiedRow {
  return {
    id: row.id,
    type: row.type,
    stream: row.stream_name,
    revision: row.revision,
    time: row.created_at,
    data: row.data,
    metadata: row.metadata,
    position: row.position,
  };
}

function storedEvent(e: StoredEvent): VerifiedRow {
  return { id: e.id, type: e.type, stream: e.stream, revision: e.revision.toString(), time: e.time, data: e.data, metadata: e.metadata, position: formatPosition(e.position) };
}

/**
 * The global log in order, page by page. Each page is a whole query result; the
 * query for the next page is already running while the caller checks this one.
 */
export async function* readLogPages(store: EventStore, options: LogReadOptions = {}): AsyncGenerator<VerifiedRow[]> {
  const pageSize = options.pageSize ?? 10_000;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw new RangeError(`pageSize: must be a positive integer, got ${pageSize}`);
  const sql = sqlOf(store);
  const read = (after: LogPosition | undefined): Promise<VerifiedRow[]> =>
    sql === undefined
      ? store.readAll({ ...(after === undefined ? {} : { after }), maxCount: pageSize }).then((page) => page.map(storedEvent))
      : sql
          .query<LeanRow>(READ_LOG, [(after?.commit ?? 0n).toString(), (after?.prepare ?? 0n).toString(), pageSize])
          .then(({ rows }) => rows.map(leanEvent));
  let next: Promise<VerifiedRow[]> | undefined = read(options.after);
  try {
    while (next !== undefined) {
      const page: VerifiedRow[] = await next;
      next = page.length < pageSize ? undefined : read(parsePosition(page[page.length - 1]!.position));
      // Handled when awaited above; a caller that stops early must not leave it unhandled.
      next?.catch(() => undefined);
      if (page.length > 0) yield page;
    }
  } finally {
    await next?.catch(() => undefined);
  }
}

/**
 * The Merkle leaves of the events from `first` to `last` (positions,
 * inclusive), in log order: what a block seal's root is computed over. On
 * PostgreSQL/PGlite only the chain hash is read out of the metadata; on
 * other stores the events are read whole.
 */
export async function readLeaves(store: EventStore, first: LogPosition, last: LogPosition): Promise<LeafRow[]> {
  const sql = sqlOf(store);
  if (sql !== undefined) {
    const { rows } = await sql.query<{ position: string; hash: string | null }>(READ_LEAVES, [
      first.commit.toString(),
      first.prepare.toString(),
      last.commit.toString(),
      last.prepare.toString(),
    ]);
    return rows.map((r) => ({ position: r.position, hash: r.hash ?? undefined }));
  }
  // readAll starts after a position, and the one before `first` is not known: scan from the start.
  const out: LeafRow[] = [];
  let after: LogPosition | undefined;
  for (;;) {
    const page = await store.readAll({ ...(after === undefined ? {} : { after }), maxCount: 1000 });
    for (const e of page) {
      if (comparePositions(e.position, last) > 0) return out;
      if (comparePositions(e.position, first) >= 0) out.push({ position: formatPosition(e.position), hash: chainLinkOf(e)?.hash });
    }
    if (page.length < 1000) return out;
    after = page[page.length - 1]!.position;
  }
}

/** The global log in order, event by event (readLogPages flattened): what verifyLog reads. */
export async function* readLogForVerification(store: EventStore, options: LogReadOptions = {}): AsyncGenerator<VerifiedRow> {
  for await (const page of readLogPages(store, options)) yield* page;
}
