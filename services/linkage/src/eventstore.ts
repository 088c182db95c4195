/**
 * The parts of @shenguan/eventstore that its package entry does not export
 * yet (PostgreSQL executor types, appendWithin, the projection consumer, the
 * store opener). Imported here once, so that when the package exports them
 * this file is the only one to change.
 */
export {
  appendWithin,
  pgExecutor,
  pgliteExecutor,
  PostgresEventStore,
  toBigInt,
  type SqlExecutor,
  type SqlQueryable,
} from "../../../packages/eventstore/src/postgres/index.js";
export {
  rebuildProjection,
  runProjectionConsumer,
  migrateConsumerTables,
  type ConsumedEvent,
  type ProjectionConsumer,
  type ProjectionConsumerOptions,
} from "../../../packages/eventstore/src/consumer/index.js";
export { openEventStore, type OpenedEventStore } from "../../../packages/eventstore/src/open-store.js";
