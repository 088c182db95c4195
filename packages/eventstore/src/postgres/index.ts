export { pgExecutor, pgliteExecutor, toBigInt, type SqlExecutor, type SqlQueryable, type SqlResult, type WithQueries } from "./executor.js";
export { PostgresEventStore, type PostgresEventStoreOptions, type StreamAppend } from "./postgres-event-store.js";
export { appendManyWithin, appendWithin, prepareManyWithin, type AppendOutcome, type PreparedAppends } from "./append-within.js";
export { runAlongside, type AlongsideAppend } from "./alongside.js";
