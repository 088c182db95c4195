/**
 * The event store port. Aggregates are event-sourced through it; the relay
 * reads its global log to feed Kafka. Adapters: PostgreSQL (node-postgres),
 * embedded PostgreSQL (PGlite, same SQL), KurrentDB (@eventstore/db-client).
 * One conformance suite (test/conformance.ts) runs against every adapter.
 */

/**
 * A place in the global log. Totally ordered by (commit, prepare), like
 * KurrentDB's own positions. On PostgreSQL `commit` is the writing
 * transaction's id (xid8) and `prepare` the row's sequence number: readers
 * order by both and never pass a transaction that is still open, so a slow
 * writer can delay readers but never be skipped (see postgres/schema.ts).
 */
export interface LogPosition {
  readonly commit: bigint;
  readonly prepare: bigint;
}

export const START: LogPosition = { commit: 0n, prepare: 0n };

export function comparePositions(a: LogPosition, b: LogPosition): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

/** `commit/prepare`, for checkpoints, logs and HTTP (bigints do not survive JSON). */
export function formatPosition(p: LogPosition): string {
  return `${p.commit}/${p.prepare}`;
}

export function parsePosition(s: string): LogPosition {
  const m = /^(\d+)\/(\d+)$/.exec(s);
  if (!m) throw new TypeError(`not a log position: ${JSON.stringify(s)} (expected "<commit>/<prepare>")`);
  return { commit: BigInt(m[1]!), prepare: BigInt(m[2]!) };
}

import type { EventEvidence } from "@shenguan/evidence";

/** Who did it and why: carried by every event, shown by the auditor's timeline. */
export interface EventMetadata {
  /** The request or process this event belongs to. */
  readonly correlationId: string;
  /** The event or command id that caused this event; null for a person's command. */
  readonly causationId: string | null;
  /** Code of the department that published it. */
  readonly department: string;
  /** W3C trace context of the request, when there was one. */
  readonly traceparent?: string;
  /** Kafka key and CloudEvents subject: a USCC or a case id. Defaults to the stream name. */
  readonly subject?: string;
  /** The case this event belongs to, for case histories across streams. */
  readonly caseId?: string;
  /**
   * Signature and chain link, set by the EvidenceStore (or by a department that
   * signs its own events). Left out of the canonical bytes it covers (@shenguan/evidence).
   */
  readonly evidence?: EventEvidence;
}

/** An event to append. `id` is a UUIDv7; generated when absent. */
export interface NewEvent<Type extends string = string, Data = unknown> {
  readonly id?: string;
  /**
   * The appender's clock: kept as the stored event's `time` (millisecond
   * precision), so what a signer signed is what the store returns. The store's
   * own clock when absent.
   */
  readonly time?: Date;
  readonly type: Type;
  readonly data: Data;
  readonly metadata: EventMetadata;
}

export interface StoredEvent<Type extends string = string, Data = unknown> {
  readonly id: string;
  readonly type: Type;
  readonly stream: string;
  /** 0-based index of the event in its stream. */
  readonly revision: bigint;
  readonly position: LogPosition;
  /** When the store accepted it. */
  readonly time: Date;
  readonly data: Data;
  readonly metadata: EventMetadata;
}

/**
 * What the appender believes about the stream: it must not exist yet, it may
 * be in any state, it must exist, or its last revision is exactly this one.
 */
export type ExpectedRevision = "no_stream" | "any" | "stream_exists" | bigint;

export interface AppendResult {
  /** The revision of the last event appended: pass it as the next expected revision. */
  readonly nextExpectedRevision: bigint;
  readonly position: LogPosition;
}

export interface ReadStreamOptions {
  readonly direction?: "forwards" | "backwards";
  /** Inclusive; defaults to the start (forwards) or the end (backwards). */
  readonly fromRevision?: bigint;
  readonly maxCount?: number;
}

export interface ReadAllOptions {
  /** Exclusive: events strictly after this position. Defaults to the start. */
  readonly after?: LogPosition;
  readonly maxCount?: number;
}

export interface SubscribeOptions {
  /** Exclusive checkpoint; the subscription delivers everything after it, then stays live. */
  readonly after?: LogPosition;
  /** Upper bound on events handed over per call to onEvents. */
  readonly batchSize?: number;
  readonly signal?: AbortSignal;
  /**
   * Once caught up and told of new events, wait this long before reading them, so that what is appended
   * meanwhile comes in the same read: for a reader no one waits on (the sealer), not for one on the loop's path
   * (the relay). A hint: the polling subscriptions of PostgreSQL and PGlite honour it; KurrentDB pushes events as
   * they come.
   */
  readonly lingerMs?: number;
}

/** Catch-up then live, without a gap or a duplicate between the two. */
export interface Subscription {
  /** Resolves when the subscription stops (its signal aborted or close() called); rejects if the handler or the store failed. */
  readonly done: Promise<void>;
  close(): Promise<void>;
}

export interface EventStore {
  append(stream: string, events: readonly NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult>;
  /** Events of one stream; an empty array for a stream that does not exist. */
  readStream(stream: string, options?: ReadStreamOptions): Promise<StoredEvent[]>;
  /** The global log in order, from a checkpoint. */
  readAll(options?: ReadAllOptions): Promise<StoredEvent[]>;
  /**
   * Delivers batches in log order to `onEvents`, awaiting each before the next;
   * the handler's failure ends the subscription (rejects `done`).
   */
  subscribeToAll(onEvents: (events: readonly StoredEvent[]) => Promise<void>, options?: SubscribeOptions): Subscription;
  /** Events whose metadata.caseId or metadata.subject is `key`, in log order: a case's full history. */
  readByCorrelationKey(key: string): Promise<StoredEvent[]>;
  close(): Promise<void>;
}
