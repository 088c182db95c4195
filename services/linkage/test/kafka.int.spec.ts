import { cloudEventTypeOf, ContractCodec, sourceOf, toKafkaHeaders, topicOf } from "@shenguan/contracts";
import {
  createKafka,
  ensureFamilyTopics,
  migrateRelayTables,
  Relay,
  SqlCheckpointStore,
  type ProjectionConsumer,
} from "@shenguan/eventstore";
import { ManualClock } from "@shenguan/service-kit";
import { kafkaBrokers } from "@shenguan/tests/harness/services";
import type { Kafka, Producer } from "kafkajs";
import { pino } from "pino";
import { v7 as uuidv7 } from "uuid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildLinkageApp } from "../src/app.js";
import { startLinkageConsumer } from "../src/consumer.js";
import { linkageTopicsOf } from "../src/projection.js";
import { BUREAU, grant, openTestDb, REGULATOR, rows, USCC, type TestDb } from "./support.js";
import { vouchFor } from "@shenguan/service-kit/testing";

const logger = pino({ level: process.env["LOG_LEVEL"] ?? "silent" });

/** Bounded wait for something the consumer does asynchronously; never a bare sleep. */
async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 45_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("linkage on real Kafka and PostgreSQL: grant in, push out, echo back, exactly once", () => {
  const prefix = `test-linkage-${uuidv7().replaceAll("-", "").slice(-12)}`;
  let db: TestDb;
  let kafka: Kafka;
  let producer: Producer;
  let relay: Relay;
  let consumer: ProjectionConsumer;
  let app: Awaited<ReturnType<typeof buildLinkageApp>>;
  const clock = new ManualClock("2026-09-29T02:00:00Z");

  beforeAll(async () => {
    db = await openTestDb("postgres");
    kafka = createKafka({ clientId: "linkage-spec", brokers: await kafkaBrokers() }, logger);
    // As the bus creates them: keeping every message (the relay stamps each with its event's time, September here).
    await ensureFamilyTopics(kafka, prefix, { partitions: 2 });
    producer = kafka.producer();
    await producer.connect();

    app = await buildLinkageApp({ store: db.store, sql: db.sql, clock, logger: false });
    await migrateRelayTables(db.sql);
    relay = new Relay({ store: db.store, kafka, checkpoints: new SqlCheckpointStore(db.sql), logger, topicPrefix: prefix });
    relay.start();
    consumer = await startLinkageConsumer({
      kafka,
      db: db.sql,
      handle: app.linkage.handle,
      logger,
      topics: linkageTopicsOf(prefix),
      groupId: `${prefix}-linkage`,
      consumerConfig: { sessionTimeout: 6_000, heartbeatInterval: 500, maxWaitTimeInMs: 100 },
    });
  });
  afterAll(async () => {
    await consumer?.stop();
    await relay?.stop();
    await producer?.disconnect();
    await app?.close();
    await db?.close();
  });

  it("pushes a granted licence once, however often the grant is delivered", async () => {
    const route = await app.inject({
      method: "POST",
      url: "/routes",
      headers: { ...vouchFor("350100-OPS"), "idempotency-key": "route-1" },
      payload: { itemCode: "000105001000", regionCode: "350100", regulator: REGULATOR, pushIsClaim: true },
    });
    expect(route.statusCode).toBe(201);

    const codec = new ContractCodec();
    const granted = grant({ licenceId: "LK1" });
    const message = (id: string) => ({
      key: USCC,
      value: codec.encode("LicenceGranted", granted),
      headers: toKafkaHeaders({
        id,
        source: sourceOf(BUREAU),
        type: cloudEventTypeOf("LicenceGranted"),
        specversion: "1.0",
        time: new Date().toISOString(),
        subject: USCC,
      }),
    });
    const first = uuidv7();
    // The same event twice (the relay is at-least-once) and a second publication under a new id.
    await producer.send({ topic: topicOf("approval", prefix), messages: [message(first), message(first), message(uuidv7())] });

    // The push reaches Kafka through the relay and comes back to the consumer as an echo, which it knows
    // (it applied the push when it emitted it) and passes over unread: no inbox row, no transaction.
    await waitFor("the HandoffPushed and HandoffClaimed echoes", async () => {
      const events = await db.store.readStream("handoff-H-LK1");
      return events.length === 2 && consumer.metrics().passedOver >= 2;
    });
    const echoes = (await db.store.readStream("handoff-H-LK1")).map((e) => e.id);
    expect(await rows(db, `select 1 from consumer_inbox where consumer = 'linkage' and ce_id = any($1::text[])`, [echoes])).toEqual([]);
    await waitFor("all three grant messages applied or skipped", async () => {
      const { applied, duplicates } = consumer.metrics();
      return applied + duplicates >= 3;
    });

    expect((await db.store.readStream("handoff-H-LK1")).map((e) => e.type)).toEqual(["HandoffPushed", "HandoffClaimed"]);
    expect(consumer.metrics()).toMatchObject({ applied: 2, duplicates: 1, deadLettered: 0, passedOver: 2 });
    const handoff = await app.inject({ method: "GET", url: "/handoffs/H-LK1", headers: vouchFor("350100-OPS") });
    expect(handoff.json()).toMatchObject({ status: "claimed", claimDue: "2026-10-12", regulator: REGULATOR, onTime: true });
    // The offsets moved in the database, beside the read model.
    const offsets = await rows<{ topic: string; n: number }>(
      db,
      `select topic, sum(next_offset)::int as n from consumer_offsets where consumer = 'linkage' group by topic order by topic`,
    );
    expect(offsets).toEqual(
      expect.arrayContaining([
        { topic: topicOf("approval", prefix), n: 3 },
        { topic: topicOf("linkage", prefix), n: 2 },
      ]),
    );
  });
});
