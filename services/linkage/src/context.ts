import { validatePayload, type EventName, type EventPayloads } from "@shenguan/contracts";
import {
  headsReadableIn,
  prepareManyInTransaction,
  type AlongsideAppend,
  type KnownHeads,
  type ConcurrencyError,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type SqlQueryable,
} from "@shenguan/eventstore";
import type { Clock } from "@shenguan/service-kit";
import { v7 as uuidv7 } from "uuid";
import { Calendars } from "./calendar/calendars.js";
import { RouteCache } from "./routing/routes.js";

/** What the linkage code logs through: pino's (and fastify's) signature. */
export interface LinkageLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLogger: LinkageLogger = { info() {}, warn() {}, error() {} };

/** A contract event the process manager or the timer emits: its data is exactly the contract payload. */
export type ContractEvent = { [N in EventName]: { readonly id?: string; readonly type: N; readonly data: EventPayloads[N] } }[EventName];

export type EmitOutcome = { readonly appended: true } | { readonly appended: false; readonly conflict: ConcurrencyError };

/**
 * Appends the service's own events. On the PostgreSQL/PGlite store (the
 * same database as the read models; bare, or signing and chaining through
 * the EvidenceStore) the append runs inside `tx`, so the
 * events, the read-model change and the consumer's offset commit together.
 * On another store (KurrentDB) it cannot: the append happens at once and the
 * deterministic stream names with their expected revisions make a redelivery
 * find the stream written and do nothing.
 * A stream that is not where `expected` says is reported, not thrown: it
 * means the step was done before (a redelivery, a replay).
 */
export type Emit = (
  tx: SqlQueryable,
  stream: string,
  events: readonly ContractEvent[],
  expected: ExpectedRevision,
  metadata: EventMetadata,
) => Promise<EmitOutcome>;

/** One append of emitEach: a stream, its events and the revision they expect. */
export interface EmitAppend {
  readonly stream: string;
  readonly events: readonly ContractEvent[];
  readonly expected: ExpectedRevision;
  readonly metadata: EventMetadata;
}

/**
 * Emit for several streams at once (a consumer chunk's pushes), in two
 * steps: the events checked and signed together (one batch signature per
 * department) and the streams already past their expectation found, then,
 * when the caller says so, appended in one statement. Between the two the
 * caller writes its read model: readers of the log wait for a transaction
 * from its first append to its end, so the append should be the last
 * thing `tx` does.
 */
export type EmitEach = (tx: SqlQueryable, appends: readonly EmitAppend[], options?: EmitEachOptions) => Promise<PreparedEmits>;

export interface EmitEachOptions {
  /** The streams' heads, read by the caller in `tx` already (headColumnsSql; only where ctx.headsInTransaction). */
  readonly heads?: KnownHeads;
  /**
   * The caller records `emittedIds` in linkage_emitted itself, in a statement
   * of its own before append() (one round trip fewer: applyPushedMany's `emitted`).
   */
  readonly callerRecordsEmitted?: boolean;
}

export interface PreparedEmits {
  /** Per append, in order: whether it is to go in (not: its stream is past the expectation, the step was done before). */
  readonly outcomes: readonly EmitOutcome[];
  /** The ids of the events that are to go in: what linkage_emitted is to hold before the append. */
  readonly emittedIds: readonly string[];
  /**
   * Appends those that are to go in; outcomes as they came out. One that
   * `outcomes` let through is still refused if another writer moved its
   * stream in between: what the caller wrote for it must then roll back.
   */
  append(alongside?: AlongsideAppend): Promise<EmitOutcome[]>;
}

/**
 * The ids of events this process emitted (and applied in the same
 * transaction), so the consumer can pass their Kafka echoes over unread: no
 * decode, no inbox row, no transaction (ProjectionConsumerOptions.passOver).
 * Only a shortcut: the echo of an id it does not hold (after a restart, or
 * past its bound) goes the durable way, linkage_emitted. The ids passed over
 * are kept until the next chunk deletes their linkage_emitted rows with its
 * own (ownEchoes); a chunk that rolls back after taking them leaves those
 * rows behind, which changes nothing but the table's size.
 */
export class EchoMemory {
  readonly #emitted = new Set<string>();
  #passed: string[] = [];
  constructor(private readonly max = 100_000) {}

  /** Ids appended in a transaction that also applies them; an id whose transaction rolls back never echoes. */
  remember(ids: readonly string[]): void {
    for (const id of ids) this.#emitted.add(id);
    // Oldest first (a Set keeps insertion order): their echoes are the likeliest to have come and gone.
    for (const id of this.#emitted) {
      if (this.#emitted.size <= this.max) break;
      this.#emitted.delete(id);
    }
  }

  has(ceId: string): boolean {
    return this.#emitted.has(ceId);
  }

  passed(ceIds: readonly string[]): void {
    for (const id of ceIds) this.#emitted.delete(id);
    this.#passed.push(...ceIds);
  }

  /** The ids passed over since the last call, whose linkage_emitted rows are to go. */
  takePassed(): string[] {
    const passed = this.#passed;
    this.#passed = [];
    return passed;
  }
}

export function emitterFor(store: EventStore, echoes?: EchoMemory): Emit {
  const emitEach = eachEmitterFor(store, echoes);
  return async (tx, stream, events, expected, metadata) =>
    (await (await emitEach(tx, [{ stream, events, expected, metadata }])).append())[0]!;
}

export function eachEmitterFor(store: EventStore, echoes?: EchoMemory): EmitEach {
  return async (tx, appends, options = {}) => {
    // Fail here, not at the relay (which would park the event unpublished); before any append, so a bad payload costs no signature.
    const checked = appends.map((a) =>
      a.events.map((e) => ({ id: e.id ?? uuidv7(), type: e.type, data: validatePayload(e.type, e.data), metadata: a.metadata })),
    );
    const prepared = await prepareManyInTransaction(
      store,
      tx,
      appends.map((a, i) => ({ stream: a.stream, events: checked[i]!, expectedRevision: a.expected })),
      options.heads,
    );
    const outcomes: EmitOutcome[] = prepared.conflicts.map((conflict) => (conflict ? { appended: false, conflict } : { appended: true }));
    // The caller applies these events in `tx`: their echoes through Kafka are then no-ops (ownEchoes).
    // Recorded before the append, which is to end the transaction; the rows of appends refused go again after it.
    const planned = checked.flatMap((events, i) => (outcomes[i]!.appended ? events.map((e) => e.id) : []));
    if (planned.length > 0 && !options.callerRecordsEmitted) await recordEmitted(tx, planned);
    return {
      outcomes,
      emittedIds: planned,
      append: async (alongside) => {
        const results = await prepared.append(alongside);
        const actual: EmitOutcome[] = [];
        const emittedIds: string[] = [];
        const refusedIds: string[] = [];
        for (const [i, result] of results.entries()) {
          if ("appended" in result) {
            actual.push({ appended: true });
            emittedIds.push(...checked[i]!.map((e) => e.id));
          } else {
            actual.push({ appended: false, conflict: result.conflict });
            if (outcomes[i]!.appended) refusedIds.push(...checked[i]!.map((e) => e.id));
          }
        }
        if (refusedIds.length > 0) await tx.query(FORGET_EMITTED_SQL("$1"), [refusedIds]);
        if (emittedIds.length > 0) echoes?.remember(emittedIds);
        return actual;
      },
    };
  };
}

/** Everything the projection, the timer and the routes share. */
export interface LinkageContext {
  readonly store: EventStore;
  readonly clock: Clock;
  readonly calendars: Calendars;
  /** Share of a limit after which the card turns yellow (0 < share ≤ 1). */
  readonly yellowShare: number;
  /**
   * How long past midnight the timer waits before it shows the day's cards.
   * A claim made at 23:59 on its due date is still on its way through the
   * relay and Kafka at 00:00; without this wait it would get a red card and
   * then be met. Facts later than the grace (a consumer outage) still get the
   * card first: the card is then the record of what the timer saw.
   */
  readonly cardGraceMs: number;
  /** The department code the service's own events are published under. */
  readonly department: string;
  readonly logger: LinkageLogger;
  readonly emit: Emit;
  readonly emitEach: EmitEach;
  /** What this process emitted, for the consumer to pass the echoes over. */
  readonly echoes: EchoMemory;
  /** Routes this process looked up, reused while the routes' version holds. */
  readonly routes: RouteCache;
  /** Whether a statement in a chunk's transaction may read the heads emitEach needs (headColumnsSql): the store keeps its events there. */
  readonly headsInTransaction: boolean;
}

export const DEFAULT_YELLOW_SHARE = 0.8;
/** Relay and consumer lag are seconds in normal operation; a quarter hour leaves room for a restart. */
export const DEFAULT_CARD_GRACE_MS = 15 * 60_000;
export const DEFAULT_LINKAGE_DEPARTMENT = "SHENGUAN-LINKAGE";

export interface LinkageOptions {
  readonly store: EventStore;
  readonly clock: Clock;
  readonly calendars?: Calendars;
  readonly yellowShare?: number;
  readonly cardGraceMs?: number;
  readonly department?: string;
  readonly logger?: LinkageLogger;
}

export function linkageContext(options: LinkageOptions): LinkageContext {
  const yellowShare = options.yellowShare ?? DEFAULT_YELLOW_SHARE;
  if (!(yellowShare > 0 && yellowShare <= 1)) throw new RangeError(`yellowShare: must be > 0 and <= 1, got ${yellowShare}`);
  return {
    store: options.store,
    clock: options.clock,
    calendars: options.calendars ?? new Calendars(),
    yellowShare,
    cardGraceMs: checkedGrace(options.cardGraceMs ?? DEFAULT_CARD_GRACE_MS),
    department: options.department ?? DEFAULT_LINKAGE_DEPARTMENT,
    logger: options.logger ?? silentLogger,
    ...emitters(options.store),
    routes: new RouteCache(),
    headsInTransaction: headsReadableIn(options.store),
  };
}

function emitters(store: EventStore): Pick<LinkageContext, "emit" | "emitEach" | "echoes"> {
  const echoes = new EchoMemory();
  return { emit: emitterFor(store, echoes), emitEach: eachEmitterFor(store, echoes), echoes };
}

function checkedGrace(ms: number): number {
  if (!(Number.isInteger(ms) && ms >= 0 && ms < 86_400_000))
    throw new RangeError(`cardGraceMs: must be an integer from 0 to 86399999, got ${ms}`);
  return ms;
}

/** What the runner may pass: the options (a context is made from them) or a context already made (shared by the app). */
export type LinkageSetup = LinkageOptions | LinkageContext;

/** The statement that records emitted ids (EmitEach, or a caller's own statement as a data-modifying WITH). */
export const RECORD_EMITTED_SQL = (param: string) =>
  `insert into linkage_emitted (event_id) select unnest(${param}::text[]) on conflict do nothing`;

/** The statement that forgets emitted ids whose echoes were passed over (EchoMemory.takePassed), the ids being parameter `param`. */
export const FORGET_EMITTED_SQL = (param: string) => `delete from linkage_emitted where event_id = any(${param}::text[])`;

export async function recordEmitted(tx: SqlQueryable, ids: readonly string[]): Promise<void> {
  await tx.query(RECORD_EMITTED_SQL("$1"), [ids]);
}

/**
 * Which of `eventIds` are events this service appended and applied in the
 * appending transaction (and forgets them): their Kafka echoes change
 * nothing, so the projection skips them. One round trip for a whole chunk
 * instead of re-deriving the rows.
 */
export async function ownEchoes(tx: SqlQueryable, eventIds: readonly string[], echoes?: EchoMemory): Promise<Set<string>> {
  // With them, the rows of the echoes the consumer passed over since the last chunk (EchoMemory).
  const passed = echoes?.takePassed() ?? [];
  if (eventIds.length === 0 && passed.length === 0) return new Set();
  const { rows } = await tx.query<{ event_id: string }>(`${FORGET_EMITTED_SQL("$1")} returning event_id`, [
    passed.length === 0 ? eventIds : [...eventIds, ...passed],
  ]);
  const asked = new Set(eventIds);
  return new Set(rows.map((r) => r.event_id).filter((id) => asked.has(id)));
}

export function contextOf(setup: LinkageSetup): LinkageContext {
  return "emit" in setup ? setup : linkageContext(setup);
}
