/**
 * A projection consumer as a process of its own, for the test that kills it
 * with SIGKILL. Env: DATABASE_URL, DATABASE_SCHEMA, KAFKA_BROKERS, TOPIC,
 * GROUP_ID, CONSUMER_NAME, READ_MODEL (table prefix), SLOW_MS.
 */
import pg from "pg";
import { runProjectionConsumer } from "../src/consumer/index.js";
import { pgExecutor } from "../src/postgres/index.js";
import { projection } from "./consumer.support.js";
import { testKafka, testLogger } from "./relay.support.js";

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const db = pgExecutor(
  new pg.Pool({ connectionString: env("DATABASE_URL"), max: 2, options: `-c search_path=${env("DATABASE_SCHEMA")}` }),
);
const consumer = await runProjectionConsumer({
  kafka: testKafka("consumer-child"),
  groupId: env("GROUP_ID"),
  topics: [env("TOPIC")],
  name: env("CONSUMER_NAME"),
  db,
  handle: projection(env("READ_MODEL"), { slowMs: Number(process.env.SLOW_MS ?? 0) }),
  logger: testLogger,
  consumerConfig: { sessionTimeout: 6_000, heartbeatInterval: 500, maxWaitTimeInMs: 100 },
});
process.on("SIGTERM", () => {
  void consumer.stop().then(() => db.close()).then(() => process.exit(0));
});
process.send?.("ready");
