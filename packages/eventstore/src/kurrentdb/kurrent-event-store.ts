import {
  BACKWARDS,
  DeadlineExceededError,
  END,
  EventStoreDBClient,
  excludeSystemEvents,
  FORWARDS,
  jsonEvent,
  START as FROM_START,
  StreamNotFoundError,
  TimeoutError,
  UnavailableError,
  WrongExpectedVersionError,
  type AllStreamRecordedEvent,
  type JSONType,
  type RecordedEvent,
} from "@eventstore/db-client";
import { v7 as uuidv7 } from "uuid";
import { ConcurrencyError, StoreUnavailableError } from "../errors.js";
import {
  comparePositions,
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

function translateError(err: unknown): unknown {
  if (err instanceof UnavailableError || err instanceof DeadlineExceededError || err instanceof TimeoutError) {
    return new StoreUnavailableError(`KurrentDB unavailable: ${err.message}`, { cause: err });
  }
  return err;
}

/** $all also carries the server's own events ($metadata, projections, stats): they are not ours to deliver. */
function isSystemEvent(e: RecordedEvent): boolean {
  return e.type.startsWith("$") || e.streamId.startsWith("$");
}

/**
 * KurrentDB sets `created` itself and takes no other, so an appender's time
 * (NewEvent.time) travels in the event's metadata under this key and is read
 * back as the event's `time`, the key removed: the metadata returned is the
 * metadata given.
 */
export const KURRENT_TIME_KEY = "shenguanTime";

function toStoredEvent(e: RecordedEvent): StoredEvent {
  if (!e.position)
    throw new Error(`KurrentDB returned event ${e.id} without its log position (servers before 22.x omit it on stream reads)`);
  let time = e.created;
  let metadata = e.metadata as unknown as EventMetadata;
  const stored = (metadata as unknown as Record<string, unknown> | null | undefined)?.[KURRENT_TIME_KEY];
  if (typeof stored === "string") {
    const { [KURRENT_TIME_KEY]: _time, ...rest } = metadata as unknown as Record<string, unknown>;
    metadata = rest as unknown as EventMetadata;
    const parsed = new Date(stored);
    if (!Number.isNaN(parsed.getTime())) time = parsed;
  }
  return {
    id: e.id,
    type: e.type,
    stream: e.streamId,
    revision: e.revision,
    position: { commit: e.position.commit, prepare: e.position.prepare },
    time,
    data: e.data,
    metadata,
  };
}

function metadataToStore(e: NewEvent): JSONType {
  if (e.time === undefined) return e.metadata as unknown as JSONType;
  if (!(e.time instanceof Date) || Number.isNaN(e.time.getTime())) throw new TypeError(`event time: must be a valid Date, got ${String(e.time)}`);
  return { ...e.metadata, [KURRENT_TIME_KEY]: e.time.toISOString() } as unknown as JSONType;
}

function expectationHolds(expected: ExpectedRevision, current: bigint | "no_stream"): boolean {
  switch (expected) {
    case "any":
      return true;
    case "no_stream":
      return current === "no_stream";
    case "stream_exists":
      return current !== "no_stream";
    default:
      return current === expected;
  }
}

/**
 * The event store on KurrentDB (EventStoreDB) through its gRPC client.
 * Limitations, by design of the server rather than of this adapter:
 * - readAll and subscriptions need the right to read $all (an admin or ops
 *   user on a secure server) and skip system events;
 * - readByCorrelationKey scans $all and filters on metadata in the client,
 *   because the server indexes streams and event types but not metadata
 *   fields (the $by_correlation_id projection indexes `$correlationId` only,
 *   and only when system projections run). Fine for an audit lookup on a
 *   modest log; a production deployment on KurrentDB should project case
 *   histories into streams instead;
 * - subscribeToAll hands events over one at a time (batches of one), as the
 *   server pushes them.
 */
export class KurrentEventStore implements EventStore {
  readonly #client: EventStoreDBClient;
  readonly #subscriptions = new Set<Subscription>();

  constructor(client: EventStoreDBClient) {
    this.#client = client;
  }

  /** `esdb://host:2113?tls=false` and friends. */
  static connect(connectionString: string): KurrentEventStore {
    return new KurrentEventStore(EventStoreDBClient.connectionString(connectionString));
  }

  async append(stream: string, events: readonly NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    // An empty append has nothing to write atomically: check the expectation
    // against the stream's last event and report where it stands.
    if (events.length === 0) {
      const [last] = await this.readStream(stream, { direction: "backwards", maxCount: 1 });
      const current = last?.revision ?? "no_stream";
      if (!expectationHolds(expectedRevision, current)) throw new ConcurrencyError(stream, expectedRevision, current);
      return { nextExpectedRevision: last?.revision ?? -1n, position: last?.position ?? START };
    }
    try {
      const result = await this.#client.appendToStream(
        stream,
        events.map((e) =>
          jsonEvent({ id: e.id ?? uuidv7(), type: e.type, data: e.data as JSONType, metadata: metadataToStore(e) }),
        ),
        { expectedRevision },
      );
      const position = result.position ?? (await this.readStream(stream, { direction: "backwards", maxCount: 1 }))[0]?.position;
      if (!position) throw new Error(`KurrentDB did not report the position of the append to ${stream}`);
      return { nextExpectedRevision: result.nextExpectedRevision, position };
    } catch (err) {
      if (err instanceof WrongExpectedVersionError) {
        throw new ConcurrencyError(stream, expectedRevision, err.actualVersion, { cause: err });
      }
      throw translateError(err);
    }
  }

  async readStream(stream: string, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
    const backwards = options.direction === "backwards";
    const events: StoredEvent[] = [];
    try {
      const read = this.#client.readStream(stream, {
        direction: backwards ? BACKWARDS : FORWARDS,
        fromRevision: options.fromRevision ?? (backwards ? END : FROM_START),
        ...(options.maxCount === undefined ? {} : { maxCount: options.maxCount }),
      });
      for await (const resolved of read) if (resolved.event) events.push(toStoredEvent(resolved.event));
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw translateError(err);
    }
    return events;
  }

  /**
   * $all read from `after`, whose own event the server returns again (reads
   * are inclusive of their start): it is dropped here, as are system events.
   */
  async readAll(options: ReadAllOptions = {}): Promise<StoredEvent[]> {
    const after = options.after;
    const maxCount = options.maxCount ?? Number.POSITIVE_INFINITY;
    const events: StoredEvent[] = [];
    if (maxCount <= 0) return events;
    try {
      for await (const resolved of this.#client.readAll({ direction: FORWARDS, fromPosition: after ?? FROM_START })) {
        const e = resolved.event;
        if (!e || isSystemEvent(e)) continue;
        const stored = toStoredEvent(e);
        if (after && comparePositions(stored.position, after) <= 0) continue;
        events.push(stored);
        if (events.length >= maxCount) break;
      }
    } catch (err) {
      throw translateError(err);
    }
    return events;
  }

  async readByCorrelationKey(key: string): Promise<StoredEvent[]> {
    const all = await this.readAll();
    // Events written by other tools may carry no metadata at all.
    const keyOf = (e: StoredEvent) => e.metadata as Partial<EventMetadata> | null | undefined;
    return all.filter((e) => keyOf(e)?.caseId === key || keyOf(e)?.subject === key);
  }

  subscribeToAll(onEvents: (events: readonly StoredEvent[]) => Promise<void>, options: SubscribeOptions = {}): Subscription {
    const after: LogPosition | undefined = options.after;
    const source = this.#client.subscribeToAll({ fromPosition: after ?? FROM_START, filter: excludeSystemEvents() });
    let stopping = false;
    const stop = () => {
      stopping = true;
      void source.unsubscribe();
    };
    options.signal?.addEventListener("abort", stop, { once: true });
    if (options.signal?.aborted) stop();

    const done = (async () => {
      try {
        for await (const resolved of source as AsyncIterable<{ event?: AllStreamRecordedEvent }>) {
          if (stopping) break;
          const e = resolved.event;
          if (!e || isSystemEvent(e)) continue;
          const stored = toStoredEvent(e);
          // Whether the server starts inclusively or not, the checkpoint itself was already delivered.
          if (after && comparePositions(stored.position, after) <= 0) continue;
          await onEvents([stored]);
        }
      } catch (err) {
        if (!stopping) throw translateError(err);
      } finally {
        options.signal?.removeEventListener("abort", stop);
        await source.unsubscribe();
      }
    })();

    const subscription: Subscription = {
      done,
      async close() {
        stop();
        await done.catch(() => {});
      },
    };
    this.#subscriptions.add(subscription);
    const forget = () => this.#subscriptions.delete(subscription);
    void done.then(forget, forget);
    return subscription;
  }

  /** Ends the subscriptions and the client's connection: this store owns its client. */
  async close(): Promise<void> {
    await Promise.all([...this.#subscriptions].map((s) => s.close()));
    await this.#client.dispose();
  }
}
