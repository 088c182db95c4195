import { deadLetterTopicOf, families, topicOf, type EventName, type Family } from "@shenguan/contracts";
import kafkajs, { type Admin, type Kafka } from "kafkajs";
import type { Logger } from "pino";
import type { SqlExecutor, SqlQueryable } from "../postgres/executor.js";
import {
  runProjectionConsumer,
  type ChunkBookkeeping,
  type ConsumedEvent,
  type ProjectionConsumer,
  type ProjectionConsumerOptions,
} from "./consumer.js";

// From the default export: Node's ESM view of kafkajs (CommonJS) names only its first few exports.
const { ConfigResourceTypes } = kafkajs;

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
 * The topic settings the bus relies on: the family topics (and their dead
 * letters) keep every message. They are the log consumers rebuild from
 * (rebuildProjection replays a topic from offset 0), and the relay stamps
 * each message with its event's time, so under a time-based retention a
 * backlog published late (a relay down for a week, a store restored) is
 * already "expired" when it lands: the broker's next retention check
 * deletes it before any consumer has read it. That is how the broker
 * default (7 days) lost grants in tests whose clock stands in April.
 */
export const FAMILY_TOPIC_CONFIG: Readonly<Record<string, string>> = { "retention.ms": "-1", "retention.bytes": "-1" };

/**
 * Creates the family topics and their dead-letter topics when missing, with
 * FAMILY_TOPIC_CONFIG, so consumers never subscribe before auto-creation
 * (kafkajs fails on that race) and the relay never produces to a topic the
 * broker auto-created with its own defaults. An existing topic that deletes
 * messages is left as its operator set it, and said loudly (`logger`).
 */
export async function ensureFamilyTopics(
  kafka: Kafka,
  topicPrefix: string,
  options: { readonly partitions?: number; readonly logger?: Logger } = {},
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const ours = families.flatMap((f) => [topicOf(f, topicPrefix), deadLetterTopicOf(f, topicPrefix)]);
    const wanted = ours.filter((t) => !existing.has(t));
    if (wanted.length > 0) {
      const configEntries = Object.entries(FAMILY_TOPIC_CONFIG).map(([name, value]) => ({ name, value }));
      await admin.createTopics({
        topics: wanted.map((topic) => ({ topic, numPartitions: options.partitions ?? 3, configEntries })),
        waitForLeaders: true,
      });
    }
    const found = ours.filter((t) => existing.has(t));
    if (options.logger && found.length > 0) await warnOfDeletingTopics(admin, found, options.logger);
  } finally {
    await admin.disconnect();
  }
}

/** Says which of `topics` delete messages (FAMILY_TOPIC_CONFIG unmet); a cluster that will not say is no reason not to start. */
async function warnOfDeletingTopics(admin: Admin, topics: readonly string[], logger: Logger): Promise<void> {
  try {
    const { resources } = await admin.describeConfigs({
      resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: Object.keys(FAMILY_TOPIC_CONFIG) })),
      includeSynonyms: false,
    });
    for (const r of resources) {
      const deleting = r.configEntries.filter((c) => c.configValue !== FAMILY_TOPIC_CONFIG[c.configName]);
      if (deleting.length === 0) continue;
      const settings = Object.fromEntries(deleting.map((c) => [c.configName, c.configValue]));
      logger.warn(
        { topic: r.resourceName, ...settings },
        `topic ${r.resourceName} deletes messages (${deleting.map((c) => `${c.configName}=${c.configValue}`).join(", ")}): ` +
          "a projection rebuilt from the beginning misses what it deleted, and events the relay publishes later than that after they happened " +
          "may be deleted before they are consumed. To keep everything: kafka-configs.sh --alter --entity-type topics " +
          `--entity-name ${r.resourceName} --add-config retention.ms=-1,retention.bytes=-1`,
      );
    }
  } catch (err) {
    logger.warn({ err, topics }, "could not read the topics' retention settings (DescribeConfigs); not checked");
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
  await ensureFamilyTopics(runtime.kafka, runtime.topicPrefix, { logger: runtime.logger });
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
