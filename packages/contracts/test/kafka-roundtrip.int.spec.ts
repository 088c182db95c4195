import { randomUUID } from "node:crypto";
import { Kafka, logLevel, type Consumer, type Producer } from "kafkajs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kafkaBrokers } from "@shenguan/tests/harness/services";
import {
  catalog,
  cloudEventTypeOf,
  ContractCodec,
  fromKafkaHeaders,
  sampleOf,
  sourceOf,
  toKafkaHeaders,
  type EventName,
} from "../src/index.js";

// Every contract through the real broker: encoded, produced with acks=all,
// consumed by a separate group, decoded and compared field by field, headers
// included. A unique topic per run keeps reruns independent.
const names = Object.keys(catalog) as EventName[];
const codec = new ContractCodec();
const topic = `contracts-roundtrip-${randomUUID()}`;
let kafka: Kafka;
let producer: Producer;
let consumer: Consumer;

beforeAll(async () => {
  kafka = new Kafka({ clientId: "contracts-roundtrip", brokers: await kafkaBrokers(), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  await admin.disconnect();
  producer = kafka.producer({ idempotent: true });
  await producer.connect();
  consumer = kafka.consumer({ groupId: `roundtrip-${randomUUID()}` });
  await consumer.connect();
});

afterAll(async () => {
  await producer?.disconnect();
  await consumer?.disconnect();
});

describe("contracts on the real broker", () => {
  it("every event type survives produce → consume with its payload and CloudEvents headers", async () => {
    const sent = names.map((name, i) => {
      const payload = sampleOf(name, { seed: i + 1, nulls: i % 2 === 1 });
      const ce = {
        id: randomUUID(),
        source: sourceOf("SPJ-350100"),
        type: cloudEventTypeOf(name),
        specversion: "1.0" as const,
        time: new Date(Date.UTC(2026, 8, 29, 1, 30, i)).toISOString(),
        subject: "91350100M000100Y43",
        ...(i % 3 === 0 ? { traceparent: `00-${"0af7651916cd43dd8448eb211c80319c"}-${"b7ad6b7169203331"}-01` } : {}),
      };
      return { name, payload, ce };
    });
    await producer.send({
      topic,
      acks: -1,
      messages: sent.map((s) => ({ key: s.ce.subject, value: codec.encode(s.name, s.payload), headers: toKafkaHeaders(s.ce) })),
    });

    const received = new Map<string, { name: EventName; payload: unknown; ce: ReturnType<typeof fromKafkaHeaders>; key: string }>();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const ce = fromKafkaHeaders(message.headers);
        const decoded = codec.decode(message.value!);
        received.set(ce.id, { name: decoded.name, payload: decoded.payload, ce, key: message.key!.toString() });
      },
    });
    await expect.poll(() => received.size, { timeout: 30_000, interval: 100 }).toBe(sent.length);

    for (const s of sent) {
      const r = received.get(s.ce.id);
      expect(r, s.name).toBeDefined();
      expect(r!.name).toBe(s.name);
      expect(r!.key).toBe(s.ce.subject);
      expect(r!.ce).toEqual(s.ce);
      for (const [field, value] of Object.entries(s.payload as unknown as Record<string, unknown>)) {
        expect((r!.payload as Record<string, unknown>)[field], `${s.name}.${field}`).toEqual(value);
      }
    }
  });
});
