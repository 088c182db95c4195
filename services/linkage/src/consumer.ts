import type { Kafka } from "kafkajs";
import type { Logger } from "pino";
import { runProjectionConsumer, type ProjectionConsumer, type ProjectionConsumerOptions, type SqlExecutor } from "@shenguan/eventstore";
import { LINKAGE_PROJECTION, linkageTopics, type LinkageHandler } from "./projection.js";

/**
 * Runs the linkage projection on Kafka: every family topic, offsets and
 * ce_id inbox in the read models' database, each chunk of a partition's
 * events applied (and the process manager's events appended) in the
 * transaction that stores its offset. `db` must be the store's database for that to hold.
 */
export function startLinkageConsumer(options: {
  readonly kafka: Kafka;
  readonly db: SqlExecutor;
  readonly handle: LinkageHandler;
  readonly logger: Logger;
  readonly groupId?: string;
  readonly topics?: readonly string[];
  readonly name?: string;
  readonly consumerConfig?: ProjectionConsumerOptions["consumerConfig"];
}): Promise<ProjectionConsumer> {
  return runProjectionConsumer({
    kafka: options.kafka,
    db: options.db,
    handle: options.handle,
    handleChunk: options.handle.handleChunk,
    // A chunk's claims and offset ride in its pushes' append: a round trip fewer in the loop's path.
    claimLate: options.handle.claimLate,
    // Its own echoes, applied when it emitted them, are passed over unread.
    passOver: options.handle.passOver,
    logger: options.logger,
    groupId: options.groupId ?? "shenguan-linkage",
    topics: options.topics ?? linkageTopics,
    name: options.name ?? LINKAGE_PROJECTION,
    ...(options.consumerConfig ? { consumerConfig: options.consumerConfig } : {}),
  });
}
