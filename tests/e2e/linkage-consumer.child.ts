/**
 * The linkage projection consumer as a process of its own, for the e2e test
 * that kills it with SIGKILL mid-stream. Env: DATABASE_URL, DATABASE_SCHEMA,
 * KAFKA_BROKERS, TOPIC_PREFIX, GROUP_ID, CLOCK (ISO time of its ManualClock),
 * SLOW_MS (a pause inside each transaction, an event's or a chunk's, so a kill lands in one).
 */
import { createKafka, openEventStore, parseBrokers, runProjectionConsumer } from "@shenguan/eventstore";
import { buildLinkageApp, LINKAGE_PROJECTION, linkageTopicsOf } from "@shenguan/linkage";
import { ManualClock } from "@shenguan/service-kit";
import { pino } from "pino";

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const logger = pino({ level: process.env["LOG_LEVEL"] ?? "silent" });
const opened = await openEventStore({ url: env("DATABASE_URL"), schema: env("DATABASE_SCHEMA"), poolSize: 4 });
if (!opened.executor) throw new Error("the linkage consumer needs PostgreSQL");
const db = opened.executor;
const app = await buildLinkageApp({ store: opened.store, sql: db, clock: new ManualClock(env("CLOCK")), logger: false });
const slowSeconds = Number(process.env["SLOW_MS"] ?? 0) / 1000;
const consumer = await runProjectionConsumer({
  kafka: createKafka({ clientId: "e2e-linkage-child", brokers: parseBrokers(env("KAFKA_BROKERS")) }, logger),
  groupId: env("GROUP_ID"),
  topics: linkageTopicsOf(env("TOPIC_PREFIX")),
  name: LINKAGE_PROJECTION,
  db,
  // As the bus runs it: its own echoes are passed over unread (the test's reference consumer applies them
  // the durable way: both must end the same).
  passOver: app.linkage.handle.passOver,
  handle: async (event, tx) => {
    await app.linkage.handle(event, tx);
    if (slowSeconds > 0) await tx.query(`select pg_sleep($1)`, [slowSeconds]);
  },
  // As the bus runs it: a chunk's events through the batch path, with the pause once per chunk's transaction.
  handleChunk: async (events, tx) => {
    await app.linkage.handle.handleChunk(events, tx);
    if (slowSeconds > 0) await tx.query(`select pg_sleep($1)`, [slowSeconds]);
  },
  logger,
  consumerConfig: { sessionTimeout: 6_000, heartbeatInterval: 500, maxWaitTimeInMs: 100 },
});
process.on("SIGTERM", () => {
  void consumer
    .stop()
    .then(() => app.close())
    .then(() => opened.close())
    .then(() => process.exit(0));
});
process.send?.("ready");
