import {
  catalog,
  cloudEventTypeOf,
  ContractCodec,
  DEFAULT_TOPIC_PREFIX,
  fromKafkaHeaders,
  sourceOf,
  toKafkaHeaders,
  topicOfEvent,
  type EventName,
} from "@shenguan/contracts";
import type { Kafka, Message, Producer, TopicMessages } from "kafkajs";
import type { Logger } from "pino";
import { formatPosition, type EventStore, type LogPosition, type StoredEvent } from "../port.js";
import { backoffDelay, DEFAULT_BACKOFF, sleep, type BackoffOptions } from "./backoff.js";
import type { CheckpointStore, ParkedEvent, SqlCheckpointStore } from "./checkpoints.js";
import { validatePayloadFast } from "./fast-validate.js";
import { createProducer } from "./kafka.js";

export interface RelayOptions {
  readonly store: EventStore;
  readonly kafka: Kafka;
  readonly checkpoints: CheckpointStore;
  readonly logger: Logger;
  /** Checkpoint key: one per relay deployment reading one store. */
  readonly name?: string;
  /**
   * Events read, produced and checkpointed together. It bounds the duplicates
   * a crash can cause (the unacknowledged batch is produced again); a batch
   * of more bytes than maxMessageBytes is sent in parts.
   */
  readonly batchSize?: number;
  readonly backoff?: BackoffOptions;
  /** Topic namespace (`<prefix>.<family>.v1`), for deployments sharing a cluster. */
  readonly topicPrefix?: string;
  readonly codec?: ContractCodec;
  /**
   * Most bytes of messages the relay sends in one produce call (default
   * DEFAULT_MAX_MESSAGE_BYTES). Keep it under the broker's (or topic's)
   * message.max.bytes, the most one partition's batch of records may hold:
   * a bigger batch is sent in parts, and an event whose message alone is
   * bigger is parked with the reason. Without it, one such batch was
   * refused by the broker at every retry and held up every event after it.
   */
  readonly maxMessageBytes?: number;
}

export interface RelayMetrics {
  /** Messages Kafka acknowledged. */
  readonly published: number;
  /** Events whose type is not a contract: internal to their service, never published. */
  readonly skippedInternal: number;
  /** Contract events that failed validation or encoding: recorded, never published. */
  readonly parked: number;
  /** Failed attempts (Kafka, checkpoint store or subscription) that were retried. */
  readonly retries: number;
  /** The durable checkpoint, `commit/prepare`; undefined before the first one. */
  readonly checkpoint: string | undefined;
}

/** A message to send, with its topic and the event it carries (parked should Kafka refuse the message itself). */
interface Outgoing {
  readonly topic: string;
  readonly message: Message;
  readonly event: StoredEvent;
}

interface PreparedBatch {
  /** Where the checkpoint goes once the batch is acknowledged: its last event, published or not. */
  readonly last: LogPosition;
  /** The batch's messages in log order, in parts of at most maxMessageBytes, sent one after the other. */
  readonly parts: Outgoing[][];
  readonly messages: number;
  readonly parked: readonly ParkedEvent[];
  readonly skippedInternal: number;
}

export const DEFAULT_RELAY_NAME = "kafka";
export const DEFAULT_RELAY_BATCH_SIZE = 256;
/** Under Kafka's default message.max.bytes (1,048,588), with room for the record batch's own framing. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_000_000;

/**
 * Publishes the store's contract events to Kafka (transactional outbox: the
 * store's global log is the outbox). At-least-once: the checkpoint moves only
 * after Kafka acknowledged a batch (acks=all), so a crash re-publishes at
 * most the batch in flight and the one before it (whose checkpoint is stored
 * while the next is sent), and consumers deduplicate on ce_id. Every event
 * of a stream keeps its key (metadata.subject ?? stream) and goes through the
 * one producer in log order, so per-key order holds on Kafka.
 */
export class Relay {
  private readonly name: string;
  private readonly batchSize: number;
  private readonly backoff: BackoffOptions;
  private readonly topicPrefix: string;
  private readonly codec: ContractCodec;
  private readonly maxMessageBytes: number;
  private readonly logger: Logger;
  private readonly abort = new AbortController();
  private producer: Producer | undefined;
  /** The batch being sent to Kafka, if any. */
  private inFlight: Promise<void> = Promise.resolve();
  /** The checkpoints of acknowledged batches being stored, in order. */
  private checkpointing: Promise<void> = Promise.resolve();
  /** Consecutive failed subscriptions, for the backoff; reset by every batch that gets through. */
  private subscriptionFailures = 0;
  private running: Promise<void> | undefined;
  private counters = { published: 0, skippedInternal: 0, parked: 0, retries: 0 };
  private checkpoint: LogPosition | undefined;

  constructor(private readonly options: RelayOptions) {
    this.name = options.name ?? DEFAULT_RELAY_NAME;
    this.batchSize = options.batchSize ?? DEFAULT_RELAY_BATCH_SIZE;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.topicPrefix = options.topicPrefix ?? DEFAULT_TOPIC_PREFIX;
    this.codec = options.codec ?? new ContractCodec();
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.logger = options.logger.child({ relay: this.name });
  }

  /** Starts relaying in the background; `done` settles when it stops. */
  start(): void {
    this.running ??= this.run();
  }

  /** Resolves when the relay has stopped after stop(); rejects only on a bug (every outage is retried). */
  get done(): Promise<void> {
    if (!this.running) throw new Error("relay not started");
    return this.running;
  }

  /** Finishes (or abandons, when Kafka is down) the batch in flight, then disconnects. Nothing acknowledged is lost either way. */
  async stop(): Promise<void> {
    this.abort.abort(new Error("relay stopping"));
    await this.running;
  }

  metrics(): RelayMetrics {
    return { ...this.counters, checkpoint: this.checkpoint && formatPosition(this.checkpoint) };
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    try {
      // A subscription ends only when the store fails or we stop; after a
      // failure resume from the durable checkpoint, which is exactly where
      // the last acknowledged batch ended once the batch in flight is done.
      while (!signal.aborted) {
        try {
          await this.inFlight;
          await this.checkpointing;
          this.checkpoint = await this.retrying("load the checkpoint", () => this.options.checkpoints.load(this.name));
          this.logger.info({ checkpoint: this.checkpoint && formatPosition(this.checkpoint) }, "relay: subscribing to the store");
          const subscription = this.options.store.subscribeToAll((events) => this.relayBatch(events), {
            ...(this.checkpoint ? { after: this.checkpoint } : {}),
            batchSize: this.batchSize,
            signal,
          });
          await subscription.done;
        } catch (err) {
          if (signal.aborted) break;
          this.counters.retries++;
          const delay = backoffDelay(this.subscriptionFailures++, this.backoff);
          this.logger.error({ err, retryInMs: delay }, "relay: store subscription failed; resuming from the checkpoint");
          await sleep(delay, signal).catch(() => undefined);
        }
      }
    } finally {
      await this.inFlight.catch(() => undefined);
      await this.checkpointing.catch(() => undefined);
      await this.dropProducer();
      this.logger.info(this.metrics(), "relay: stopped");
    }
  }

  /**
   * Called by the subscription for each batch. It returns as soon as the
   * batch is prepared and handed to Kafka, so that the store is read and the
   * next batch encoded while this one travels. A batch is sent once the
   * previous one is acknowledged, and its checkpoint stored while the next
   * one travels (a round trip to the database off the path between two
   * sends), so Kafka holds at most two batches the checkpoint has not
   * passed: all a crash can publish again.
   */
  private async relayBatch(events: readonly StoredEvent[]): Promise<void> {
    const prepared = this.prepare(events);
    await this.inFlight;
    this.inFlight = this.publish(prepared);
    // Awaited by the next batch or by run(); marked handled so that an abort
    // in between is not reported as an unhandled rejection.
    this.inFlight.catch(() => undefined);
  }

  private prepare(events: readonly StoredEvent[]): PreparedBatch {
    const parts: Outgoing[][] = [];
    let part: Outgoing[] = [];
    let partBytes = 0;
    const parked: ParkedEvent[] = [];
    let skippedInternal = 0;
    let messages = 0;
    for (const event of events) {
      if (!isContract(event.type)) {
        skippedInternal++;
        continue;
      }
      try {
        const { topic, message, bytes } = publishable(event, event.type, this.codec, this.topicPrefix, this.maxMessageBytes);
        // Parts go out one after the other, so a key's messages keep their log order across them.
        if (partBytes + bytes > this.maxMessageBytes && part.length > 0) {
          parts.push(part);
          part = [];
          partBytes = 0;
        }
        part.push({ topic, message, event });
        partBytes += bytes;
        messages++;
      } catch (err) {
        this.park(parked, event, err instanceof Error ? err.message : String(err));
      }
    }
    if (part.length > 0) parts.push(part);
    return { last: events.at(-1)!.position, parts, messages, parked, skippedInternal };
  }

  private park(parked: ParkedEvent[], event: StoredEvent, reason: string): void {
    parked.push({ eventId: event.id, position: event.position, type: event.type, reason, stream: event.stream });
    this.logger.error(
      { eventId: event.id, type: event.type, stream: event.stream, position: formatPosition(event.position), reason },
      "relay: event cannot be published (its contract, its size, or the broker refused it); parked, not published",
    );
  }

  private async publish(batch: PreparedBatch): Promise<void> {
    const { last, parts, skippedInternal } = batch;
    const parked = [...batch.parked];
    let messages = batch.messages;
    for (const part of parts) messages -= await this.send(part, parked);
    this.counters.published += messages;
    this.counters.skippedInternal += skippedInternal;
    this.counters.parked += parked.length;
    this.subscriptionFailures = 0;
    // Only now, with the batch acknowledged, may the checkpoint pass it; after the one before it, never over it.
    const previous = this.checkpointing;
    this.checkpointing = (async () => {
      await previous;
      await this.retrying("store the checkpoint", () => this.options.checkpoints.commit(this.name, last, parked));
      this.checkpoint = last;
    })();
    this.checkpointing.catch(() => undefined);
    // The next send waits for this checkpoint only if the one before it is still being stored: at most two behind.
    await previous;
  }

  /**
   * Sends one part; how many of its messages were parked instead. Outages
   * are retried. A refusal of the records themselves (RECORD_REFUSALS: too
   * large, a timestamp outside the topic's bounds, an invalid record) would
   * be refused again at every retry and hold up everything behind it: the
   * part is sent in halves, in order, down to the message refused, whose
   * event is parked with the broker's reason. Halves may repeat messages of
   * partitions the refused request did write; consumers drop those by ce_id.
   */
  private async send(part: readonly Outgoing[], parked: ParkedEvent[]): Promise<number> {
    const topicMessages = byTopic(part);
    try {
      await this.retrying(
        "publish a batch to Kafka",
        async () => {
          this.producer ??= await this.connectProducer();
          await this.producer.sendBatch({ topicMessages, acks: -1 });
        },
        // After a failure start a fresh producer session: kafkajs may hold
        // sequence numbers the broker no longer agrees with, and a new
        // producer id can only cost a re-send of this very batch.
        () => this.dropProducer(),
        recordRefusal,
      );
      return 0;
    } catch (err) {
      const refusal = recordRefusal(err);
      if (refusal === undefined) throw err;
      if (part.length === 1) {
        this.park(parked, part[0]!.event, `Kafka refused its message: ${refusal}`);
        return 1;
      }
      const half = Math.ceil(part.length / 2);
      return (await this.send(part.slice(0, half), parked)) + (await this.send(part.slice(half), parked));
    }
  }

  /**
   * Runs `attempt` until it succeeds or the relay stops, backing off (capped)
   * and logging each failure; a failure `final` names is thrown at once.
   */
  private async retrying<T>(
    what: string,
    attempt: () => Promise<T>,
    afterFailure?: () => Promise<void>,
    final?: (err: unknown) => string | undefined,
  ): Promise<T> {
    const signal = this.abort.signal;
    for (let failures = 0; ; failures++) {
      try {
        return await attempt();
      } catch (err) {
        if (signal.aborted) throw err;
        if (final?.(err) !== undefined) {
          await afterFailure?.();
          throw err;
        }
        this.counters.retries++;
        await afterFailure?.();
        const delay = backoffDelay(failures, this.backoff);
        this.logger.warn({ err, failures: failures + 1, retryInMs: delay }, `relay: failed to ${what}; retrying`);
        await sleep(delay, signal);
      }
    }
  }

  private async connectProducer(): Promise<Producer> {
    const producer = createProducer(this.options.kafka);
    try {
      await producer.connect();
      return producer;
    } catch (err) {
      await producer.disconnect().catch(() => undefined);
      throw err;
    }
  }

  private async dropProducer(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await producer?.disconnect().catch((err: unknown) => this.logger.debug({ err }, "relay: producer disconnect failed"));
  }
}

/**
 * The Kafka message of a contract event: validated, then Avro-encoded;
 * CloudEvents binary-mode headers; keyed by subject. Throws for an event that
 * breaks its contract (the relay parks it).
 */
export function toKafkaMessage(
  event: StoredEvent,
  name: EventName,
  codec: ContractCodec,
  topicPrefix: string = DEFAULT_TOPIC_PREFIX,
): { topic: string; message: Message } {
  // Validate before encoding: Avro alone would accept a malformed USCC or date.
  // validatePayloadFast accepts exactly what validatePayload does (see there).
  const value = codec.encode(name, validatePayloadFast(name, event.data));
  const subject = event.metadata.subject ?? event.stream;
  const headers = toKafkaHeaders({
    id: event.id,
    source: sourceOf(event.metadata.department),
    type: cloudEventTypeOf(name),
    specversion: "1.0",
    time: event.time.toISOString(),
    subject,
    ...(event.metadata.traceparent ? { traceparent: event.metadata.traceparent } : {}),
  });
  // The consumer-side check, applied here so that nothing a consumer would
  // dead-letter for its headers (say an empty subject) is ever published.
  fromKafkaHeaders(headers);
  return { topic: topicOfEvent(name, topicPrefix), message: { key: subject, value, headers, timestamp: String(event.time.getTime()) } };
}

export interface RepublishReport {
  /** Events published now, their parked records forgotten. */
  readonly published: readonly string[];
  /** Events still refused (or not found), with why; their records stay. */
  readonly stillParked: ReadonlyArray<{ readonly eventId: string; readonly reason: string }>;
}

/**
 * An operator's second try at parked events (all, or `eventIds`), once what
 * refused them has changed: a clock put right, a topic's limits raised, a
 * contract that now accepts the event. Each is read again from its stream,
 * checked and encoded as the relay does, and sent on its own; one that gets
 * through is forgotten from relay_parked, one that does not stays with the
 * new reason reported. An outage throws (nothing is forgotten that was not
 * sent). A republished event reaches Kafka after events of its stream that
 * came later in the log: consumers see it late, not twice.
 */
export async function republishParked(options: {
  readonly store: EventStore;
  readonly kafka: Kafka;
  readonly checkpoints: SqlCheckpointStore;
  readonly eventIds?: readonly string[];
  readonly topicPrefix?: string;
  readonly maxMessageBytes?: number;
  readonly codec?: ContractCodec;
}): Promise<RepublishReport> {
  const codec = options.codec ?? new ContractCodec();
  const max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const published: string[] = [];
  const stillParked: Array<{ eventId: string; reason: string }> = [];
  const producer = createProducer(options.kafka);
  await producer.connect();
  try {
    for (const p of await options.checkpoints.parked(options.eventIds)) {
      const event = p.stream === undefined ? undefined : (await options.store.readStream(p.stream)).find((e) => e.id === p.eventId);
      if (!event || !isContract(event.type)) {
        stillParked.push({ eventId: p.eventId, reason: p.stream === undefined ? "parked without its stream's name" : "not in its stream" });
        continue;
      }
      let prepared: { topic: string; message: Message };
      try {
        prepared = publishable(event, event.type, codec, options.topicPrefix, max);
      } catch (err) {
        stillParked.push({ eventId: p.eventId, reason: err instanceof Error ? err.message : String(err) });
        continue;
      }
      try {
        await producer.send({ topic: prepared.topic, messages: [prepared.message], acks: -1 });
      } catch (err) {
        const refusal = recordRefusal(err);
        // An outage is not the event's doing: stop here, leaving this record and the rest as they were.
        if (refusal === undefined) throw err;
        stillParked.push({ eventId: p.eventId, reason: `Kafka refused its message: ${refusal}` });
        continue;
      }
      await options.checkpoints.unpark(p.eventId);
      published.push(p.eventId);
    }
  } finally {
    await producer.disconnect();
  }
  return { published, stillParked };
}

/** Kafka's refusals of the records a produce request carried, as opposed to outages: retrying the same records cannot help. */
const RECORD_REFUSALS = new Set(["MESSAGE_TOO_LARGE", "RECORD_LIST_TOO_LARGE", "INVALID_TIMESTAMP", "INVALID_RECORD"]);

/** The refusal among `err` and what it wraps (kafkajs nests a partition's error in retry and aggregate errors), as "TYPE: message". */
function recordRefusal(err: unknown, depth = 0): string | undefined {
  if (typeof err !== "object" || err === null || depth > 4) return undefined;
  const e = err as { type?: unknown; message?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown };
  if (typeof e.type === "string" && RECORD_REFUSALS.has(e.type)) return `${e.type}: ${String(e.message)}`;
  for (const inner of [e.cause, e.originalError, ...(Array.isArray(e.errors) ? e.errors : [])]) {
    const found = recordRefusal(inner, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** A part's messages as sendBatch takes them: by topic, each topic's in order. */
function byTopic(part: readonly Outgoing[]): TopicMessages[] {
  const grouped = new Map<string, Message[]>();
  for (const { topic, message } of part) {
    const messages = grouped.get(topic);
    if (messages) messages.push(message);
    else grouped.set(topic, [message]);
  }
  return [...grouped].map(([topic, messages]) => ({ topic, messages }));
}

/** toKafkaMessage, refused (thrown, with the reason) when the message alone is over `maxBytes`; with its size. */
function publishable(event: StoredEvent, name: EventName, codec: ContractCodec, topicPrefix: string | undefined, maxBytes: number) {
  const { topic, message } = toKafkaMessage(event, name, codec, topicPrefix);
  const bytes = messageBytes(message);
  if (bytes > maxBytes) {
    throw new Error(`its Kafka message would be ${bytes} bytes, more than the ${maxBytes} one message may hold (message.max.bytes)`);
  }
  return { topic, message, bytes };
}

/** What a message adds to a produce request's batch of records: key, value, headers, and a record's own framing. */
function messageBytes(message: Message): number {
  let bytes = 32 + byteLength(message.key) + byteLength(message.value);
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    bytes += Buffer.byteLength(name) + (Array.isArray(value) ? value.reduce((n: number, v) => n + byteLength(v), 0) : byteLength(value));
  }
  return bytes;
}

const byteLength = (v: string | Buffer | null | undefined): number =>
  v == null ? 0 : typeof v === "string" ? Buffer.byteLength(v) : v.length;

export function isContract(type: string): type is EventName {
  return Object.hasOwn(catalog, type);
}
