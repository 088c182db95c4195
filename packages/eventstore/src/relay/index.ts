export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
export { migrateRelayTables, SqlCheckpointStore, type CheckpointStore, type ParkedEvent } from "./checkpoints.js";
export { createKafka, createProducer, parseBrokers, type KafkaLogger } from "./kafka.js";
export {
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_RELAY_BATCH_SIZE,
  DEFAULT_RELAY_NAME,
  isContract,
  Relay,
  republishParked,
  toKafkaMessage,
  type RelayMetrics,
  type RelayOptions,
  type RepublishReport,
} from "./relay.js";
