import { ConcurrencyError } from "../errors.js";
import type { AppendResult, ExpectedRevision, NewEvent } from "../port.js";
import { runAlongside, type AlongsideAppend } from "./alongside.js";
import { toBigInt, type SqlExecutor, type SqlQueryable } from "./executor.js";
import { PostgresEventStore, type StreamAppend } from "./postgres-event-store.js";

const noConnection = (): never => {
  throw new Error("appendWithin runs SQL only through the caller's transaction");
};

// The store's own appendWith: the same shenguan_append call, the same
// parameters, the same SG001 → ConcurrencyError translation. It runs on the
// queryable it is given, so an instance owning no connection is enough.
const appender = new PostgresEventStore({
  kind: "postgres",
  query: noConnection,
  transaction: noConnection,
  listen: noConnection,
  close: noConnection,
} satisfies SqlExecutor);

/**
 * Appends to the event store inside the caller's open transaction (same
 * PostgreSQL or PGlite database as the store), so a read model, the events a
 * process manager emits and a consumer's offset commit or roll back together.
 *
 * The append runs under a savepoint: when it fails (a ConcurrencyError, say
 * "no_stream" for a stream that exists) the caller's transaction is still
 * usable, so "already done" can be handled and the transaction committed.
 * Readers of the global log wait for the transaction from its first append
 * until it ends (migration 7): write the read model first, append last.
 *
 * @example
 *   await db.transaction(async (tx) => {
 *     await tx.query("update handoffs set …");
 *     await appendWithin(tx, `handoff-${id}`, [{ type: "HandoffPushed", data, metadata }], "no_stream");
 *   });
 */
export async function appendWithin(
  tx: SqlQueryable,
  stream: string,
  events: readonly NewEvent[],
  expectedRevision: ExpectedRevision,
): Promise<AppendResult> {
  await tx.query("savepoint shenguan_append_within");
  try {
    const result = await appender.appendWith(tx, stream, events, expectedRevision);
    await tx.query("release savepoint shenguan_append_within");
    return result;
  } catch (err) {
    // If even the rollback fails the connection is gone and the commit will fail too: report the append's error.
    await tx.query("rollback to savepoint shenguan_append_within").catch(() => undefined);
    throw err;
  }
}

/** What became of one stream's append in an append to several streams: appended, or refused for its expected revision. */
export type AppendOutcome = { readonly appended: AppendResult } | { readonly conflict: ConcurrencyError };

/**
 * appendWithin for several streams (a consumer chunk's emitted events), in
 * one statement when the streams are distinct (shenguan_append_many_within:
 * one round trip for the chunk, its conflicts answered without a savepoint).
 * When any stream is not where its expectation says (a redelivery, a
 * replay, a concurrent writer), nothing of that statement is written and the
 * streams are appended one by one, so every other stream still goes in and
 * the conflicting ones are reported, in the order of `batch`. Errors other
 * than conflicts are thrown.
 */
export async function appendManyWithin(
  tx: SqlQueryable,
  batch: readonly StreamAppend[],
  alongside?: AlongsideAppend,
): Promise<AppendOutcome[]> {
  const distinct = new Set(batch.map((b) => b.stream)).size === batch.length && batch.every((b) => b.events.length > 0);
  // One stream alone goes by appendWithin, unless the statement is to carry `alongside`.
  if (distinct && batch.length > 0 && (batch.length > 1 || alongside !== undefined)) {
    const results = await appender.tryAppendManyWithin(tx, batch, alongside);
    if (results !== undefined) return results.map((appended) => ({ appended }));
    // A conflict: nothing of the batch was written, `alongside` was; the streams go one by one.
  } else if (alongside) {
    await runAlongside(tx, alongside);
  }
  return appendEach(batch, (b) => appendWithin(tx, b.stream, b.events, b.expectedRevision));
}

/** Appends `batch` one after the other with `append`, a conflict reported as that stream's outcome; other errors are thrown. */
export async function appendEach(
  batch: readonly StreamAppend[],
  append: (b: StreamAppend) => Promise<AppendResult>,
): Promise<AppendOutcome[]> {
  const outcomes: AppendOutcome[] = [];
  for (const b of batch) {
    try {
      outcomes.push({ appended: await append(b) });
    } catch (err) {
      if (!(err instanceof ConcurrencyError)) throw err;
      outcomes.push({ conflict: err });
    }
  }
  return outcomes;
}

/**
 * Appends to several streams prepared inside a transaction and not yet
 * written (prepareManyWithin, EvidenceStore.prepareManyWithin,
 * prepareManyInTransaction): what is known before the append, and the append.
 */
export interface PreparedAppends {
  /** Per stream of the batch, in its order: the conflict found before anything was written, if any. */
  readonly conflicts: readonly (ConcurrencyError | undefined)[];
  /**
   * Writes the streams without a conflict; outcomes in the order of the
   * batch (a stream that moved meanwhile is a conflict). `alongside`: the
   * caller's writes in the same statement.
   */
  append(alongside?: AlongsideAppend): Promise<AppendOutcome[]>;
}

/** The ConcurrencyError an append expecting `expected` meets on a stream whose last revision is `revision` (undefined: no stream). */
export function expectationConflict(
  stream: string,
  expected: ExpectedRevision,
  revision: bigint | undefined,
): ConcurrencyError | undefined {
  const holds =
    expected === "any" ||
    (expected === "no_stream" && revision === undefined) ||
    (expected === "stream_exists" && revision !== undefined) ||
    revision === expected;
  return holds ? undefined : new ConcurrencyError(stream, expected, revision ?? "no_stream");
}

/**
 * appendManyWithin in two steps, so that a transaction can write its read
 * model between them and append last: readers of the log wait for a
 * transaction from its first append to its end (migration 7), so whatever
 * it writes after the append holds every reader back. The streams' heads
 * are read in `tx` (one query) and the conflicts reported; append() writes
 * the rest. Two appends to one stream are not predicted (the later depends
 * on the earlier): they show only in append()'s outcomes.
 */
export async function prepareManyWithin(tx: SqlQueryable, batch: readonly StreamAppend[]): Promise<PreparedAppends> {
  const streams = batch.map((b) => b.stream);
  if (new Set(streams).size !== streams.length)
    return { conflicts: batch.map(() => undefined), append: (alongside) => appendManyWithin(tx, batch, alongside) };
  const { rows } = await tx.query<{ stream_name: string; revision: unknown }>(
    // Each stream's row by its own index scan (see READ_STREAMS on why not `= any($1)`). The limit keeps
    // the lateral subquery from being flattened into a join, which may be planned as a hash join over every stream.
    `select s.stream_name, s.revision from unnest($1::text[]) as n(name) cross join lateral (select stream_name, revision from streams where stream_name = n.name limit 1) s`,
    [streams],
  );
  const heads = new Map(rows.map((r) => [r.stream_name, toBigInt(r.revision)]));
  const conflicts = batch.map((b) => expectationConflict(b.stream, b.expectedRevision, heads.get(b.stream)));
  return {
    conflicts,
    append: (alongside) => appendPrepared(batch, conflicts, (ready) => appendManyWithin(tx, ready, alongside)),
  };
}

/**
 * Appends the streams of `batch` without a conflict; the others' outcomes
 * are their conflicts. `append` is called even with none to append, so
 * that writes it carries alongside still run (appendManyWithin).
 */
export async function appendPrepared(
  batch: readonly StreamAppend[],
  conflicts: readonly (ConcurrencyError | undefined)[],
  append: (ready: StreamAppend[]) => Promise<AppendOutcome[]>,
): Promise<AppendOutcome[]> {
  const at = conflicts.flatMap((c, i) => (c ? [] : [i]));
  const results = await append(at.map((i) => batch[i]!));
  const outcomes: AppendOutcome[] = conflicts.map((conflict) => ({ conflict: conflict! }));
  at.forEach((i, k) => (outcomes[i] = results[k]!));
  return outcomes;
}
