export {
  deadLetterTopicFor,
  DLQ_HEADER,
  runProjectionConsumer,
  type ChunkBookkeeping,
  type ConsumedEvent,
  type ProjectionConsumer,
  type ProjectionConsumerMetrics,
  type ProjectionConsumerOptions,
} from "./consumer.js";
export { migrateConsumerTables, rebuildProjection, resetProjection } from "./tables.js";
export { ensureFamilyTopics, FAMILY_TOPIC_CONFIG, startConsumers, type ConsumerSpec } from "./specs.js";
