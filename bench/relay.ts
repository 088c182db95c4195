/**
 * Relay throughput: N contract events already in the store → all acknowledged
 * on Kafka, by the relay as it is deployed (src/relay/main.ts in a process of
 * its own), against a raw kafkajs baseline in the same run on the same
 * broker: the SAME encoded messages (same keys, values, headers) sent with
 * the same producer settings and batch size, awaited batch by batch as the
 * relay does. The gap is the relay's own cost: reading the store, validating
 * and encoding, checkpointing. Target: relay ≥ 0.8 × baseline, relay RSS < 200 MB.
 *
 *   pnpm --filter @shenguan/bench run relay
 *   DATABASE_URL=… KAFKA_BROKERS=… EVENTS=40000 ROUNDS=3 BATCH=256 pnpm --filter @shenguan/bench run relay
 *
 * Uses a fresh schema and topics of its own (prefix bench-…), dropped and
 * deleted afterwards. Writes results/relay.json.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { catalog, ContractCodec, deadLetterTopicOf, families, sampleOf, topicOf, type EventName } from "@shenguan/contracts";
import {
  comparePositions,
  createKafka,
  createProducer,
  DEFAULT_RELAY_BATCH_SIZE,
  migrateRelayTables,
  openEventStore,
  parseBrokers,
  parsePosition,
  toKafkaMessage,
  type KafkaLogger,
  type LogPosition,
  type NewEvent,
} from "@shenguan/eventstore";
import { writeResult } from "./machine.js";

const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/shenguan_test";
const brokers = process.env.KAFKA_BROKERS ?? "127.0.0.1:9092";
const EVENTS = Number(process.env.EVENTS ?? 40_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const BATCH = Number(process.env.BATCH ?? DEFAULT_RELAY_BATCH_SIZE);
const STREAMS = 200;
const RSS_LIMIT_MB = 200;

// kafkajs errors only: the relay process logs for itself.
const logger: KafkaLogger = { error: (fields, message) => console.error(message, fields), warn: () => {}, info: () => {}, debug: () => {} };
const kafka = createKafka({ clientId: "bench-relay", brokers: parseBrokers(brokers) }, logger);
const codec = new ContractCodec();
const names = Object.keys(catalog) as EventName[];
const stamp = Date.now();
const schema = `bench_relay_${stamp}`;
const mainTs = fileURLToPath(new URL("../packages/eventstore/src/relay/main.ts", import.meta.url));

const opened = await openEventStore({ url, schema });
if (!opened.executor) throw new Error("unreachable: a PostgreSQL URL was given");
const { store, executor: sql } = opened;
const admin = kafka.admin();
await admin.connect();
const topicsOf = (prefix: string) => families.flatMap((f) => [topicOf(f, prefix), deadLetterTopicOf(f, prefix)]);
const createdTopics: string[] = [];
async function createTopics(prefix: string): Promise<void> {
  const topics = topicsOf(prefix);
  await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 3 })), waitForLeaders: true });
  createdTopics.push(...topics);
}

interface Run {
  readonly events: number;
  readonly seconds: number;
  readonly perSecond: number;
}

/**
 * The deployed relay, timed from its first checkpoint (start-up, tsx
 * compilation and the first metadata fetch excluded) to the checkpoint at the
 * end of the log; peak RSS from the kernel (VmHWM).
 */
async function relayRun(round: number, positions: readonly LogPosition[]): Promise<Run & { peakRssMb: number }> {
  const prefix = `bench-${stamp}-relay-${round}`;
  await createTopics(prefix);
  const name = `bench-${round}`;
  const child = spawn(process.execPath, ["--import", "tsx", mainTs], {
    env: { ...process.env, DATABASE_URL: url, DATABASE_SCHEMA: schema, KAFKA_BROKERS: brokers, KAFKA_TOPIC_PREFIX: prefix, RELAY_NAME: name, RELAY_BATCH_SIZE: String(BATCH), LOG_LEVEL: "warn" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const last = positions.at(-1)!;
  let first: { at: number; position: LogPosition } | undefined;
  for (;;) {
    const { rows } = await sql.query<{ position: string }>(`select position from relay_checkpoints where name = $1`, [name]);
    const at = performance.now();
    if (rows[0]) {
      const position = parsePosition(rows[0].position);
      first ??= { at, position };
      if (comparePositions(position, last) === 0) {
        const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
        const peakRssMb = Math.round(Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024);
        child.kill("SIGTERM");
        await once(child, "exit");
        const events = positions.filter((p) => comparePositions(p, first!.position) > 0).length;
        const seconds = (at - first.at) / 1000;
        return { events, seconds: Number(seconds.toFixed(3)), perSecond: Math.round(events / seconds), peakRssMb };
      }
    }
    if (child.exitCode !== null) throw new Error(`relay exited with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Raw kafkajs: the same messages, producer settings and batches, nothing else. */
async function baselineRun(round: number, batches: readonly { topic: string; messages: ReturnType<typeof toKafkaMessage>["message"][] }[][]): Promise<Run> {
  const prefix = `bench-${stamp}-raw-${round}`;
  await createTopics(prefix);
  const retopic = (topic: string) => topic.replace(/^shenguan\./, `${prefix}.`);
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    // Warm-up, like the relay's untimed first batch: metadata and connections.
    await producer.sendBatch({ acks: -1, topicMessages: batches[0]!.map((t) => ({ topic: retopic(t.topic), messages: t.messages })) });
    let events = 0;
    const started = performance.now();
    for (const batch of batches.slice(1)) {
      await producer.sendBatch({ acks: -1, topicMessages: batch.map((t) => ({ topic: retopic(t.topic), messages: t.messages })) });
      events += batch.reduce((n, t) => n + t.messages.length, 0);
    }
    const seconds = (performance.now() - started) / 1000;
    return { events, seconds: Number(seconds.toFixed(3)), perSecond: Math.round(events / seconds) };
  } finally {
    await producer.disconnect();
  }
}

try {
  console.log(`appending ${EVENTS} contract events (${schema})…`);
  const department = "350100-XZSPJ";
  for (let i = 0; i < EVENTS; i += 50) {
    const stream = `licence-case-${(i / 50) % STREAMS}`;
    const events: NewEvent[] = Array.from({ length: Math.min(50, EVENTS - i) }, (_, j) => {
      const name = names[(i + j) % names.length]!;
      return { type: name, data: sampleOf(name, { seed: i + j }), metadata: { correlationId: crypto.randomUUID(), causationId: null, department } };
    });
    await store.append(stream, events, "any");
  }
  await migrateRelayTables(sql);

  // The baseline's messages: exactly what the relay produces, in its batches.
  // readAll holds back what an older open transaction might still precede
  // (another client of the same server): wait until all EVENTS are visible,
  // or the baseline is short and the relay's last checkpoint is never `last`.
  const stored = [];
  for (let after: LogPosition | undefined; stored.length < EVENTS; ) {
    const page = await store.readAll({ ...(after ? { after } : {}), maxCount: 5_000 });
    if (page.length === 0) {
      await new Promise((r) => setTimeout(r, 50));
      continue;
    }
    stored.push(...page);
    after = page.at(-1)!.position;
  }
  const positions = stored.map((e) => e.position);
  const batches = [];
  for (let i = 0; i < stored.length; i += BATCH) {
    const byTopic = new Map<string, ReturnType<typeof toKafkaMessage>["message"][]>();
    for (const e of stored.slice(i, i + BATCH)) {
      const { topic, message } = toKafkaMessage(e, e.type as EventName, codec);
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), message]);
    }
    batches.push([...byTopic].map(([topic, messages]) => ({ topic, messages })));
  }
  const valueBytes = batches.flat().reduce((n, t) => n + t.messages.reduce((m, x) => m + (x.value as Buffer).length, 0), 0);

  const loadAverageAtStart = os.loadavg()[0];
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate within a round so both see the same background load (the box is shared).
    const relay = await relayRun(round, positions);
    const baseline = await baselineRun(round, batches);
    const ratio = Number((relay.perSecond / baseline.perSecond).toFixed(2));
    rounds.push({ relay, baseline, ratio });
    console.log(`round ${round + 1}: relay ${relay.perSecond}/s (peak RSS ${relay.peakRssMb} MB), raw kafkajs ${baseline.perSecond}/s, ratio ${ratio}`);
  }
  const median = [...rounds].sort((a, b) => a.ratio - b.ratio)[Math.floor(rounds.length / 2)]!;
  const peakRssMb = Math.max(...rounds.map((r) => r.relay.peakRssMb));
  const results = {
    events: EVENTS,
    batchSize: BATCH,
    streams: STREAMS,
    contracts: names.length,
    meanValueBytes: Math.round(valueBytes / EVENTS),
    producer: { idempotent: true, acks: -1, maxInFlightRequests: 1, compression: "none" },
    // What the RSS figure includes: the deployed entry point under tsx, with everything openEventStore imports.
    relayProcess: "node --import tsx packages/eventstore/src/relay/main.ts",
    loadAverageAtStart,
    relayEventsPerSecond: median.relay.perSecond,
    rawKafkajsEventsPerSecond: median.baseline.perSecond,
    ratio: median.ratio,
    relayPeakRssMb: peakRssMb,
    rounds,
    targets: { ratio: 0.8, relayRssMbBelow: RSS_LIMIT_MB, met: median.ratio >= 0.8 && peakRssMb < RSS_LIMIT_MB },
  };
  console.log(JSON.stringify(results, null, 2));
  console.log(`written to ${writeResult("relay", results)}`);
} finally {
  if (createdTopics.length > 0) await admin.deleteTopics({ topics: createdTopics }).catch((err: unknown) => console.error("could not delete bench topics", err));
  await admin.disconnect();
  await sql.query(`drop schema ${schema} cascade`);
  await opened.close();
}
