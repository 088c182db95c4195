/**
 * The relay as a process: `tsx src/relay/main.ts`.
 *
 *   DATABASE_URL       the event store's PostgreSQL (unset: embedded PGlite, see openEventStore)
 *   DATABASE_SCHEMA    schema of the store's tables (default: the connection's search_path)
 *   KAFKA_BROKERS      comma-separated bootstrap brokers (default 127.0.0.1:9092)
 *   KAFKA_TOPIC_PREFIX topic namespace, `<prefix>.<family>.v1` (default shenguan)
 *   RELAY_NAME         checkpoint key (default "kafka")
 *   RELAY_BATCH_SIZE   events per produced batch (default 256)
 *   LOG_LEVEL          pino level (default info)
 *
 * SIGTERM/SIGINT stop it after the batch in flight; a kill -9 loses nothing
 * either, it only re-publishes the unacknowledged batch on the next start.
 */
import { pino } from "pino";
import { openEventStore } from "../open-store.js";
import { SqlCheckpointStore, migrateRelayTables } from "./checkpoints.js";
import { createKafka, parseBrokers } from "./kafka.js";
import { DEFAULT_RELAY_BATCH_SIZE, DEFAULT_RELAY_NAME, Relay } from "./relay.js";

const logger = pino({ level: process.env.LOG_LEVEL ?? "info" });

const opened = await openEventStore(process.env.DATABASE_SCHEMA ? { schema: process.env.DATABASE_SCHEMA } : {});
if (!opened.executor) {
  // KurrentDB keeps no SQL tables: such a deployment passes its own CheckpointStore to Relay.
  logger.fatal("relay: the store has no SQL database for relay_checkpoints; run the Relay with a CheckpointStore of its own");
  await opened.close();
  process.exit(2);
}
await migrateRelayTables(opened.executor);

const relay = new Relay({
  store: opened.store,
  kafka: createKafka({ clientId: "shenguan-relay", brokers: parseBrokers(process.env.KAFKA_BROKERS ?? "127.0.0.1:9092") }, logger),
  checkpoints: new SqlCheckpointStore(opened.executor),
  logger,
  name: process.env.RELAY_NAME ?? DEFAULT_RELAY_NAME,
  batchSize: Number(process.env.RELAY_BATCH_SIZE ?? DEFAULT_RELAY_BATCH_SIZE),
  ...(process.env.KAFKA_TOPIC_PREFIX ? { topicPrefix: process.env.KAFKA_TOPIC_PREFIX } : {}),
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "relay: stopping");
  await relay.stop();
  await opened.close();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));

relay.start();
logger.info({ kind: opened.kind }, "relay: started");
try {
  await relay.done;
} catch (err) {
  logger.fatal({ err }, "relay: failed");
  await opened.close().catch(() => undefined);
  process.exit(1);
}
