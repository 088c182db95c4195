export { pgExecutor, pgliteExecutor, toBigInt, type SqlExecutor, type SqlQueryable, type SqlResult } from "./executor.js";
export { PostgresEventStore, type PostgresEventStoreOptions } from "./postgres-event-store.js";
export { appendWithin } from "./append-within.js";
