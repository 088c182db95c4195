/**
 * What the relay and consumer integration tests share: the real broker, a
 * collector that reads what actually landed on a topic, bounded polling.
 */
import { retriable } from "@shenguan/tests/harness/services";
import { deadLetterTopicOf, families, topicOf } from "@shenguan/contracts";
import type { IHeaders, ISocketFactory, Kafka } from "kafkajs";
import net from "node:net";
import { pino } from "pino";
import { FAMILY_TOPIC_CONFIG } from "../src/consumer/specs.js";
import { createKafka, parseBrokers } from "../src/relay/kafka.js";

export const KAFKA_BROKERS = parseBrokers(process.env.KAFKA_BROKERS ?? "127.0.0.1:9092");

/** Quiet unless LOG_LEVEL asks otherwise: kafkajs is chatty during the outage tests by design. */
export const testLogger = pino({ level: process.env.LOG_LEVEL ?? "silent" });

function hostPort(broker: string): { host: string; port: number } {
  const i = broker.lastIndexOf(":");
  return { host: broker.slice(0, i), port: Number(broker.slice(i + 1)) };
}

export function kafkaReachable(): Promise<boolean> {
  const { host, port } = hostPort(KAFKA_BROKERS[0]!);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(3_000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

export const kafkaUnavailableMessage = `Kafka not reachable at ${KAFKA_BROKERS.join(",")} (run bash infra/kafka/start.sh)`;

/**
 * A TCP proxy in front of the real broker that the test can cut and restore:
 * a Kafka outage without stopping the broker everyone else shares. Clients
 * must use its socketFactory, because the broker's metadata advertises its
 * own address and a plain bootstrap redirect would be bypassed.
 */
export class BrokerProxy {
  private server: net.Server | undefined;
  private readonly connections = new Set<net.Socket>();
  private port = 0;

  /** Every connection a client makes goes through the proxy, whichever broker it asked for. */
  readonly socketFactory: ISocketFactory = ({ onConnect }) => {
    const socket = net.connect({ host: "127.0.0.1", port: this.port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    return socket;
  };

  async open(): Promise<void> {
    const target = hostPort(KAFKA_BROKERS[0]!);
    const server = net.createServer((client) => {
      const upstream = net.connect(target);
      for (const s of [client, upstream]) {
        this.connections.add(s);
        s.on("close", () => this.connections.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      // The same port on reopening, as a broker that comes back would have.
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Drops every connection and refuses new ones: the broker is gone. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.connections) s.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
}

export function testKafka(clientId: string, config: Partial<Parameters<typeof createKafka>[0]> = {}): Kafka {
  return createKafka({ clientId, brokers: KAFKA_BROKERS, ...config }, testLogger);
}

/** Creates the topics if missing (3 partitions, as the broker's default), so the first produce does not race auto-creation. */
export async function ensureTopics(kafka: Kafka, topics: readonly string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      // As the bus creates its topics (FAMILY_TOPIC_CONFIG): events relayed with old times are not deleted mid-test.
      const configEntries = Object.entries(FAMILY_TOPIC_CONFIG).map(([name, value]) => ({ name, value }));
      await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: 3, configEntries })), waitForLeaders: true });
    }
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopics(kafka: Kafka, topics: readonly string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [...topics] });
  } finally {
    await admin.disconnect();
  }
}

/** The family topics and their DLQs under `prefix`. */
export function contractTopics(prefix?: string): string[] {
  return families.flatMap((f) => [topicOf(f, prefix), deadLetterTopicOf(f, prefix)]);
}

export interface Received {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: Buffer | null;
  readonly headers: Record<string, string>;
}

export interface Collector {
  readonly messages: Received[];
  stop(): Promise<void>;
}

function headerStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    const one = Array.isArray(v) ? v[0] : v;
    if (one !== undefined) out[k] = one.toString();
  }
  return out;
}

/**
 * Collects every message appended to `topics` from now on: the topics' end
 * offsets are taken first, so nothing produced after this resolves is missed
 * and nothing older (earlier runs share the contract topics) is included.
 */
export async function collectFrom(
  kafka: Kafka,
  topics: readonly string[],
  accept: (m: Received) => boolean = () => true,
): Promise<Collector> {
  const admin = kafka.admin();
  await admin.connect();
  const start = new Map<string, bigint>();
  try {
    for (const topic of topics) {
      for (const p of await retriable(() => admin.fetchTopicOffsets(topic))) start.set(`${topic}/${p.partition}`, BigInt(p.high));
    }
  } finally {
    await admin.disconnect();
  }
  const messages: Received[] = [];
  const consumer = kafka.consumer({ groupId: `collector-${crypto.randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics: [...topics], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      if (BigInt(message.offset) < (start.get(`${topic}/${partition}`) ?? 0n)) return;
      const received: Received = {
        topic,
        partition,
        offset: message.offset,
        key: message.key?.toString() ?? null,
        value: message.value,
        headers: headerStrings(message.headers),
      };
      if (accept(received)) messages.push(received);
    },
  });
  // Skip the history of shared topics instead of reading through it.
  for (const [tp, offset] of start) {
    const [topic, partition] = tp.split("/");
    consumer.seek({ topic: topic!, partition: Number(partition), offset: String(offset) });
  }
  return { messages, stop: () => consumer.disconnect() };
}

/** Polls `check` until it returns true; fails with `what` after `timeoutMs`. Never a fixed sleep standing in for a condition. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export { retriable };
