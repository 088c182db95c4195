import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import {
  catalog,
  ContractCodec,
  sampleOf,
  topicOf,
  topicOfEvent,
  validatePayload,
  type EventName,
  type Family,
} from "@shenguan/contracts";
import { ConfigResourceTypes, type Kafka } from "kafkajs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { comparePositions, formatPosition, type EventMetadata, type NewEvent, type StoredEvent } from "../src/port.js";
import { PostgresEventStore } from "../src/postgres/index.js";
import { migrateRelayTables, Relay, republishParked, SqlCheckpointStore, type RelayOptions } from "../src/relay/index.js";
import {
  BrokerProxy,
  collectFrom,
  contractTopics,
  deleteTopics,
  ensureTopics,
  KAFKA_BROKERS,
  kafkaReachable,
  kafkaUnavailableMessage,
  testKafka,
  testLogger,
  waitFor,
  type Received,
} from "./relay.support.js";
import { createTestSchema, DATABASE_URL, postgresReachable, unavailableMessage, type TestSchema } from "./support/postgres.js";

const missing = [...((await postgresReachable()) ? [] : [unavailableMessage]), ...((await kafkaReachable()) ? [] : [kafkaUnavailableMessage])];
// A suite that needs Kafka and PostgreSQL fails when either is missing; it never skips.
if (missing.length > 0) throw new Error(`${missing.join("; ")}`);
const codec = new ContractCodec();
const DEPARTMENT = "350100-XZSPJ";
const fastBackoff = { initialMs: 50, maxMs: 400 };
/** This file's own topic namespace: the shared broker's default `shenguan.*` topics never see test events. */
const PREFIX = `test-relay-${crypto.randomUUID().slice(0, 8)}`;
/** Fails fast against a dead broker, so the relay's own backoff and counters are what the test sees. */
const impatient = { retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 200 }, connectionTimeout: 500 };

function metadata(subject?: string, extra: Partial<EventMetadata> = {}): EventMetadata {
  return { correlationId: crypto.randomUUID(), causationId: null, department: DEPARTMENT, ...(subject !== undefined ? { subject } : {}), ...extra };
}

function contractEvent(name: EventName, seed: number, meta: EventMetadata): NewEvent {
  return { type: name, data: sampleOf(name, { seed }), metadata: meta };
}

/** Streams of one family each (a stream's events share a topic and a key, so Kafka keeps their order). */
const familyEvents: Record<Family, EventName[]> = { approval: [], linkage: [], supervision: [], enforcement: [], credit: [] };
for (const name of Object.keys(catalog) as EventName[]) familyEvents[catalog[name].family].push(name);

describe("relay (real Kafka and PostgreSQL)", () => {
  let kafka: Kafka;
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    kafka = testKafka("relay-spec");
    await ensureTopics(kafka, contractTopics(PREFIX));
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await deleteTopics(kafka, contractTopics(PREFIX));
  });

  /** A store of this test alone (its own schema), with the relay tables. */
  async function freshStore(): Promise<{ schema: TestSchema; store: PostgresEventStore; checkpoints: SqlCheckpointStore }> {
    const schema = await createTestSchema(10);
    const store = new PostgresEventStore(schema.sql, { pollIntervalMs: 50 });
    await store.migrate();
    await migrateRelayTables(schema.sql);
    cleanups.push(async () => {
      await store.close();
      await schema.drop();
    });
    return { schema, store, checkpoints: new SqlCheckpointStore(schema.sql) };
  }

  function startRelay(options: Omit<RelayOptions, "logger">): Relay {
    const relay = new Relay({ logger: testLogger, backoff: fastBackoff, topicPrefix: PREFIX, ...options });
    relay.start();
    cleanups.push(() => relay.stop());
    return relay;
  }

  async function collect(tag: string, topics: readonly string[] = contractTopics(PREFIX)) {
    const collector = await collectFrom(kafka, topics, (m) => m.headers.ce_subject?.includes(tag) ?? false);
    cleanups.push(() => collector.stop());
    return collector;
  }

  /** Per stream, the ids in the order Kafka holds them (by partition offset), first occurrences only. */
  function orderOnKafka(received: readonly Received[], streamOf: Map<string, string>): Map<string, string[]> {
    const sorted = [...received].sort((a, b) => (a.partition - b.partition) || Number(BigInt(a.offset) - BigInt(b.offset)));
    const seen = new Set<string>();
    const byStream = new Map<string, string[]>();
    for (const m of sorted) {
      const id = m.headers.ce_id!;
      if (seen.has(id)) continue;
      seen.add(id);
      const stream = streamOf.get(id)!;
      byStream.set(stream, [...(byStream.get(stream) ?? []), id]);
    }
    return byStream;
  }

  function orderInStore(events: readonly StoredEvent[]): Map<string, string[]> {
    const byStream = new Map<string, string[]>();
    for (const e of events) if (e.type in catalog) byStream.set(e.stream, [...(byStream.get(e.stream) ?? []), e.id]);
    return byStream;
  }

  it("publishes contract events in per-stream order with their key, CloudEvents headers and Avro value; internal events stay home", async () => {
    const { store, checkpoints } = await freshStore();
    const tag = `r1-${crypto.randomUUID().slice(0, 8)}`;
    const collector = await collect(tag);
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const streams = (["approval", "linkage", "supervision", "enforcement", "credit"] as const).map((family, i) => ({
      stream: `${family}-${tag}-${i}`,
      family,
      // Every other stream has an explicit subject (a USCC-like key); the rest default to the stream name.
      meta: i % 2 === 0 ? metadata(`${tag}-subject-${i}`, { traceparent }) : metadata(),
    }));
    // The stream name is the subject there, so it must carry the tag too.
    for (let round = 0; round < 4; round++) {
      for (const s of streams) {
        const names = familyEvents[s.family];
        const events: NewEvent[] = names.map((name, j) => contractEvent(name, round * 10 + j, s.meta));
        events.splice(1, 0, { type: "ApprovalCaseNoteAdded", data: { note: "internal" }, metadata: s.meta });
        await store.append(s.stream, events, "any");
      }
    }
    const stored = await store.readAll();
    const contract = stored.filter((e) => e.type in catalog);
    const relay = startRelay({ store, kafka, checkpoints, name: `relay-${tag}`, batchSize: 16 });

    await waitFor("every contract event on Kafka", () => collector.messages.length >= contract.length);
    await waitFor("the checkpoint at the end of the log", () => relay.metrics().checkpoint === formatPosition(stored.at(-1)!.position));
    expect(collector.messages).toHaveLength(contract.length);
    expect(relay.metrics()).toMatchObject({ published: contract.length, skippedInternal: stored.length - contract.length, parked: 0 });
    expect(await checkpoints.load(`relay-${tag}`)).toEqual(stored.at(-1)!.position);

    const byId = new Map(contract.map((e) => [e.id, e]));
    for (const m of collector.messages) {
      const event = byId.get(m.headers.ce_id!)!;
      const name = event.type as EventName;
      const subject = event.metadata.subject ?? event.stream;
      expect(m.topic).toBe(topicOfEvent(name, PREFIX));
      expect(m.key).toBe(subject);
      expect(codec.decode(m.value!)).toMatchObject({ name, payload: validatePayload(name, event.data) });
      expect(m.headers).toEqual({
        ce_id: event.id,
        ce_source: `/departments/${DEPARTMENT}`,
        ce_type: catalog[name].fullName,
        ce_specversion: "1.0",
        ce_time: event.time.toISOString(),
        ce_subject: subject,
        "content-type": "application/avro",
        ...(event.metadata.traceparent ? { traceparent } : {}),
      });
    }
    const streamOf = new Map(contract.map((e) => [e.id, e.stream]));
    expect(orderOnKafka(collector.messages, streamOf)).toEqual(orderInStore(stored));
  });

  it("parks an event that breaks its contract, records why, and goes on", async () => {
    const { schema, store, checkpoints } = await freshStore();
    const tag = `r2-${crypto.randomUUID().slice(0, 8)}`;
    const collector = await collect(tag, [topicOf("approval", PREFIX)]);
    const stream = `licence-${tag}`;
    const good = sampleOf("LicenceGranted");
    await store.append(
      stream,
      [
        contractEvent("LicenceGranted", 1, metadata()),
        { type: "LicenceGranted", data: { ...good, holder: { ...good.holder, uscc: "123" } }, metadata: metadata() },
        // An empty subject would give consumers a message without ce_subject: parked as well.
        contractEvent("LicenceGranted", 2, metadata("")),
        contractEvent("LicenceGranted", 3, metadata()),
      ],
      "no_stream",
    );
    const stored = await store.readStream(stream);
    const relay = startRelay({ store, kafka, checkpoints, name: `relay-${tag}` });

    await waitFor("the checkpoint past the parked events", () => relay.metrics().checkpoint === formatPosition(stored.at(-1)!.position));
    await waitFor("both good events", () => collector.messages.length >= 2);
    expect(collector.messages.map((m) => m.headers.ce_id)).toEqual([stored[0]!.id, stored[3]!.id]);
    expect(relay.metrics()).toMatchObject({ published: 2, parked: 2 });
    const { rows } = await schema.sql.query<{ event_id: string; position: string; type: string; reason: string }>(
      `select event_id, position, type, reason from relay_parked order by position`,
    );
    expect(rows).toEqual([
      { event_id: stored[1]!.id, position: formatPosition(stored[1]!.position), type: "LicenceGranted", reason: expect.stringMatching(/holder\.uscc/) },
      { event_id: stored[2]!.id, position: formatPosition(stored[2]!.position), type: "LicenceGranted", reason: expect.stringMatching(/ce_subject/) },
    ]);
  });

  it("sends a batch too big for one Kafka message in parts, and parks an event too big for one on its own", async () => {
    const { schema, store, checkpoints } = await freshStore();
    const tag = `r6-${crypto.randomUUID().slice(0, 8)}`;
    const collector = await collect(tag, [topicOf("supervision", PREFIX)]);
    const stream = `inspections-${tag}`;
    // 4,000 characters of findings, what the supervision API accepts: ~12 KB of UTF-8 each, ~3 MB for a batch of
    // 256 on one partition, three times what the broker takes in one message (message.max.bytes, ~1 MB).
    const findings = "现场检查发现从业人员健康证明过期".repeat(250);
    const inspection = (i: number, text: string): NewEvent => {
      const sample = sampleOf("InspectionRecorded", { seed: i });
      return { type: "InspectionRecorded", data: { ...sample, findings: text }, metadata: metadata() };
    };
    const events = Array.from({ length: 256 }, (_, i) => inspection(i, findings));
    events.splice(100, 0, inspection(1000, "超".repeat(400_000))); // ~1.2 MB: no Kafka message holds it
    await store.append(stream, events, "no_stream");
    const stored = await store.readStream(stream);
    const relay = startRelay({ store, kafka, checkpoints, name: `relay-${tag}`, batchSize: 512 });

    await waitFor("the checkpoint past every event", () => relay.metrics().checkpoint === formatPosition(stored.at(-1)!.position), 30_000);
    await waitFor("256 inspections", () => collector.messages.length >= 256);
    expect(collector.messages.map((m) => m.headers.ce_id)).toEqual(stored.filter((_, i) => i !== 100).map((e) => e.id));
    expect(relay.metrics()).toMatchObject({ published: 256, parked: 1, retries: 0 });
    const { rows } = await schema.sql.query<{ event_id: string; reason: string }>(`select event_id, reason from relay_parked`);
    expect(rows).toEqual([{ event_id: stored[100]!.id, reason: expect.stringMatching(/bytes/) }]);
  });

  it("parks an event whose message Kafka refuses (a time beyond the topic's bound), publishes the rest, republishes it once allowed", async () => {
    const { schema, store, checkpoints } = await freshStore();
    const tag = `r7-${crypto.randomUUID().slice(0, 8)}`;
    // A topic of its own that refuses timestamps over an hour ahead (Kafka 4.0's default; 3.9 accepts any unless told).
    const prefix = `test-relay-ts-${crypto.randomUUID().slice(0, 8)}`;
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.createTopics({
        topics: [{ topic: topicOf("approval", prefix), numPartitions: 1, configEntries: [{ name: "message.timestamp.after.max.ms", value: "3600000" }] }],
        waitForLeaders: true,
      });
    } finally {
      await admin.disconnect();
    }
    cleanups.push(() => deleteTopics(kafka, [topicOf("approval", prefix)]));
    const collector = await collect(tag, [topicOf("approval", prefix)]);
    const stream = `licence-${tag}`;
    const ahead = new Date(Date.now() + 2 * 3600_000); // a department whose clock runs two hours fast
    await store.append(
      stream,
      [0, 1, 2, 3, 4].map((i) => ({ ...contractEvent("LicenceGranted", i, metadata(`${tag}-s`)), ...(i === 2 ? { time: ahead } : {}) })),
      "no_stream",
    );
    const stored = await store.readStream(stream);
    const relay = startRelay({ store, kafka, checkpoints, name: `relay-${tag}`, topicPrefix: prefix });

    await waitFor("the checkpoint past every event", () => relay.metrics().checkpoint === formatPosition(stored.at(-1)!.position), 30_000);
    await waitFor("four grants", () => collector.messages.length >= 4);
    const firsts = [...new Set(collector.messages.map((m) => m.headers.ce_id))];
    expect(firsts).toEqual([0, 1, 3, 4].map((i) => stored[i]!.id));
    expect(relay.metrics()).toMatchObject({ published: 4, parked: 1 });
    const { rows } = await schema.sql.query<{ event_id: string; reason: string }>(`select event_id, reason from relay_parked`);
    expect(rows).toEqual([{ event_id: stored[2]!.id, reason: expect.stringMatching(/INVALID_TIMESTAMP/) }]);

    // An operator's second try: refused again while the topic's bound stands; published once it is lifted.
    const again = () => republishParked({ store, kafka, checkpoints, topicPrefix: prefix });
    const refused = { eventId: stored[2]!.id, reason: expect.stringMatching(/INVALID_TIMESTAMP/) };
    expect(await again()).toEqual({ published: [], stillParked: [refused] });
    const lift = kafka.admin();
    await lift.connect();
    try {
      const configEntries = [{ name: "message.timestamp.after.max.ms", value: "9223372036854775807" }];
      const resources = [{ type: ConfigResourceTypes.TOPIC, name: topicOf("approval", prefix), configEntries }];
      await lift.alterConfigs({ validateOnly: false, resources });
    } finally {
      await lift.disconnect();
    }
    expect(await again()).toEqual({ published: [stored[2]!.id], stillParked: [] });
    await waitFor("the republished grant", () => collector.messages.some((m) => m.headers.ce_id === stored[2]!.id));
    expect((await schema.sql.query(`select event_id from relay_parked`)).rows).toEqual([]);
  });

  it("stores a batch's checkpoint while the next batch is sent, never more than two batches ahead of it", async () => {
    const { store, checkpoints } = await freshStore();
    const tag = `r5-${crypto.randomUUID().slice(0, 8)}`;
    const collector = await collect(tag, [topicOf("supervision", PREFIX)]);
    const stream = `inspections-${tag}`;
    const stored = await store.append(
      stream,
      Array.from({ length: 40 }, (_, i) => contractEvent("InspectionRecorded", i, metadata())),
      "any",
    );
    // The first checkpoint is held until the test lets it go.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const commits: string[] = [];
    const slow = {
      load: (relay: string) => checkpoints.load(relay),
      commit: async (...args: Parameters<SqlCheckpointStore["commit"]>) => {
        if (commits.push(formatPosition(args[1])) === 1) await held;
        return checkpoints.commit(...args);
      },
    };
    const relay = startRelay({ store, kafka, checkpoints: slow, name: `relay-${tag}`, batchSize: 10 });
    cleanups.push(async () => release()); // before the relay stops, should the test fail with the checkpoint held
    // While the first checkpoint is held, the second batch goes out; the third waits for it.
    await waitFor("the second batch on Kafka", () => new Set(collector.messages.map((m) => m.headers.ce_id)).size >= 20);
    // Time for a third send, were it allowed (nothing else is left to wait for).
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(relay.metrics().published).toBe(20);
    expect(await checkpoints.load(`relay-${tag}`)).toBeUndefined();
    release();
    await waitFor("the checkpoint at the end", () => relay.metrics().checkpoint === formatPosition(stored.position));
    expect(await checkpoints.load(`relay-${tag}`)).toEqual(stored.position);
    // In order, each after its batch: never past a batch Kafka has not acknowledged.
    const positions = (await store.readStream(stream)).map((e) => formatPosition(e.position));
    expect(commits).toEqual([9, 19, 29, 39].map((i) => positions[i]));
    expect(new Set(collector.messages.map((m) => m.headers.ce_id)).size).toBe(40);
  });

  it("with Kafka cut off mid-stream keeps the checkpoint at the last acknowledged batch, retries with backoff, and delivers everything once it is back", async () => {
    const { store, checkpoints } = await freshStore();
    const tag = `r3-${crypto.randomUUID().slice(0, 8)}`;
    const collector = await collect(tag, [topicOf("supervision", PREFIX)]);
    const proxy = new BrokerProxy();
    await proxy.open();
    cleanups.push(() => proxy.close());
    const viaProxy = testKafka("relay-outage", { brokers: [proxy.address], socketFactory: proxy.socketFactory, ...impatient });
    const stream = `inspections-${tag}`;
    const append = async (from: number, n: number) =>
      store.append(stream, Array.from({ length: n }, (_, i) => contractEvent("InspectionRecorded", from + i, metadata())), "any");

    const first = await append(0, 30);
    const relay = startRelay({ store, kafka: viaProxy, checkpoints, name: `relay-${tag}`, batchSize: 10 });
    await waitFor("the first 30 acknowledged", () => relay.metrics().checkpoint === formatPosition(first.position));

    await proxy.close();
    const second = await append(30, 30);
    await waitFor("a few failed attempts", () => relay.metrics().retries >= 3);
    // Nothing acknowledged, nothing checkpointed: a crash now would re-send, not skip.
    expect(await checkpoints.load(`relay-${tag}`)).toEqual(first.position);
    expect(relay.metrics().published).toBe(30);

    await proxy.open();
    await waitFor("all 60 on Kafka", () => new Set(collector.messages.map((m) => m.headers.ce_id)).size === 60);
    await waitFor("the checkpoint at the end", () => relay.metrics().checkpoint === formatPosition(second.position));
    // A batch cut off in flight may have been written without an acknowledgement: at most that one is repeated.
    expect(collector.messages.length - 60).toBeLessThanOrEqual(10);
    const stored = await store.readStream(stream);
    expect(orderOnKafka(collector.messages, new Map(stored.map((e) => [e.id, e.stream])))).toEqual(orderInStore(stored));
  });

  it("started against a dead broker retries without checkpointing, stops promptly, and a relay on the real broker then delivers everything", async () => {
    const { store, checkpoints } = await freshStore();
    const tag = `r4-${crypto.randomUUID().slice(0, 8)}`;
    // A topic namespace of this test's own, as a deployment sharing the cluster would have.
    const topicPrefix = `test-${tag}`;
    await ensureTopics(kafka, contractTopics(topicPrefix));
    cleanups.push(() => deleteTopics(kafka, contractTopics(topicPrefix)));
    const collector = await collect(tag, [topicOf("credit", topicPrefix)]);
    const name = `relay-${tag}`;
    const appended = await store.append(`credit-${tag}`, Array.from({ length: 20 }, (_, i) => contractEvent("CreditRepaired", i, metadata(`${tag}-uscc`))), "no_stream");

    const dead = testKafka("relay-dead", { brokers: ["127.0.0.1:1"], ...impatient });
    const stranded = new Relay({ store, kafka: dead, checkpoints, name, topicPrefix, logger: testLogger, backoff: fastBackoff });
    stranded.start();
    await waitFor("a few failed attempts", () => stranded.metrics().retries >= 3);
    expect(stranded.metrics()).toMatchObject({ published: 0, checkpoint: undefined });
    const stopping = Date.now();
    await stranded.stop();
    expect(Date.now() - stopping).toBeLessThan(5_000);
    expect(await checkpoints.load(name)).toBeUndefined();

    const relay = startRelay({ store, kafka, checkpoints, name, topicPrefix });
    await waitFor("all 20 on Kafka", () => collector.messages.length >= 20);
    await waitFor("the checkpoint at the end", () => relay.metrics().checkpoint === formatPosition(appended.position));
    expect(collector.messages.map((m) => m.headers.ce_id)).toEqual((await store.readAll()).map((e) => e.id));
    expect(new Set(collector.messages.map((m) => m.topic))).toEqual(new Set([`${topicPrefix}.credit.v1`]));
  });

  it("killed with SIGKILL while thousands of events flow and restarted, gets every event to Kafka in per-stream order, repeating at most two batches", { timeout: 240_000 }, async () => {
    const { schema, store, checkpoints } = await freshStore();
    const tag = `r5-${crypto.randomUUID().slice(0, 8)}`;
    const collector = await collect(tag, [topicOf("supervision", PREFIX)]);
    const name = `relay-${tag}`;
    const batchSize = 100;
    const streams = Array.from({ length: 40 }, (_, i) => `supervision-${tag}-${i}`);
    const supervision = familyEvents.supervision;
    let appended = 0;
    const append = async (n: number, pace: () => Promise<void>) => {
      for (let done = 0; done < n; done += 10) {
        const stream = streams[(appended / 10) % streams.length]!;
        const events = Array.from({ length: 10 }, (_, i) => contractEvent(supervision[(appended + i) % supervision.length]!, appended + i, metadata()));
        events.push({ type: "SupervisionNoteAdded", data: {}, metadata: metadata() }); // internal: skipped, still checkpointed past
        await store.append(stream, events, "any");
        appended += 10;
        await pace();
      }
    };
    const total = 5_000;
    await append(2_000, async () => {});

    const spawnRelay = async (): Promise<ChildProcess> => {
      const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("../src/relay/main.ts", import.meta.url))], {
        env: {
          ...process.env,
          DATABASE_URL,
          DATABASE_SCHEMA: schema.name,
          KAFKA_BROKERS: KAFKA_BROKERS.join(","),
          RELAY_NAME: name,
          RELAY_BATCH_SIZE: String(batchSize),
          KAFKA_TOPIC_PREFIX: PREFIX,
          LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
        },
        stdio: ["ignore", "inherit", "inherit"],
      });
      cleanups.push(async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGKILL");
          await once(child, "exit");
        }
      });
      return child;
    };
    const unique = () => new Set(collector.messages.map((m) => m.headers.ce_id)).size;

    let relay = await spawnRelay();
    // The rest is appended while the relay runs, dies and comes back: the store never waits for it.
    const appending = append(total - 2_000, () => new Promise((r) => setTimeout(r, 2)));
    await waitFor("the relay mid-stream", () => unique() >= 1_000, 60_000, 5);
    relay.kill("SIGKILL");
    await once(relay, "exit");
    const atKill = unique();
    expect(atKill).toBeLessThan(total);
    const checkpointAtKill = await checkpoints.load(name);

    relay = await spawnRelay();
    await appending;
    await waitFor("every event on Kafka", () => unique() === total, 120_000);
    const stored = await store.readAll();
    await waitFor("the checkpoint at the end", async () => formatPosition((await checkpoints.load(name))!) === formatPosition(stored.at(-1)!.position), 30_000);
    relay.kill("SIGTERM");
    const [code] = (await once(relay, "exit")) as [number | null];
    expect(code).toBe(0);

    const duplicates = collector.messages.length - total;
    // The batch in flight and the one before it, whose checkpoint was being stored meanwhile.
    expect(duplicates).toBeLessThanOrEqual(2 * batchSize);
    expect(orderOnKafka(collector.messages, new Map(stored.map((e) => [e.id, e.stream])))).toEqual(orderInStore(stored));
    // Whatever was sent twice is what the killed relay had not checkpointed.
    const times = new Map<string, number>();
    for (const m of collector.messages) times.set(m.headers.ce_id!, (times.get(m.headers.ce_id!) ?? 0) + 1);
    const repeated = [...times].filter(([, n]) => n > 1);
    expect(repeated.every(([, n]) => n === 2)).toBe(true);
    const uncheckpointed = new Set(stored.filter((e) => !checkpointAtKill || comparePositions(e.position, checkpointAtKill) > 0).map((e) => e.id));
    expect(repeated.filter(([id]) => !uncheckpointed.has(id))).toEqual([]);
  });
});

