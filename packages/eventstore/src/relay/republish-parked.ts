/**
 * An operator's second try at the events the relay parked:
 * `node --import tsx src/relay/republish-parked.ts [eventId …]` (all when none are named).
 * Same environment as the relay (main.ts): DATABASE_URL, DATABASE_SCHEMA,
 * KAFKA_BROKERS, KAFKA_TOPIC_PREFIX, RELAY_MAX_MESSAGE_BYTES.
 * Prints what was published and what is still refused, with why, as JSON;
 * exits 1 while anything stays parked.
 */
import { pino } from "pino";
import { openEventStore } from "../open-store.js";
import { migrateRelayTables, SqlCheckpointStore } from "./checkpoints.js";
import { createKafka, parseBrokers } from "./kafka.js";
import { DEFAULT_MAX_MESSAGE_BYTES, republishParked } from "./relay.js";

const logger = pino({ level: process.env.LOG_LEVEL ?? "warn" });
const opened = await openEventStore();
try {
  if (!opened.executor) throw new Error("relay_parked lives in the store's SQL database; this store has none");
  await migrateRelayTables(opened.executor);
  const eventIds = process.argv.slice(2);
  const report = await republishParked({
    store: opened.store,
    kafka: createKafka({ clientId: "shenguan-republish", brokers: parseBrokers(process.env.KAFKA_BROKERS ?? "127.0.0.1:9092") }, logger),
    checkpoints: new SqlCheckpointStore(opened.executor),
    ...(eventIds.length > 0 ? { eventIds } : {}),
    ...(process.env.KAFKA_TOPIC_PREFIX ? { topicPrefix: process.env.KAFKA_TOPIC_PREFIX } : {}),
    maxMessageBytes: Number(process.env.RELAY_MAX_MESSAGE_BYTES ?? DEFAULT_MAX_MESSAGE_BYTES),
  });
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  process.exitCode = report.stillParked.length > 0 ? 1 : 0;
} finally {
  await opened.close();
}
