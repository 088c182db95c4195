/**
 * The relay as a process: `tsx src/relay/main.ts`.
 *
 *   DATABASE_URL       the event store's PostgreSQL (unset: embedded PGlite, see openEventStore)
 *   DATABASE_SCHEMA    schema of the store's tables (default: the connection's search_path)
 *   KAFKA_BROKERS      comma-separated bootstrap brokers (default 127.0.0.1:9092)
 *   KAFKA_TOPIC_PREFIX topic namespace, `<prefix>.<family>.v1` (default shenguan)
 *   RELAY_NAME         checkpoint key (default "kafka")
 *   RELAY_BATCH_SIZE   events per produced batch (default 256)
 *   RELAY_MAX_MESSAGE_BYTES  most bytes per produce call, under the broker's message.max.bytes (default 1000000;
 *                      a bigger batch goes in parts, a bigger single event is parked)
 *   LOG_LEVEL          pino level (default info)
 *   SHENGUAN_SEAL      "true": this process also runs the LogSealer (blocks of SHENGUAN_SEAL_BLOCK_SIZE, default 1000,
 *                      or SHENGUAN_SEAL_DELAY_MS, default 1000), signing with the SHENGUAN-BUS
 *                      custody key from SHENGUAN_KEYS_DIR (see evidenceStoreFromEnv)
 *
 * SIGTERM/SIGINT stop it after the batch in flight; a kill -9 loses nothing
 * either, it only re-publishes what it had not checkpointed (two batches at
 * most) on the next start.
 */
import { DEFAULT_TOPIC_PREFIX } from "@shenguan/contracts";
import { pino } from "pino";
import { ensureFamilyTopics } from "../consumer/specs.js";
import { evidenceStoreFromEnv } from "../evidence/from-env.js";
import { LogSealer } from "../evidence/sealer.js";
import { openEventStore } from "../open-store.js";
import { SqlCheckpointStore, migrateRelayTables } from "./checkpoints.js";
import { createKafka, parseBrokers } from "./kafka.js";
import { DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_RELAY_BATCH_SIZE, DEFAULT_RELAY_NAME, Relay } from "./relay.js";

const logger = pino({ level: process.env.LOG_LEVEL ?? "info" });

const opened = await openEventStore();
if (!opened.executor) {
  // KurrentDB keeps no SQL tables: such a deployment passes its own CheckpointStore to Relay.
  logger.fatal("relay: the store has no SQL database for relay_checkpoints; run the Relay with a CheckpointStore of its own");
  await opened.close();
  process.exit(2);
}
await migrateRelayTables(opened.executor);
const kafka = createKafka({ clientId: "shenguan-relay", brokers: parseBrokers(process.env.KAFKA_BROKERS ?? "127.0.0.1:9092") }, logger);
const topicPrefix = process.env.KAFKA_TOPIC_PREFIX || DEFAULT_TOPIC_PREFIX;
// Created with the settings the bus relies on before the first send could auto-create one with the broker's defaults.
await ensureFamilyTopics(kafka, topicPrefix, { logger });

const relay = new Relay({
  store: opened.store,
  kafka,
  checkpoints: new SqlCheckpointStore(opened.executor),
  logger,
  name: process.env.RELAY_NAME ?? DEFAULT_RELAY_NAME,
  batchSize: Number(process.env.RELAY_BATCH_SIZE ?? DEFAULT_RELAY_BATCH_SIZE),
  maxMessageBytes: Number(process.env.RELAY_MAX_MESSAGE_BYTES ?? DEFAULT_MAX_MESSAGE_BYTES),
  topicPrefix,
});

// Two sealers on one log are safe (the seal stream's expected revision lets one win), one is enough.
const sealer =
  process.env.SHENGUAN_SEAL !== "true"
    ? undefined
    : new LogSealer({
        store: evidenceStoreFromEnv(opened.store),
        blockSize: Number(process.env.SHENGUAN_SEAL_BLOCK_SIZE ?? 1000),
        maxDelayMs: Number(process.env.SHENGUAN_SEAL_DELAY_MS ?? 1000),
        intervalMs: 250,
        logger,
      });

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "relay: stopping");
  await relay.stop();
  await sealer?.stop();
  await opened.close();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));

relay.start();
await sealer?.start();
logger.info({ kind: opened.kind }, "relay: started");
try {
  await relay.done;
} catch (err) {
  logger.fatal({ err }, "relay: failed");
  await opened.close().catch(() => undefined);
  process.exit(1);
}
