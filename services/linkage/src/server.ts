/**
 * The linkage service as a process: `tsx src/server.ts`.
 *
 *   DATABASE_URL        the event store's PostgreSQL, where the read models live too (unset: embedded PGlite)
 *   DATABASE_SCHEMA     schema of the tables (default: the connection's search_path)
 *   KAFKA_BROKERS       comma-separated bootstrap brokers (default 127.0.0.1:9092)
 *   KAFKA_TOPIC_PREFIX  topic namespace (default shenguan)
 *   PORT / HOST         HTTP listener (default 3004 on 0.0.0.0)
 *   TICK_INTERVAL_MS    deadline timer period (default 5000)
 *   YELLOW_SHARE        share of a limit after which the card turns yellow (default 0.8)
 *   LOG_LEVEL           pino level (default info)
 */
import { pino } from "pino";
import { systemClock } from "@shenguan/service-kit";
import { buildLinkageApp } from "./app.js";
import { startLinkageConsumer } from "./consumer.js";
import { createKafka, openEventStore, parseBrokers } from "@shenguan/eventstore";
import { linkageTopicsOf } from "./projection.js";

const logger = pino({ level: process.env["LOG_LEVEL"] ?? "info" });
const opened = await openEventStore(process.env["DATABASE_SCHEMA"] ? { schema: process.env["DATABASE_SCHEMA"] } : {});
if (!opened.executor) {
  logger.fatal("linkage: the read models need PostgreSQL or PGlite (set DATABASE_URL)");
  await opened.close();
  process.exit(2);
}
const sql = opened.executor;
const app = await buildLinkageApp({
  store: opened.store,
  sql,
  clock: systemClock,
  logger: { level: process.env["LOG_LEVEL"] ?? "info" },
  ...(process.env["YELLOW_SHARE"] ? { yellowShare: Number(process.env["YELLOW_SHARE"]) } : {}),
});
const kafka = createKafka(
  { clientId: "shenguan-linkage", brokers: parseBrokers(process.env["KAFKA_BROKERS"] ?? "127.0.0.1:9092") },
  logger,
);
const consumer = await startLinkageConsumer({
  kafka,
  db: sql,
  handle: app.linkage.handle,
  logger,
  topics: linkageTopicsOf(process.env["KAFKA_TOPIC_PREFIX"]),
});

// The durable timer: one beat at a time, never overlapping.
let ticking: Promise<unknown> = Promise.resolve();
const timer = setInterval(
  () => {
    ticking = ticking.then(() => app.linkage.tick().catch((err: unknown) => logger.error({ err }, "linkage: tick failed")));
  },
  Number(process.env["TICK_INTERVAL_MS"] ?? 5_000),
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "linkage: stopping");
  clearInterval(timer);
  await ticking;
  await consumer.stop();
  await app.close();
  await opened.close();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));

await app.listen({ port: Number(process.env["PORT"] ?? 3004), host: process.env["HOST"] ?? "0.0.0.0" });
