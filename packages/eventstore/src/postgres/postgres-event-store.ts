import { v7 as uuidv7 } from "uuid";
import { AppendIsolationError, ConcurrencyError } from "../errors.js";
import {
  START,
  type AppendResult,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type LogPosition,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type StoredEvent,
  type SubscribeOptions,
  type Subscription,
} from "../port.js";
import { GroupCommit } from "../group-commit.js";
import { runAlongside, type AlongsideAppend } from "./alongside.js";
import { toBigInt, type SqlExecutor, type SqlQueryable } from "./executor.js";
import { APPEND_ISOLATION_SQLSTATE, CONCURRENCY_SQLSTATE, EVENTS_CHANNEL, migrate } from "./schema.js";
import { pollingSubscription, type Positioned } from "./subscription.js";

export interface PostgresEventStoreOptions {
  /** How long a caught-up subscription sleeps when no notification wakes it. */
  readonly pollIntervalMs?: number;
}

interface EventRow {
  id: string;
  type: string;
  stream_name: string;
  revision: string | bigint;
  commit_id: string;
  prepare_id: string | bigint;
  created_at: Date;
  data: unknown;
  metadata: EventMetadata;
}

const COLUMNS = `event_id as id, type, stream_name, revision, transaction_id::text as commit_id,
  global_position as prepare_id, created_at, data, metadata`;

/**
 * Only transactions below the log's horizon are read: an appender that
 * started earlier but commits later would otherwise land behind a reader's
 * checkpoint and be skipped. shenguan_log_horizon() (migrations 4 and 7) works on
 * the statement's own snapshot: below it every appender has committed
 * (visible) or aborted. Transactions that do not append (read models,
 * idempotency keys, anything else on the server) do not hold it back.
 * As a subquery it runs once, at execution: called directly, a stable
 * function is also run by the planner to estimate the clause, and the
 * horizon reads pg_locks (every read of the log paid for it twice).
 */
const AFTER_IN_LOG_ORDER = `where (transaction_id, global_position) > ($1::xid8, $2::bigint)
    and transaction_id < (select shenguan_log_horizon())
  order by transaction_id, global_position
  limit $3`;
const READ_ALL = `select ${COLUMNS} from events ${AFTER_IN_LOG_ORDER}`;

// readAll's order and visibility, with only what a sealer takes of each event: the chain link is some
// 150 bytes of JSON to turn into text, where the whole event is ten times that, twice (data, metadata).
const READ_CHAIN_LINKS = `select event_id as id, stream_name, transaction_id::text as commit_id, global_position as prepare_id,
    metadata #> '{evidence,chain}' as chain
  from events ${AFTER_IN_LOG_ORDER}`;

/** One event of the log as the sealer sees it: where it is, and its chain link as stored (unchecked). */
export interface LoggedChainLink {
  readonly id: string;
  readonly stream: string;
  readonly position: LogPosition;
  readonly chain: unknown;
}

const READ_STREAM_FORWARDS = `select ${COLUMNS} from events
  where stream_name = $1 and revision >= $2::bigint
  order by revision limit $3`;

// One index scan per stream, in a nested loop over the names. Written as
// `stream_name = any($1)`, PostgreSQL judged from a young table's statistics
// that each stream had hundreds of events and read the whole table (in
// parallel) for every group of commands: in the loop bench that was most of
// the database's CPU. The lateral form leaves it no such choice.
const READ_STREAMS = `select e.* from unnest($1::text[]) as s(name)
  cross join lateral (select ${COLUMNS} from events where stream_name = s.name order by revision) e
  order by e.stream_name, e.revision`;

const READ_STREAM_BACKWARDS = `select ${COLUMNS} from events
  where stream_name = $1 and ($2::bigint is null or revision <= $2::bigint)
  order by revision desc limit $3`;

// Committed events, in the same order readAll gives them; not held back by
// open transactions, like readStream, because nothing checkpoints on it.
const READ_BY_KEY = `select ${COLUMNS} from events
  where case_key = $1 or subject_key = $1
  order by transaction_id, global_position`;

const APPEND_SQL = `select next_revision, commit_id, prepare_id from shenguan_append($1, $2, $3::jsonb)`;

function toStoredEvent(row: EventRow): StoredEvent {
  return {
    id: row.id,
    type: row.type,
    stream: row.stream_name,
    revision: toBigInt(row.revision),
    position: { commit: toBigInt(row.commit_id), prepare: toBigInt(row.prepare_id) },
    time: row.created_at,
    data: row.data,
    metadata: row.metadata,
  };
}

/** SG003 from an append (not READ COMMITTED) as the store's own error; any other error as it is. */
function appendFailure(err: unknown): unknown {
  const { code, message } = err as { code?: unknown; message?: unknown };
  return code === APPEND_ISOLATION_SQLSTATE ? new AppendIsolationError(String(message), { cause: err }) : err;
}

function instant(time: Date): string {
  if (!(time instanceof Date) || Number.isNaN(time.getTime())) throw new TypeError(`event time: must be a valid Date, got ${String(time)}`);
  return time.toISOString();
}

/** One stream's part of an append to several streams (appendManyWith). */
export interface StreamAppend {
  readonly stream: string;
  readonly events: readonly NewEvent[];
  readonly expectedRevision: ExpectedRevision;
}

const APPEND_MANY_SQL = `select stream_name, next_revision, commit_id, prepare_id from shenguan_append_many($1::jsonb)`;
const APPEND_MANY_WITHIN_SQL = `select next_revision, commit_id, prepare_id, conflict from shenguan_append_many_within($1::jsonb)`;

/**
 * APPEND_MANY_WITHIN_SQL with the caller's WITH queries ($1…$n) in the same
 * statement, the batch as $n+1; the rows of `returning` follow the append's,
 * each as one JSON column. The function is volatile, so its WITH query is
 * run once, as written; the caller's writes are data-modifying WITH queries,
 * run to completion whether or not anything reads them, and before the
 * append (`written`).
 */
function appendAlongsideSql(alongside: AlongsideAppend): string {
  const batch = `$${alongside.params.length + 1}::jsonb`;
  // The batch through a subquery that reads every written query to its end: they run first, the append last.
  const after = alongside.written.map((name) => `(select count(*) from ${name})`).join(" + ");
  const argument = after ? `(select ${batch} where ${after} >= 0)` : batch;
  const append = `shenguan_appended as (select next_revision, commit_id, prepare_id, conflict from shenguan_append_many_within(${argument}))`;
  const rows = `select next_revision, commit_id, prepare_id, conflict${alongside.returning ? ", null::json as alongside" : ""} from shenguan_appended`;
  return alongside.returning
    ? `with ${alongside.with}, ${append} ${rows} union all select null, null, null, null, row_to_json(r) from (${alongside.returning.query}) r`
    : `with ${alongside.with}, ${append} ${rows}`;
}

function appendParams(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): unknown[] {
  return [stream, typeof expected === "bigint" ? expected.toString() : expected, JSON.stringify(eventsPayload(events))];
}

/** A row of shenguan_append, shenguan_append_many or shenguan_append_many_within as the port's result. */
function appendResultOf(row: { next_revision: string | bigint; commit_id: string; prepare_id: string | bigint }): AppendResult {
  return {
    nextExpectedRevision: toBigInt(row.next_revision),
    position: { commit: toBigInt(row.commit_id), prepare: toBigInt(row.prepare_id) },
  };
}

/** What the many-stream appends take: distinct streams, each with events. */
function checkBatch(caller: string, batch: readonly StreamAppend[]): void {
  if (new Set(batch.map((b) => b.stream)).size !== batch.length) throw new RangeError(`${caller}: each stream may appear once`);
  if (batch.some((b) => b.events.length === 0)) throw new RangeError(`${caller}: every stream needs at least one event`);
}

/** shenguan_append_many's argument. */
function manyPayload(batch: readonly StreamAppend[]): object[] {
  return batch.map((b) => ({
    stream: b.stream,
    expected: typeof b.expectedRevision === "bigint" ? b.expectedRevision.toString() : b.expectedRevision,
    events: eventsPayload(b.events),
  }));
}

function eventsPayload(events: readonly NewEvent[]): object[] {
  return events.map((e) => ({
    id: e.id ?? uuidv7(),
    type: e.type,
    data: e.data,
    metadata: e.metadata,
    // An ISO instant (UTC, ms), which timestamptz (µs) holds exactly; shenguan_append falls back on now().
    ...(e.time === undefined ? {} : { time: instant(e.time) }),
  }));
}

/**
 * The event store on PostgreSQL or PGlite (same SQL, through SqlExecutor).
 * The executor belongs to whoever created it: close() ends this store's
 * subscriptions but leaves the executor open for read models sharing it.
 */
export class PostgresEventStore implements EventStore {
  readonly #sql: SqlExecutor;
  readonly #pollIntervalMs: number;
  readonly #subscriptions = new Set<Subscription>();
  #announcing: Promise<void> | undefined;
  #announceAgain = false;

  constructor(sql: SqlExecutor, options: PostgresEventStoreOptions = {}) {
    this.#sql = sql;
    this.#pollIntervalMs = options.pollIntervalMs ?? 100;
  }

  /**
   * The executor this store reads and writes through: for lean reads of the
   * same tables (the evidence verifier reads only what it checks).
   */
  get executor(): SqlExecutor {
    return this.#sql;
  }

  /** Creates or upgrades the schema; idempotent and safe to run from several processes. */
  migrate(): Promise<void> {
    return migrate(this.#sql);
  }

  async append(stream: string, events: readonly NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    if (events.length === 0) return this.appendWith(this.#sql, stream, events, expectedRevision);
    const result = await this.#appends.submit({ stream, events, expectedRevision });
    this.#announce();
    return result;
  }

  /**
   * Appends of concurrent callers, group-committed: those that arrive while
   * one statement is in flight go together in the next (shenguan_append_many,
   * one round trip and one commit for all). If any of them conflicts, or one
   * stream is in the group twice, the statement fails as a whole and
   * GroupCommit appends them one by one, in arrival order, so each caller
   * gets exactly the answer it would have got alone.
   */
  readonly #appends = new GroupCommit<StreamAppend, AppendResult>((group) =>
    group.length === 1
      ? this.appendWith(this.#sql, group[0]!.stream, group[0]!.events, group[0]!.expectedRevision).then((result) => [result])
      : this.appendManyWith(this.#sql, group),
  );

  /**
   * Tells subscribers in every process that the log has grown, in its own
   * statement after the append committed (see the migration's note on
   * NOTIFY). While one notification is in flight, further appends only ask
   * for one more after it, so a burst of appends costs a few NOTIFYs.
   * Best-effort: a lost one delays subscribers until their next poll.
   */
  #announce(): void {
    if (this.#announcing) {
      this.#announceAgain = true;
      return;
    }
    this.#announcing = (async () => {
      do {
        this.#announceAgain = false;
        await this.#sql.query(`select pg_notify($1, '')`, [EVENTS_CHANNEL]).catch(() => {});
      } while (this.#announceAgain);
      this.#announcing = undefined;
    })();
  }

  /**
   * Appends through `db`, which may be a transaction of the caller's (to
   * change a read model and append in one commit). Readers of the global
   * log wait at such a transaction from its first append until it ends, so
   * append as late in it as you can (migration 7).
   * Subscribers learn of these events at their next poll, since a
   * notification sent from here would precede the caller's commit. A
   * ConcurrencyError leaves the caller's transaction aborted: roll it back.
   */
  async appendWith(
    db: SqlQueryable,
    stream: string,
    events: readonly NewEvent[],
    expectedRevision: ExpectedRevision,
  ): Promise<AppendResult> {
    try {
      const { rows } = await db.query<{ next_revision: string | bigint; commit_id: string; prepare_id: string | bigint }>(
        APPEND_SQL,
        appendParams(stream, events, expectedRevision),
      );
      return appendResultOf(rows[0]!);
    } catch (err) {
      const { code, detail } = err as { code?: unknown; detail?: unknown };
      if (code === CONCURRENCY_SQLSTATE) {
        throw new ConcurrencyError(stream, expectedRevision, detail === "no_stream" ? "no_stream" : toBigInt(detail), { cause: err });
      }
      throw appendFailure(err);
    }
  }

  /**
   * Appends to several distinct streams through `db` in one statement (one
   * round trip): all of them or, on any conflict, none (the statement fails).
   * The ConcurrencyError then names the stream that conflicted first. Results
   * in the order of `batch`. Streams must be distinct: the expectations are
   * each stream's state before the call.
   */
  async appendManyWith(db: SqlQueryable, batch: readonly StreamAppend[]): Promise<AppendResult[]> {
    checkBatch("appendManyWith", batch);
    if (batch.length === 0) return [];
    const payload = manyPayload(batch);
    try {
      const { rows } = await db.query<{
        stream_name: string;
        next_revision: string | bigint;
        commit_id: string;
        prepare_id: string | bigint;
      }>(APPEND_MANY_SQL, [JSON.stringify(payload)]);
      return rows.map(appendResultOf);
    } catch (err) {
      const { code, detail, message } = err as { code?: unknown; detail?: unknown; message?: unknown };
      if (code === CONCURRENCY_SQLSTATE) {
        // shenguan_append's message names the stream: "stream <name> is not at the expected revision <e>".
        const stream = / ?stream (.*) is not at the expected revision /.exec(String(message))?.[1] ?? batch[0]!.stream;
        const expected = batch.find((b) => b.stream === stream)?.expectedRevision ?? batch[0]!.expectedRevision;
        throw new ConcurrencyError(stream, expected, detail === "no_stream" ? "no_stream" : toBigInt(detail), { cause: err });
      }
      throw appendFailure(err);
    }
  }

  /**
   * appendManyWith inside the caller's open transaction, which stays usable
   * whatever happens to the batch: the results, or undefined when a stream
   * was not where its expectation said (nothing of the batch is then
   * written; the caller finds out which by appending one by one). One round
   * trip, where a savepoint around appendManyWith takes three.
   */
  async tryAppendManyWithin(
    tx: SqlQueryable,
    batch: readonly StreamAppend[],
    alongside?: AlongsideAppend,
  ): Promise<AppendResult[] | undefined> {
    checkBatch("tryAppendManyWithin", batch);
    if (batch.length === 0) {
      if (alongside) await runAlongside(tx, alongside);
      return [];
    }
    const payload = JSON.stringify(manyPayload(batch));
    try {
      const { rows } = await tx.query<{
        next_revision: string | bigint;
        commit_id: string;
        prepare_id: string | bigint;
        conflict: boolean;
        alongside?: Record<string, unknown> | null;
      }>(alongside ? appendAlongsideSql(alongside) : APPEND_MANY_WITHIN_SQL, alongside ? [...alongside.params, payload] : [payload]);
      // The caller's rows (alongside) come after the append's, which are in the order of the batch.
      const appended = alongside?.returning ? rows.filter((r) => r.alongside === null) : rows;
      alongside?.returning?.rows(rows.filter((r) => r.alongside !== null).map((r) => r.alongside!));
      return appended.some((r) => r.conflict) ? undefined : appended.map(appendResultOf);
    } catch (err) {
      throw appendFailure(err);
    }
  }

  /**
   * Whole streams read for concurrent callers in one query (group commit's
   * read side): every command handler starts by reading its stream, and at a
   * thousand commands a second one statement per command is most of the
   * round trips. A caller's read starts after its call, so it sees its own
   * earlier appends.
   */
  readonly #wholeStreams = new GroupCommit<string, StoredEvent[]>(async (streams) => {
    const { rows } = await this.#sql.query<EventRow>(READ_STREAMS, [[...new Set(streams)]]);
    const byStream = new Map<string, StoredEvent[]>();
    for (const row of rows) {
      const list = byStream.get(row.stream_name);
      if (list === undefined) byStream.set(row.stream_name, [toStoredEvent(row)]);
      else list.push(toStoredEvent(row));
    }
    // A stream asked for twice gets two arrays: callers may keep what they were given.
    return streams.map((s) => [...(byStream.get(s) ?? [])]);
  });

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
    const whole = options.direction !== "backwards" && (options.fromRevision ?? 0n) === 0n && options.maxCount === undefined;
    if (whole) return this.#wholeStreams.submit(stream);
    const backwards = options.direction === "backwards";
    const from = options.fromRevision ?? (backwards ? null : 0n);
    const { rows } = await this.#sql.query<EventRow>(backwards ? READ_STREAM_BACKWARDS : READ_STREAM_FORWARDS, [
      stream,
      from?.toString() ?? null,
      options.maxCount ?? null,
    ]);
    return rows.map(toStoredEvent);
  }

  async readAll(options: ReadAllOptions = {}): Promise<StoredEvent[]> {
    const after = options.after ?? START;
    const { rows } = await this.#sql.query<EventRow>(READ_ALL, [
      after.commit.toString(),
      after.prepare.toString(),
      options.maxCount ?? null,
    ]);
    return rows.map(toStoredEvent);
  }

  /** readAll, lean: each event's id, stream, position and stored chain link (LogSealer's input). */
  async readChainLinks(options: ReadAllOptions = {}): Promise<LoggedChainLink[]> {
    const after = options.after ?? START;
    const { rows } = await this.#sql.query<{
      id: string;
      stream_name: string;
      commit_id: string;
      prepare_id: string | bigint;
      chain: unknown;
    }>(READ_CHAIN_LINKS, [after.commit.toString(), after.prepare.toString(), options.maxCount ?? null]);
    return rows.map((r) => ({
      id: r.id,
      stream: r.stream_name,
      position: { commit: toBigInt(r.commit_id), prepare: toBigInt(r.prepare_id) },
      chain: r.chain,
    }));
  }

  /** subscribeToAll, lean (readChainLinks): catch-up then live, woken by the same notifications. */
  subscribeToChainLinks(onLinks: (links: readonly LoggedChainLink[]) => Promise<void>, options?: SubscribeOptions): Subscription {
    return this.#subscribe((o) => this.readChainLinks(o), onLinks, options);
  }

  /** A polling subscription over `read`, woken by the store's notifications, ended by close(). */
  #subscribe<T extends Positioned>(
    read: (options: ReadAllOptions) => Promise<T[]>,
    onEvents: (events: readonly T[]) => Promise<void>,
    options?: SubscribeOptions,
  ): Subscription {
    const subscription = pollingSubscription<T>(
      { readAll: read, listen: (wake) => this.#sql.listen(EVENTS_CHANNEL, wake), pollIntervalMs: this.#pollIntervalMs },
      onEvents,
      options,
    );
    this.#subscriptions.add(subscription);
    void subscription.done.then(
      () => this.#subscriptions.delete(subscription),
      () => this.#subscriptions.delete(subscription),
    );
    return subscription;
  }

  async readByCorrelationKey(key: string): Promise<StoredEvent[]> {
    const { rows } = await this.#sql.query<EventRow>(READ_BY_KEY, [key]);
    return rows.map(toStoredEvent);
  }

  subscribeToAll(onEvents: (events: readonly StoredEvent[]) => Promise<void>, options?: SubscribeOptions): Subscription {
    return this.#subscribe((o) => this.readAll(o), onEvents, options);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#subscriptions].map((s) => s.close()));
    await this.#announcing;
  }
}
