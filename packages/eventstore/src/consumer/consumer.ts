import {
  cloudEventTypeOf,
  ContractCodec,
  ContractViolationError,
  fromKafkaHeaders,
  type CloudEventAttributes,
  type EventName,
  type EventPayloads,
} from "@shenguan/contracts";
import type { Batch, ConsumerConfig, EachBatchPayload, IHeaders, Kafka, KafkaMessage } from "kafkajs";
import type { Logger } from "pino";
import type { SqlExecutor, SqlQueryable } from "../postgres/executor.js";
import { backoffDelay, sleep, type BackoffOptions } from "../relay/backoff.js";
import { createProducer } from "../relay/kafka.js";
import { StoreUnavailableError } from "../errors.js";
import {
  claimAndStoreOffsetWith,
  claimInboxMany,
  inboxed,
  migrateConsumerTables,
  storedOffset,
  storeOffset,
  storeOffsets,
  type OffsetToStore,
  type WithQueries,
} from "./tables.js";

/** A decoded contract event as a projection sees it; switch on `name` to narrow `payload`. */
export type ConsumedEvent = {
  [N in EventName]: {
    readonly name: N;
    readonly payload: EventPayloads[N];
    readonly ce: CloudEventAttributes;
    readonly topic: string;
    readonly partition: number;
    readonly offset: string;
  };
}[EventName];

export interface ProjectionConsumerOptions {
  readonly kafka: Kafka;
  readonly groupId: string;
  readonly topics: readonly string[];
  /** The projection's name in consumer_offsets and consumer_inbox; what rebuildProjection() resets. */
  readonly name: string;
  /** The database of the read model. */
  readonly db: SqlExecutor;
  /** Applies one event to the read model through `tx`, the transaction that also records the offset. */
  readonly handle: (event: ConsumedEvent, tx: SqlQueryable) => Promise<void>;
  /**
   * Optional, projection mode only: applies a chunk of one partition's events
   * (in offset order, ce_ids distinct, each new to this consumer; under
   * `claimLate` not known to be new yet: see there) through
   * `tx`, with the same effect as `handle` on each in turn. Lets a projection
   * batch its statements over the chunk instead of a round trip per event per
   * statement. If it throws, the chunk rolls back whole and its messages are
   * applied one by one with `handle` (retries and dead-lettering as usual).
   */
  readonly handleChunk?: (events: readonly ConsumedEvent[], tx: SqlQueryable, bookkeeping?: ChunkBookkeeping) => Promise<void>;
  /**
   * With handleChunk: the chunk is handed over before its ce_ids are claimed,
   * with its bookkeeping (`bookkeeping`, a ChunkBookkeeping) for the handler
   * to run in its own last statement: a round trip fewer per chunk. The
   * consumer runs the bookkeeping itself after the handler when the handler
   * did not. Should any ce_id of the chunk have been applied before (a
   * redelivery), the transaction rolls back and the chunk goes the usual way,
   * claims first, so the handler must leave nothing outside `tx` that a
   * rollback would make wrong. Default false.
   */
  readonly claimLate?: boolean;
  /**
   * Optional, projection mode only: a chunk's effects as WITH queries of one
   * statement (parameters from `firstParam` on), which the consumer runs with
   * the chunk's claims and offset and no transaction around it: one round
   * trip for the chunk instead of four. The queries must apply only the
   * events whose ce_id the query named `claimed` lists (column ce_id; the
   * others were applied before) and, like `handle` on each in turn, in one
   * statement: so only chunks without two events on one row qualify.
   * Undefined for a chunk it cannot write that way: the chunk goes through
   * handleChunk (or `handle`) as usual. If the statement fails, its
   * messages are applied one by one with `handle`.
   */
  readonly chunkStatement?: (
    events: readonly ConsumedEvent[],
    at: { readonly claimed: string; readonly firstParam: number },
  ) => WithQueries | undefined;
  /**
   * "projection" (default): `handle` runs inside the transaction that records
   * the offset, so its writes through `tx` happen exactly once. "reactor": for
   * handlers whose effect is elsewhere (a command on the event store, through
   * its own connections): `handle` runs first, outside any transaction, and
   * the ce_id and offset are recorded after it succeeded. A crash in between
   * runs it again, so a reactor's handler must be idempotent (deciders that
   * return no events for a repeat are). On an embedded single-connection
   * database this is also what keeps a handler from waiting on its own
   * transaction.
   */
  readonly mode?: "projection" | "reactor";
  /**
   * The events `handle` acts on (default: all). Messages of other types, by
   * their ce_type header, are passed over undecoded: no handler call, no
   * inbox row, no transaction. The partition's offset moves past them with
   * the next chunk this consumer stores, or, when a fetched batch ends with
   * them, within `passedOverOffsetDelayMs`. A message whose ce_type is
   * missing is decoded as usual (and dead-lettered if it is bad).
   */
  readonly types?: readonly EventName[];
  /**
   * How long the offset past a fetched batch's trailing run of messages of
   * other `types` may wait to be stored (default 1000 ms; 0 stores it at
   * once). Those runs are most batches of a consumer that acts on few of a
   * topic's events, and storing each cost a round trip: over a run of the
   * loop bench, 29 % of the bus's consumer and relay statements. Waiting is safe: a
   * consumer that stops before it stored one reads those messages again and
   * passes them over again. The offsets of all partitions waiting go in one
   * statement; a chunk applied meanwhile stores a later one anyway. Runs
   * that hold a message passed over by ce_id (`passOver`) are stored at once:
   * their caller may forget those ids once passed.
   */
  readonly passedOverOffsetDelayMs?: number;
  /**
   * Messages this consumer knows to have no effect, by their ce_id header:
   * its own events' echoes, applied already in the transaction that emitted
   * them (linkage's pushes). They are passed over like messages of other
   * `types`: undecoded, no inbox row, no transaction. `has` must be pure
   * (it may be asked twice for one message); `passed` hears once, in order,
   * the ids of those actually passed over.
   */
  readonly passOver?: { has(ceId: string): boolean; passed(ceIds: readonly string[]): void };
  /** Most messages a projection applies in one transaction (default 200). */
  readonly chunkSize?: number;
  /** Partitions processed at once (default 1); needs as many database connections. */
  readonly partitionsConcurrently?: number;
  readonly logger: Logger;
  /** Attempts at an event whose handler throws before it is dead-lettered. */
  readonly maxAttempts?: number;
  /** Between those attempts; keep the total well under the group's session timeout. */
  readonly retryBackoff?: BackoffOptions;
  readonly codec?: ContractCodec;
  /** Further kafkajs consumer settings (session timeout, fetch sizes …). */
  readonly consumerConfig?: Omit<ConsumerConfig, "groupId">;
}

export interface ProjectionConsumerMetrics {
  readonly applied: number;
  /** Events skipped because this consumer had already applied their ce_id. */
  readonly duplicates: number;
  readonly deadLettered: number;
  /** Handler failures that were retried. */
  readonly handlerRetries: number;
  /** Messages of types outside `types`, passed over. */
  readonly passedOver: number;
  /**
   * Offsets past this consumer's position that Kafka no longer held when it
   * fetched them (deleted by the topic's retention or records deleted by
   * an operator): events missing from its read model. 0 on topics that keep
   * everything (FAMILY_TOPIC_CONFIG); anything else is logged as an error.
   */
  readonly missing: number;
}

export interface ProjectionConsumer {
  /** The projection's name (ProjectionConsumerOptions.name). */
  readonly name: string;
  metrics(): ProjectionConsumerMetrics;
  /** Finishes the event in hand, leaves the group and disconnects. */
  stop(): Promise<void>;
}

/**
 * A chunk's bookkeeping (its inbox claims and the partition's offset) for a
 * handleChunk under `claimLate` to run in a statement of its own.
 */
export interface ChunkBookkeeping {
  /**
   * The claims and the offset as WITH queries, parameters from `firstParam`
   * on; the query named `claimed` lists the ce_ids claimed now (column
   * ce_id); `written` names every query (each returns rows: AlongsideAppend.written).
   */
  queries(firstParam: number): WithQueries & { readonly claimed: string; readonly written: readonly string[] };
  /** Tells the consumer a statement ran `queries` and how many ce_ids it claimed (count(*) of `claimed`). */
  ran(claimed: number): void;
}

/** Dead-letter headers, added to the original message's own. */
export const DLQ_HEADER = {
  reason: "x-dlq-reason",
  sourceTopic: "x-dlq-source-topic",
  sourcePartition: "x-dlq-source-partition",
  sourceOffset: "x-dlq-source-offset",
  consumer: "x-dlq-consumer",
} as const;

/** `<topic>.dlq`: for a family topic that is deadLetterTopicOf(family), whatever the prefix; other topics follow the same rule. */
export function deadLetterTopicFor(topic: string): string {
  return `${topic}.dlq`;
}

/** Thrown by the user's handler, as opposed to by our own bookkeeping or the database connection. */
class HandlerError extends Error {}

/** A claimLate chunk held a ce_id applied before: its transaction rolls back and the chunk goes claims first. */
class AppliedBefore extends Error {}

/** The WITH query of a chunk's claimed ce_ids, in statements the consumer composes. */
const CLAIMED = "shenguan_claimed";

/**
 * Feeds a read model from Kafka with exactly-once effects: each event is
 * applied in one database transaction that also records its ce_id (inbox)
 * and the partition's next offset, and the consumer resumes from the offsets
 * in the database, never from Kafka's. Undecodable messages and events whose
 * handler keeps failing go to the dead-letter topic with the reason, and the
 * consumer carries on; nothing is skipped silently.
 */
export async function runProjectionConsumer(options: ProjectionConsumerOptions): Promise<ProjectionConsumer> {
  const { kafka, groupId, name, db, handle } = options;
  const maxAttempts = options.maxAttempts ?? 5;
  const retryBackoff = options.retryBackoff ?? { initialMs: 100, maxMs: 5_000 };
  const codec = options.codec ?? new ContractCodec();
  const chunkSize = options.chunkSize ?? 200;
  const logger = options.logger.child({ consumer: name, groupId });
  const counters = { applied: 0, duplicates: 0, deadLettered: 0, handlerRetries: 0, passedOver: 0, missing: 0 };
  const wanted = options.types === undefined ? undefined : new Set(options.types.map(cloudEventTypeOf));
  const headerOf = (message: KafkaMessage, name: string): string | undefined => {
    const header = message.headers?.[name];
    return Buffer.isBuffer(header) ? header.toString("utf8") : typeof header === "string" ? header : undefined;
  };
  /** The ce_id of a message passOver knows, if it does. */
  const knownNoOp = (message: KafkaMessage): string | undefined => {
    const id = options.passOver && headerOf(message, "ce_id");
    return id !== undefined && options.passOver!.has(id) ? id : undefined;
  };
  /** Whether the message's ce_type header names an event this consumer does not act on, or passOver knows it. */
  const passesOver = (message: KafkaMessage): boolean => {
    if (wanted !== undefined) {
      const type = headerOf(message, "ce_type");
      if (type !== undefined && !wanted.has(type)) return true;
    }
    return knownNoOp(message) !== undefined;
  };

  // A lone message of a projection with a shorter path for chunks (one statement, or claims in the
  // handler's last statement) takes it: 1 or 3 round trips instead of 4 (begin, claim, handler, commit).
  // On a fetched batch's tail or a quiet topic most chunks are of one. Should it fail, it goes the
  // message's way (retries, dead letter), as a chunk's messages do.
  const singleAsChunk =
    options.mode !== "reactor" &&
    (options.chunkStatement !== undefined || (options.claimLate === true && options.handleChunk !== undefined));

  await migrateConsumerTables(db);
  const deadLetters = createProducer(kafka);
  const consumer = kafka.consumer({ ...options.consumerConfig, groupId });

  // Next offset per partition of the current assignment, once the partition
  // has been positioned at the database's offset. Cleared on every
  // (re)assignment: a partition may come back after another member moved it.
  let positions = new Map<string, bigint>();
  consumer.on(consumer.events.GROUP_JOIN, () => {
    positions = new Map();
  });

  // Offsets past passed-over runs, waiting (passedOverOffsetDelayMs), by partition key. Stored whether
  // or not the partition is still assigned: an offset only ever moves forward (storeOffsets).
  const passedOverDelayMs = options.passedOverOffsetDelayMs ?? 1000;
  const waitingOffsets = new Map<string, OffsetToStore>();
  let storingWaiting: Promise<void> = Promise.resolve();
  const storeWaitingOffsets = (): Promise<void> =>
    (storingWaiting = storingWaiting.then(async () => {
      if (waitingOffsets.size === 0) return;
      const offsets = [...waitingOffsets];
      waitingOffsets.clear();
      try {
        await storeOffsets(
          db,
          name,
          offsets.map(([, o]) => o),
        );
      } catch (err) {
        // Kept for the next turn, unless a later offset of the partition came meanwhile.
        for (const [key, o] of offsets) if (!waitingOffsets.has(key)) waitingOffsets.set(key, o);
        logger.warn({ err, partitions: offsets.length }, "consumer: storing passed-over offsets failed; trying again later");
      }
    }));
  // Only a run passed over by type waits (one passed over by ce_id is stored at once): no timer without `types`.
  const waitingTimer =
    passedOverDelayMs > 0 && options.types !== undefined ? setInterval(() => void storeWaitingOffsets(), passedOverDelayMs) : undefined;
  waitingTimer?.unref();

  function decode(batch: Batch, message: KafkaMessage): ConsumedEvent {
    const ce = fromKafkaHeaders(message.headers);
    if (!message.value) throw new ContractViolationError("message", [{ path: "value", rule: "required", message: "has no value" }]);
    const { name: eventName, payload } = codec.decode(message.value);
    if (ce.type !== cloudEventTypeOf(eventName)) {
      throw new ContractViolationError("CloudEvents headers", [
        { path: "ce_type", rule: "cloudevents.type", message: `says ${ce.type} but the value is a ${cloudEventTypeOf(eventName)}` },
      ]);
    }
    return { name: eventName, payload, ce, topic: batch.topic, partition: batch.partition, offset: message.offset } as ConsumedEvent;
  }

  async function deadLetter(batch: Batch, message: KafkaMessage, reason: string): Promise<void> {
    const headers: IHeaders = {
      ...message.headers,
      [DLQ_HEADER.reason]: reason,
      [DLQ_HEADER.sourceTopic]: batch.topic,
      [DLQ_HEADER.sourcePartition]: String(batch.partition),
      [DLQ_HEADER.sourceOffset]: message.offset,
      [DLQ_HEADER.consumer]: name,
    };
    const topic = deadLetterTopicFor(batch.topic);
    await deadLetters.send({
      topic,
      acks: -1,
      messages: [{ key: message.key, value: message.value, headers, timestamp: message.timestamp }],
    });
    // Only once the DLQ has it may the offset pass it; a crash in between
    // dead-letters it twice, never zero times.
    await storeOffset(db, name, batch.topic, batch.partition, message.offset);
    counters.deadLettered++;
    logger.warn(
      { topic: batch.topic, partition: batch.partition, offset: message.offset, deadLetterTopic: topic, reason },
      "consumer: message dead-lettered",
    );
  }

  /** One attempt at an event; true if it was new to this consumer. HandlerError when `handle` threw. */
  async function attemptOnce(event: ConsumedEvent, topic: string, partition: number, offset: string): Promise<boolean> {
    const run = async (on: SqlQueryable) => {
      try {
        await handle(event, on);
      } catch (err) {
        throw new HandlerError(err instanceof Error ? err.message : String(err), { cause: err });
      }
    };
    // The claim and the offset in one statement. In a projection both come before the handler: readers of
    // the log wait for a transaction from its first append to its end, so an append should end it.
    const claimAndStore = async (tx: SqlQueryable) =>
      (await claimInboxMany(tx, name, topic, partition, [{ ceId: event.ce.id, offset }], offset)).has(event.ce.id);
    if (options.mode === "reactor") {
      if (!(await inboxed(db, name, [event.ce.id])).has(event.ce.id)) await run(db);
      return claimAndStore(db); // one statement: atomic without a transaction
    }
    return db.transaction(async (tx) => {
      const claimed = await claimAndStore(tx);
      if (claimed) await run(tx);
      return claimed;
    });
  }

  async function apply(batch: Batch, message: KafkaMessage, event: ConsumedEvent, heartbeat: () => Promise<void>): Promise<void> {
    const { topic, partition } = batch;
    for (let attempt = 1; ; attempt++) {
      try {
        const fresh = await attemptOnce(event, topic, partition, message.offset);
        if (fresh) counters.applied++;
        else counters.duplicates++;
        return;
      } catch (err) {
        // Bookkeeping failures (the database is down, say) are not the event's
        // fault: let kafkajs re-deliver from the last stored offset later.
        if (!(err instanceof HandlerError)) throw err;
        if (attempt >= maxAttempts) {
          // A handler that failed because the database went away is not a
          // bad event either: dead-letter only while the database answers.
          await db.query("select 1");
          await deadLetter(batch, message, `handler failed ${attempt} times: ${err.message}`);
          return;
        }
        counters.handlerRetries++;
        const delay = backoffDelay(attempt - 1, retryBackoff);
        logger.warn(
          { err: err.cause, eventId: event.ce.id, type: event.name, offset: message.offset, attempt, retryInMs: delay },
          "consumer: handler failed; retrying",
        );
        await heartbeat();
        await sleep(delay);
      }
    }
  }

  async function eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const key = `${topic}\u0000${partition}`;
    // This assignment's map: should a rebalance happen mid-batch, what this
    // batch learns must not leak into the next assignment's positions.
    const assignment = positions;
    let next = assignment.get(key);
    if (next === undefined) {
      // First batch since this partition was assigned: Kafka fetched from its
      // own idea of the position; the database's is the one that counts.
      next = BigInt((await storedOffset(db, name, topic, partition)) ?? "0");
      assignment.set(key, next);
      if (BigInt(batch.firstOffset() ?? "0") !== next) {
        // Out of range (below the log's start: deleted) falls back to the earliest offset, as subscribed; the gap is reported below.
        consumer.seek({ topic, partition, offset: String(next) });
        logger.info({ topic, partition, offset: String(next) }, "consumer: positioned partition at the stored offset");
        return;
      }
    }
    // Messages fetched before a seek took effect are already applied.
    const pending = batch.messages.filter((m) => BigInt(m.offset) >= next!);
    // Offsets run without gaps on the bus's topics (the relay writes no transactions), so a first message
    // beyond the position means Kafka deleted messages this consumer never applied: when its position was
    // below the log's start, kafkajs answered "offset out of range" by fetching from the start. Not
    // recoverable here; said as what it is, with the offsets, instead of passing silently.
    const gap = pending[0] === undefined ? 0 : Number(BigInt(pending[0].offset) - next);
    if (gap > 0) {
      counters.missing += gap;
      logger.error(
        { topic, partition, fromOffset: String(next), toOffset: String(next + BigInt(gap) - 1n), missing: gap },
        "consumer: messages this consumer never applied are gone from Kafka (the topic's retention deleted them): their events are missing from the read model",
      );
    }
    for (let i = 0; i < pending.length;) {
      if (!isRunning() || isStale()) return;
      let skipped = 0;
      while (i + skipped < pending.length && passesOver(pending[i + skipped]!)) skipped++;
      if (skipped > 0) {
        let byCeId = false;
        if (options.passOver) {
          const known = pending.slice(i, i + skipped).flatMap((m) => knownNoOp(m) ?? []);
          if (known.length > 0) options.passOver.passed(known);
          byCeId = known.length > 0;
        }
        i += skipped;
        counters.passedOver += skipped;
        const last = pending[i - 1]!.offset;
        next = BigInt(last) + 1n;
        assignment.set(key, next);
        resolveOffset(last);
        // Followed by a chunk in this batch: that chunk's transaction stores a later offset anyway.
        if (i === pending.length) {
          if (waitingTimer !== undefined && !byCeId) waitingOffsets.set(key, { topic, partition, offset: last });
          else await storeOffset(db, name, topic, partition, last);
        }
        await heartbeat();
        continue;
      }
      // A projection applies a run of decodable messages in one transaction:
      // one commit and one offset write per chunk instead of per message.
      // A run of one goes the chunk's way too where that is shorter.
      const chunk = decodableRun(batch, pending, i, chunkSize);
      const done =
        chunk.length > 1 || (chunk.length === 1 && singleAsChunk)
          ? await (options.mode === "reactor" ? reactToChunk(batch, chunk) : applyChunk(batch, chunk))
          : 0;
      if (done > 0) {
        i += done;
      } else {
        await processMessage(batch, pending[i]!, heartbeat);
        i += 1;
      }
      const last = pending[i - 1]!.offset;
      next = BigInt(last) + 1n;
      assignment.set(key, next);
      resolveOffset(last);
      // What was applied stored its offset, later than any waiting one.
      waitingOffsets.delete(key);
      await heartbeat();
    }
  }

  /** The decodable messages from `start` on, up to the first undecodable one (which goes to the DLQ on its own). */
  function decodableRun(
    batch: Batch,
    messages: readonly KafkaMessage[],
    start: number,
    max: number,
  ): Array<{ message: KafkaMessage; event: ConsumedEvent }> {
    const run: Array<{ message: KafkaMessage; event: ConsumedEvent }> = [];
    for (let j = start; j < messages.length && run.length < max; j++) {
      if (passesOver(messages[j]!)) break;
      try {
        run.push({ message: messages[j]!, event: decode(batch, messages[j]!) });
      } catch {
        break;
      }
    }
    return run;
  }

  /**
   * Applies a chunk in one transaction; returns how many messages it took.
   * 0 when a handler failed: the transaction rolled back whole, and the caller
   * retries message by message, so one bad event is retried and dead-lettered alone.
   */
  async function applyChunk(batch: Batch, chunk: ReadonlyArray<{ message: KafkaMessage; event: ConsumedEvent }>): Promise<number> {
    try {
      const fresh = await applyChunkOnce(batch, chunk);
      counters.applied += fresh;
      counters.duplicates += chunk.length - fresh;
      return chunk.length;
    } catch (err) {
      if (!(err instanceof HandlerError)) throw err;
      counters.handlerRetries++; // the chunk's messages are retried one by one
      logger.warn(
        { err: err.cause, topic: batch.topic, partition: batch.partition, size: chunk.length },
        "consumer: a handler failed in a chunk; applying its messages one by one",
      );
      return 0;
    }
  }

  /**
   * The chunk by the shortest path its options allow: where its ce_ids are
   * distinct, one statement (chunkStatement) or claims last (claimLate,
   * unless an event was applied before); else claims first. How many events
   * were new.
   */
  async function applyChunkOnce(batch: Batch, chunk: ReadonlyArray<{ message: KafkaMessage; event: ConsumedEvent }>): Promise<number> {
    const distinct = new Set(chunk.map((c) => c.event.ce.id)).size === chunk.length;
    const statement = distinct ? chunkStatementOf(chunk) : undefined;
    if (statement) return applyChunkInOneStatement(batch, chunk, statement);
    const late =
      distinct && options.claimLate && options.handleChunk ? await applyChunkClaimingLate(batch, chunk, options.handleChunk) : undefined;
    // Without a batch path the events still share the chunk's one claim statement, then go to `handle` in order.
    return late ?? db.transaction((tx) => applyChunkWhole(batch, chunk, tx, options.handleChunk ?? handleInTurn));
  }

  /** The projection's statement for the chunk (chunkStatement), its parameters after the bookkeeping's six. */
  function chunkStatementOf(chunk: ReadonlyArray<{ message: KafkaMessage; event: ConsumedEvent }>): WithQueries | undefined {
    if (!options.chunkStatement) return undefined;
    try {
      return options.chunkStatement(
        chunk.map((c) => c.event),
        { claimed: CLAIMED, firstParam: 7 },
      );
    } catch (err) {
      throw new HandlerError(err instanceof Error ? err.message : String(err), { cause: err });
    }
  }

  /** The chunk's inbox claims: each message's ce_id and offset. */
  const claimsOf = (chunk: ReadonlyArray<{ message: KafkaMessage; event: ConsumedEvent }>) =>
    chunk.map(({ message, event }) => ({ ceId: event.ce.id, offset: message.offset }));

  /** claimInboxMany for the chunk, with its offset: the ce_ids claimed now. */
  const claimChunk = (tx: SqlQueryable, batch: Batch, chunk: ReadonlyArray<{ message: KafkaMessage; event: ConsumedEvent }>) =>
    claimInboxMany(tx, name, batch.topic, batch.partition, claimsOf(chunk), chunk[chunk.length - 1]!.message.offset);

  /** The chunk's claims and offset as WITH queries from parameter `firstParam` on (claimAndStoreOffsetWith). */
  function bookkeepingOf(batch: Batch, chunk: ReadonlyArray<{ message: KafkaMessage; event: ConsumedEvent }>, firstParam: number) {
    return claimAndStoreOffsetWith(
      name,
      batch.topic,
      batch.partition,
      claimsOf(chunk),
      chunk[chunk.length - 1]!.message.offset,
      CLAIMED,
      firstParam,
    );
  }

  /**
   * chunkStatement's path: the claims, the offset and the projection's
   * queries in one statement, no transaction; how many events it applied. A
   * statement that fails wrote nothing: a HandlerError (the database out of
   * reach aside), so that the caller applies its messages one by one and a
   * bad event is retried and dead-lettered alone.
   */
  async function applyChunkInOneStatement(
    batch: Batch,
    chunk: ReadonlyArray<{ message: KafkaMessage; event: ConsumedEvent }>,
    statement: WithQueries,
  ): Promise<number> {
    const bookkeeping = bookkeepingOf(batch, chunk, 1);
    try {
      const { rows } = await db.query<{ claimed: number }>(
        `with ${bookkeeping.with}, ${statement.with} select count(*)::int as claimed from ${CLAIMED}`,
        [...bookkeeping.params, ...statement.params],
      );
      return Number(rows[0]!.claimed);
    } catch (err) {
      if (err instanceof StoreUnavailableError) throw err;
      throw new HandlerError(err instanceof Error ? err.message : String(err), { cause: err });
    }
  }

  /**
   * claimLate's path: the handler first, with the bookkeeping for its last
   * statement (or run here after it), in one transaction. The number of
   * events applied, or undefined when a ce_id of the chunk was applied before:
   * then nothing of it was written, and the chunk goes claims first.
   */
  async function applyChunkClaimingLate(
    batch: Batch,
    chunk: ReadonlyArray<{ message: KafkaMessage; event: ConsumedEvent }>,
    handleChunk: NonNullable<ProjectionConsumerOptions["handleChunk"]>,
  ): Promise<number | undefined> {
    try {
      return await db.transaction(async (tx) => {
        let claimed: number | undefined;
        const bookkeeping: ChunkBookkeeping = {
          queries: (firstParam) => ({ ...bookkeepingOf(batch, chunk, firstParam), claimed: CLAIMED }),
          ran: (count) => void (claimed = count),
        };
        try {
          await handleChunk(
            chunk.map((c) => c.event),
            tx,
            bookkeeping,
          );
        } catch (err) {
          // The handler's last statement may carry the bookkeeping: the database gone is not the events' fault.
          if (err instanceof StoreUnavailableError) throw err;
          throw new HandlerError(err instanceof Error ? err.message : String(err), { cause: err });
        }
        claimed ??= (await claimChunk(tx, batch, chunk)).size;
        if (claimed !== chunk.length) throw new AppliedBefore();
        return claimed;
      });
    } catch (err) {
      if (err instanceof AppliedBefore) return undefined;
      throw err;
    }
  }

  async function handleInTurn(events: readonly ConsumedEvent[], tx: SqlQueryable): Promise<void> {
    for (const event of events) await handle(event, tx);
  }

  /** handleChunk's path: the chunk's ce_ids claimed in one statement, the new events handed over together. */
  async function applyChunkWhole(
    batch: Batch,
    chunk: ReadonlyArray<{ message: KafkaMessage; event: ConsumedEvent }>,
    tx: SqlQueryable,
    handleChunk: NonNullable<ProjectionConsumerOptions["handleChunk"]>,
  ): Promise<number> {
    // The claims and the chunk's offset in one statement, before the handler, in the same transaction:
    // readers of the log wait for a transaction from its first append to its end, so a handler that
    // appends should have as little as possible after it.
    const claimed = await claimChunk(tx, batch, chunk);
    // An event published twice within one chunk is claimed once: its first delivery is the one applied.
    const events: ConsumedEvent[] = [];
    for (const { event } of chunk) {
      if (claimed.delete(event.ce.id)) events.push(event);
    }
    if (events.length > 0) {
      try {
        await handleChunk(events, tx);
      } catch (err) {
        throw new HandlerError(err instanceof Error ? err.message : String(err), { cause: err });
      }
    }
    return events.length;
  }

  /**
   * A reactor's chunk: one inbox look-up, the handlers (outside any
   * transaction, as reactors must be idempotent), then one statement
   * recording the ce_ids and the offset of the run that succeeded.
   *
   * Messages of one key (one subject: the relay keys by it) are handled in
   * order, messages of different keys at once. Their commands then meet in
   * the store's group commits (one read and one append for many) and their
   * signatures in one batch, instead of three round trips and a signature
   * per message in turn. On a failure, what follows it in the chunk is not
   * recorded, even if it ran: the caller retries the failing message on its
   * own and the rest after it, which changes nothing for those that ran.
   */
  async function reactToChunk(batch: Batch, chunk: ReadonlyArray<{ message: KafkaMessage; event: ConsumedEvent }>): Promise<number> {
    const seen = await inboxed(
      db,
      name,
      chunk.map((c) => c.event.ce.id),
    );
    const succeeded = chunk.map((c) => seen.has(c.event.ce.id));
    const bySubject = new Map<string, number[]>();
    chunk.forEach((c, i) => {
      if (succeeded[i]) return;
      const key = c.message.key === null ? "" : c.message.key.toString("latin1");
      const run = bySubject.get(key);
      if (run === undefined) bySubject.set(key, [i]);
      else run.push(i);
    });
    await Promise.all(
      [...bySubject.values()].map(async (run) => {
        for (const i of run) {
          const c = chunk[i]!;
          try {
            await handle(c.event, db);
            succeeded[i] = true;
          } catch (err) {
            counters.handlerRetries++;
            logger.warn(
              { err, eventId: c.event.ce.id, type: c.event.name, offset: c.message.offset },
              "consumer: handler failed; retrying on its own",
            );
            return; // the subject's later messages wait for this one
          }
        }
      }),
    );
    const failed = succeeded.indexOf(false);
    const done = failed === -1 ? chunk : chunk.slice(0, failed);
    if (done.length === 0) return 0;
    // One statement, so atomic without a transaction around it.
    const claims = done.map(({ message, event }) => ({ ceId: event.ce.id, offset: message.offset }));
    const fresh = (await claimInboxMany(db, name, batch.topic, batch.partition, claims, done[done.length - 1]!.message.offset)).size;
    counters.applied += fresh;
    counters.duplicates += done.length - fresh;
    return done.length;
  }

  async function processMessage(batch: Batch, message: KafkaMessage, heartbeat: () => Promise<void>): Promise<void> {
    let event: ConsumedEvent;
    try {
      event = decode(batch, message);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      await deadLetter(batch, message, `${typeof code === "string" ? code : "decode"}: ${(err as Error).message}`);
      return;
    }
    await apply(batch, message, event, heartbeat);
  }

  await deadLetters.connect();
  try {
    await consumer.connect();
    // fromBeginning only decides where a partition without any stored offset starts.
    await consumer.subscribe({ topics: [...options.topics], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Partitions are independent (one subject's events share a partition),
      // so a projection may apply several at once on separate connections.
      partitionsConsumedConcurrently: options.partitionsConcurrently ?? 1,
      eachBatch,
    });
  } catch (err) {
    clearInterval(waitingTimer);
    await consumer.disconnect().catch(() => undefined);
    await deadLetters.disconnect().catch(() => undefined);
    throw err;
  }
  logger.info({ topics: options.topics }, "consumer: running");

  return {
    name,
    metrics: () => ({ ...counters }),
    async stop() {
      await consumer.disconnect();
      clearInterval(waitingTimer);
      await storeWaitingOffsets();
      await deadLetters.disconnect();
      logger.info(counters, "consumer: stopped");
    },
  };
}
