import { validatePayload, type EventName, type EventPayloads } from "@shenguan/contracts";
import { ConcurrencyError, type EventMetadata, type EventStore, type ExpectedRevision } from "@shenguan/eventstore";
import type { Clock } from "@shenguan/service-kit";
import { v7 as uuidv7 } from "uuid";
import { Calendars } from "./calendar/calendars.js";
import { appendInTransaction, type SqlQueryable } from "@shenguan/eventstore";

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

export function emitterFor(store: EventStore): Emit {
  return async (tx, stream, events, expected, metadata) => {
    // Fail here, not at the relay (which would park the event unpublished).
    const checked = events.map((e) => ({ id: e.id ?? uuidv7(), type: e.type, data: validatePayload(e.type, e.data), metadata }));
    try {
      await appendInTransaction(store, tx, stream, checked, expected);
      // The caller applies these events in `tx` right after: their echoes through Kafka are then no-ops (skipEcho).
      await tx.query(`insert into linkage_emitted (event_id) select unnest($1::text[]) on conflict do nothing`, [checked.map((e) => e.id)]);
      return { appended: true };
    } catch (err) {
      if (err instanceof ConcurrencyError) return { appended: false, conflict: err };
      throw err;
    }
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
    emit: emitterFor(options.store),
  };
}

function checkedGrace(ms: number): number {
  if (!(Number.isInteger(ms) && ms >= 0 && ms < 86_400_000)) throw new RangeError(`cardGraceMs: must be an integer from 0 to 86399999, got ${ms}`);
  return ms;
}

/** What the runner may pass: the options (a context is made from them) or a context already made (shared by the app). */
export type LinkageSetup = LinkageOptions | LinkageContext;

/**
 * True (and forgets the id) when `eventId` is an event this service appended
 * and applied in the appending transaction: its Kafka echo changes nothing,
 * so the projection skips it. One round trip instead of re-deriving the rows.
 */
export async function isOwnEcho(tx: SqlQueryable, eventId: string): Promise<boolean> {
  const { rowCount } = await tx.query(`delete from linkage_emitted where event_id = $1`, [eventId]);
  return rowCount > 0;
}

export function contextOf(setup: LinkageSetup): LinkageContext {
  return "emit" in setup ? setup : linkageContext(setup);
}
