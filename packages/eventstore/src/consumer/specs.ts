import { deadLetterTopicOf, families, topicOf, type EventName, type Family } from "@shenguan/contracts";
import type { Kafka } from "kafkajs";
import type { Logger } from "pino";
import type { SqlExecutor, SqlQueryable } from "../postgres/executor.js";
import {
  runProjectionConsumer,
  type ChunkBookkeeping,
  type ConsumedEvent,
  type ProjectionConsumer,
  type ProjectionConsumerOptions,
} from "./consumer.js";

/**
 * What a service consumes, declared by the service and run by whichever
 * process hosts it (its own server.ts or the all-in-one bus).
 */
export interface ConsumerSpec {
  /** Unique per service: the projection name in consumer_offsets and the Kafka group suffix. */
  readonly name: string;
  readonly families: readonly Family[];
  /** The events `handle` acts on; others on its topics are passed over undecoded (ProjectionConsumerOptions.types). Default: all. */
  readonly types?: readonly EventName[];
  /** See ProjectionConsumerOptions.mode: read models are "projection", command-issuing reactions "reactor". */
  readonly mode: "projection" | "reactor";
  /** Messages known to have no effect, passed over by ce_id (ProjectionConsumerOptions.passOver): a projection's own echoes. */
  readonly passOver?: ProjectionConsumerOptions["passOver"];
  readonly handle: (event: ConsumedEvent, tx: SqlQueryable) => Promise<unknown>;
  /** A projection's batch path (see ProjectionConsumerOptions.handleChunk); without it each event goes to `handle`. */
  readonly handleChunk?: (events: readonly ConsumedEvent[], tx: SqlQueryable, bookkeeping?: ChunkBookkeeping) => Promise<unknown>;
  /** handleChunk takes the chunk before its claims, with the bookkeeping for its last statement (ProjectionConsumerOptions.claimLate). */
  readonly claimLate?: boolean;
  /** A projection's chunk as one statement with its bookkeeping (ProjectionConsumerOptions.chunkStatement). */
  readonly chunkStatement?: ProjectionConsumerOptions["chunkStatement"];
}

/**
 * Creates the family topics and their dead-letter topics when missing, so
 * consumers never subscribe before auto-creation (kafkajs fails on that race).
 */
export async function ensureFamilyTopics(kafka: Kafka, topicPrefix: string, partitions = 3): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = families.flatMap((f) => [topicOf(f, topicPrefix), deadLetterTopicOf(f, topicPrefix)]).filter((t) => !existing.has(t));
    if (wanted.length > 0)
      await admin.createTopics({ topics: wanted.map((topic) => ({ topic, numPartitions: partitions })), waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** Starts one exactly-once consumer per spec; groups are `<topicPrefix>.<name>` so deployments sharing a cluster stay apart. */
export async function startConsumers(
  specs: readonly ConsumerSpec[],
  runtime: {
    readonly kafka: Kafka;
    readonly db: SqlExecutor;
    readonly logger: Logger;
    readonly topicPrefix: string;
    /** Partitions each consumer applies at once; 1 on a single-connection database (PGlite). */
    readonly partitionsConcurrently?: number;
  },
): Promise<ProjectionConsumer[]> {
  await ensureFamilyTopics(runtime.kafka, runtime.topicPrefix);
  return Promise.all(
    specs.map((spec) =>
      runProjectionConsumer({
        kafka: runtime.kafka,
        db: runtime.db,
        logger: runtime.logger,
        name: spec.name,
        mode: spec.mode,
        groupId: `${runtime.topicPrefix}.${spec.name}`,
        topics: spec.families.map((f) => topicOf(f, runtime.topicPrefix)),
        handle: async (event, tx) => void (await spec.handle(event, tx)),
        ...(spec.handleChunk && spec.mode === "projection"
          ? {
              handleChunk: async (events: readonly ConsumedEvent[], tx: SqlQueryable, bookkeeping?: ChunkBookkeeping) =>
                void (await spec.handleChunk!(events, tx, bookkeeping)),
              ...(spec.claimLate ? { claimLate: true } : {}),
            }
          : {}),
        ...(spec.chunkStatement && spec.mode === "projection" ? { chunkStatement: spec.chunkStatement } : {}),
        ...(runtime.partitionsConcurrently ? { partitionsConcurrently: runtime.partitionsConcurrently } : {}),
        ...(spec.types ? { types: spec.types } : {}),
        ...(spec.passOver ? { passOver: spec.passOver } : {}),
      }),
    ),
  );
}
