import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { deadLetterTopicOf, families, topicOf } from "@shenguan/contracts";
import { ConfigResourceTypes, type Admin, type Kafka, type Producer } from "kafkajs";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DLQ_HEADER,
  ensureFamilyTopics,
  rebuildProjection,
  runProjectionConsumer,
  type ChunkBookkeeping,
  type ConsumedEvent,
  type ProjectionConsumer,
} from "../src/consumer/index.js";
import type { SqlExecutor, SqlQueryable } from "../src/postgres/index.js";
import { contractMessage, createReadModel, projection } from "./consumer.support.js";
import {
  collectFrom,
  deleteTopics,
  ensureTopics,
  retriable,
  KAFKA_BROKERS,
  kafkaReachable,
  kafkaUnavailableMessage,
  testKafka,
  testLogger,
  waitFor,
} from "./relay.support.js";
import { createTestSchema, DATABASE_URL, postgresReachable, unavailableMessage, type TestSchema } from "./support/postgres.js";

const missing = [
  ...((await postgresReachable()) ? [] : [unavailableMessage]),
  ...((await kafkaReachable()) ? [] : [kafkaUnavailableMessage]),
];
// A suite that needs Kafka and PostgreSQL fails when either is missing; it never skips.
if (missing.length > 0) throw new Error(`${missing.join("; ")}`);

// Fast group membership, so a restarted or killed member is replaced in seconds.
const consumerConfig = { sessionTimeout: 6_000, heartbeatInterval: 500, maxWaitTimeInMs: 100 };

describe("projection consumer (real Kafka and PostgreSQL)", () => {
  let schema: TestSchema;
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  const topics: string[] = [];

  beforeAll(async () => {
    schema = await createTestSchema();
    kafka = testKafka("consumer-spec");
    admin = kafka.admin();
    await admin.connect();
    producer = kafka.producer();
    await producer.connect();
  });
  afterAll(async () => {
    if (topics.length > 0) await deleteTopics(kafka, topics);
    await producer?.disconnect();
    await admin?.disconnect();
    await schema?.drop();
  });

  /** A topic (and its DLQ) of this test alone, and names for its consumer and read model. */
  async function fixture() {
    const id = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
    const topic = `test.consumer.${id}`;
    await ensureTopics(kafka, [topic, `${topic}.dlq`]);
    topics.push(topic, `${topic}.dlq`);
    const readModel = `rm_${id}`;
    await createReadModel(schema.sql, readModel);
    return { id, topic, readModel, name: `projection-${id}`, groupId: `group-${id}` };
  }

  function start(
    f: { topic: string; name: string; groupId: string },
    handle: (e: ConsumedEvent, tx: SqlQueryable) => Promise<void>,
    extra = {},
  ) {
    return runProjectionConsumer({
      kafka,
      topics: [f.topic],
      name: f.name,
      groupId: f.groupId,
      db: schema.sql,
      handle,
      logger: testLogger,
      consumerConfig,
      ...extra,
    });
  }

  /** The read model's projection, recording the ce_ids it was handed, in order. */
  function recording(readModel: string) {
    const handled: string[] = [];
    const apply = projection(readModel);
    const handle = async (event: ConsumedEvent, tx: SqlQueryable) => {
      handled.push(event.ce.id);
      await apply(event, tx);
    };
    return { handled, handle };
  }

  /** Resolves once the consumer's stored offsets reach the end of every partition of `topic`. */
  async function caughtUp(name: string, topic: string, timeoutMs = 30_000): Promise<void> {
    const ends = new Map((await retriable(() => admin.fetchTopicOffsets(topic))).map((p) => [p.partition, p.high]));
    await waitFor(
      `${name} to reach the end of ${topic}`,
      async () => {
        const { rows } = await schema.sql.query<{ partition: number; next_offset: string }>(
          `select partition, next_offset::text as next_offset from consumer_offsets where consumer = $1 and topic = $2`,
          [name, topic],
        );
        const stored = new Map(rows.map((r) => [r.partition, r.next_offset]));
        return [...ends].every(([p, high]) => high === "0" || stored.get(p) === high);
      },
      timeoutMs,
    );
  }

  async function count(sql: string, params: unknown[] = []): Promise<number> {
    const { rows } = await schema.sql.query<{ n: string }>(sql, params);
    return Number(rows[0]!.n);
  }

  it("applies every message once and stores each partition's offset in the transaction that applied it", async () => {
    const f = await fixture();
    const subjects = Array.from({ length: 10 }, (_, i) => `91350100M0001${String(i).padStart(4, "0")}X`);
    await producer.send({
      topic: f.topic,
      messages: Array.from({ length: 200 }, (_, i) => contractMessage("LicenceGranted", subjects[i % 10]!, undefined, i)),
    });
    const consumer = await start(f, projection(f.readModel));
    try {
      await caughtUp(f.name, f.topic);
      expect(await count(`select count(*) as n from ${f.readModel}_applied`)).toBe(200);
      expect(await count(`select count(distinct ce_id) as n from ${f.readModel}_applied`)).toBe(200);
      expect(await count(`select count(*) as n from consumer_inbox where consumer = $1`, [f.name])).toBe(200);
      // Same transaction: each inbox row and the applied row it guards have
      // one writer, and each partition's offset row was last written by the
      // transaction that applied the partition's last message.
      expect(
        await count(
          `select count(*) as n from consumer_inbox i join ${f.readModel}_applied a using (ce_id) where i.consumer = $1 and i.xmin::text = a.txid`,
          [f.name],
        ),
      ).toBe(200);
      const { rows } = await schema.sql.query<{ same: boolean }>(
        `select o.xmin::text = a.txid as same from consumer_offsets o
         join ${f.readModel}_applied a on a.topic = o.topic and a.partition = o.partition and a."offset" = o.next_offset - 1
         where o.consumer = $1`,
        [f.name],
      );
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.every((r) => r.same)).toBe(true);
      expect(consumer.metrics()).toMatchObject({ applied: 200, duplicates: 0, deadLettered: 0 });
    } finally {
      await consumer.stop();
    }
  });

  it("skips an event whose ce_id it already applied, and still moves its offset", async () => {
    const f = await fixture();
    const id = crypto.randomUUID();
    const subject = "91350100M000100Y43";
    await producer.send({
      topic: f.topic,
      messages: [contractMessage("PenaltyImposed", subject, id), contractMessage("PenaltyImposed", subject, id)],
    });
    const consumer = await start(f, projection(f.readModel));
    try {
      await caughtUp(f.name, f.topic);
      // Published again later (a relay re-sending its unacknowledged batch).
      await producer.send({
        topic: f.topic,
        messages: [contractMessage("PenaltyImposed", subject, id), contractMessage("PenaltyImposed", subject)],
      });
      await caughtUp(f.name, f.topic);
      expect(await count(`select count(*) as n from ${f.readModel}_applied where ce_id = $1`, [id])).toBe(1);
      expect(await count(`select count(*) as n from ${f.readModel}_applied`)).toBe(2);
      expect(consumer.metrics()).toMatchObject({ applied: 2, duplicates: 2 });
    } finally {
      await consumer.stop();
    }
  });

  it("dead-letters undecodable messages with the reason and the source, unchanged, and carries on", async () => {
    const f = await fixture();
    const dlq = await collectFrom(kafka, [`${f.topic}.dlq`]);
    const good = contractMessage("LicenceGranted", "k");
    const bad = [
      { key: "k", value: Buffer.from("not avro at all"), headers: good.headers },
      { key: "k", value: good.value, headers: {} },
      { key: "k", value: good.value, headers: contractMessage("PenaltyImposed", "k").headers },
      { key: "k", value: null, headers: good.headers },
    ];
    const [sent] = await producer.send({ topic: f.topic, messages: [...bad, good] });
    const consumer = await start(f, projection(f.readModel));
    try {
      await caughtUp(f.name, f.topic);
      await waitFor("4 dead letters", () => dlq.messages.length === 4);
      expect(await count(`select count(*) as n from ${f.readModel}_applied`)).toBe(1);
      const base = BigInt(sent!.baseOffset!);
      const reasons = dlq.messages.map((m) => m.headers[DLQ_HEADER.reason]);
      expect(reasons[0]).toMatch(/^contract\.wire-format: /);
      expect(reasons[1]).toMatch(/^contract\.violation: .*ce_id/);
      expect(reasons[2]).toMatch(/^contract\.violation: .*ce_type/);
      expect(reasons[3]).toMatch(/value/);
      dlq.messages.forEach((m, i) => {
        expect(m.key).toBe("k");
        expect(m.value).toEqual(bad[i]!.value);
        expect(m.headers).toMatchObject({
          ...Object.fromEntries(Object.entries(bad[i]!.headers ?? {}).map(([k, v]) => [k, String(v)])),
          [DLQ_HEADER.sourceTopic]: f.topic,
          [DLQ_HEADER.sourcePartition]: String(sent!.partition),
          [DLQ_HEADER.sourceOffset]: String(base + BigInt(i)),
          [DLQ_HEADER.consumer]: f.name,
        });
      });
      expect(consumer.metrics()).toMatchObject({ applied: 1, deadLettered: 4 });
    } finally {
      await consumer.stop();
      await dlq.stop();
    }
  });

  it("retries a failing handler with backoff, dead-letters the event when it keeps failing, and rolls back its partial writes", async () => {
    const f = await fixture();
    const dlq = await collectFrom(kafka, [`${f.topic}.dlq`]);
    const apply = projection(f.readModel);
    let flakyFailures = 0;
    const handle = async (event: ConsumedEvent, tx: SqlQueryable) => {
      await apply(event, tx);
      if (event.ce.subject === "poison") throw new Error("boom");
      if (event.ce.subject === "flaky" && flakyFailures++ < 2) throw new Error("not yet");
    };
    const poison = contractMessage("LicenceGranted", "poison");
    await producer.send({
      topic: f.topic,
      messages: [poison, contractMessage("LicenceGranted", "flaky"), contractMessage("LicenceGranted", "fine")],
    });
    const consumer = await start(f, handle, { maxAttempts: 3, retryBackoff: { initialMs: 20, maxMs: 100 } });
    try {
      await caughtUp(f.name, f.topic);
      await waitFor("the poison event in the DLQ", () => dlq.messages.length === 1);
      expect(dlq.messages[0]!.headers[DLQ_HEADER.reason]).toBe("handler failed 3 times: boom");
      expect(dlq.messages[0]!.headers.ce_id).toBe(poison.headers!.ce_id);
      const { rows } = await schema.sql.query<{ subject: string; n: string }>(
        `select subject, count(*)::text as n from ${f.readModel}_applied group by subject order by subject`,
      );
      expect(rows).toEqual([
        { subject: "fine", n: "1" },
        { subject: "flaky", n: "1" },
      ]);
      // 2 retries of the poison event, 1 of the flaky one, and the 2 chunks that failed before the messages were tried one by one.
      expect(consumer.metrics()).toMatchObject({ applied: 2, deadLettered: 1, handlerRetries: 5 });
    } finally {
      await consumer.stop();
      await dlq.stop();
    }
  });

  it("a reactor handles a chunk's subjects at once and each subject's messages in order; after a failure it records only what came before, then goes on from the failing message", async () => {
    const f = await fixture();
    const log: Array<{ id: string; subject: string; phase: "start" | "end" }> = [];
    let flakyFailed = false;
    const handle = async (event: ConsumedEvent) => {
      const subject = event.ce.subject!;
      log.push({ id: event.ce.id, subject, phase: "start" });
      await new Promise((resolve) => setTimeout(resolve, subject === "slow" ? 40 : 5));
      if (subject === "flaky" && !flakyFailed) {
        flakyFailed = true;
        throw new Error("not yet");
      }
      log.push({ id: event.ce.id, subject, phase: "end" });
    };
    const order = ["slow", "fast", "slow", "fast", "flaky", "slow", "fast"];
    const messages = order.map((subject, i) => ({
      ...contractMessage("InspectionRecorded", subject, `${subject}.${i}.${crypto.randomUUID()}`),
      partition: 0,
    }));
    const ids = messages.map((m) => String(m.headers!.ce_id));
    // One send to one partition: one fetch, one chunk.
    await producer.send({ topic: f.topic, messages });
    const consumer = await start(f, handle, { mode: "reactor", retryBackoff: { initialMs: 10, maxMs: 20 } });
    try {
      await caughtUp(f.name, f.topic);
      const ends = (subject: string) => log.filter((e) => e.subject === subject && e.phase === "end").map((e) => e.id);
      // Each subject's messages finished in their order (a message re-run after the failure comes after its first run).
      for (const subject of ["slow", "fast"]) {
        const own = ids.filter((id) => id.startsWith(`${subject}.`));
        expect([...new Set(ends(subject))]).toEqual(own);
      }
      // Subjects ran at once: the first fast message started while the first slow one was still running.
      const at = (id: string, phase: "start" | "end") => log.findIndex((e) => e.id === id && e.phase === phase);
      expect(at(ids[1]!, "start")).toBeLessThan(at(ids[0]!, "end"));
      // What came before the failing message ran once; it and what followed it were retried.
      for (const id of ids.slice(0, 4)) expect(log.filter((e) => e.id === id && e.phase === "start")).toHaveLength(1);
      expect(log.filter((e) => e.id === ids[4] && e.phase === "start")).toHaveLength(2);
      expect(await count(`select count(*) as n from consumer_inbox where consumer = $1`, [f.name])).toBe(7);
      expect(consumer.metrics()).toMatchObject({ applied: 7, duplicates: 0, deadLettered: 0 });
    } finally {
      await consumer.stop();
    }
  });

  it("with types, passes over other events undecoded (no handler, no inbox row) and still moves the offset past them", async () => {
    const f = await fixture();
    const { handled, handle } = recording(f.readModel);
    // An undecodable value under a passed-over type: not this consumer's to judge. Under a wanted type: dead-lettered.
    const garbled = (name: "LicenceGranted" | "InspectionRecorded") => ({
      ...contractMessage(name, "garbled"),
      value: Buffer.from("not avro"),
    });
    const messages = [
      contractMessage("LicenceGranted", "a"),
      contractMessage("InspectionRecorded", "a"),
      garbled("LicenceGranted"),
      contractMessage("InspectionRecorded", "b"),
      contractMessage("LicenceGranted", "b"),
      garbled("InspectionRecorded"),
      contractMessage("LicenceGranted", "c"),
    ].map((m) => ({ ...m, partition: 0 }));
    await producer.send({ topic: f.topic, messages });
    const consumer = await start(f, handle, { types: ["InspectionRecorded"] });
    try {
      await waitFor("every message handled or passed over", () => {
        const m = consumer.metrics();
        return m.applied + m.deadLettered + m.passedOver === messages.length;
      });
      const wantedIds = [messages[1]!, messages[3]!].map((m) => String(m.headers!.ce_id));
      expect(handled).toEqual(wantedIds);
      expect(consumer.metrics()).toMatchObject({ applied: 2, deadLettered: 1, passedOver: 4 });
      expect(await count(`select count(*) as n from consumer_inbox where consumer = $1`, [f.name])).toBe(2);
      // The trailing passed-over message moved the stored offset to the end too.
      await caughtUp(f.name, f.topic);
    } finally {
      await consumer.stop();
    }
  });

  it("stores the offset past a batch's trailing run of other types later: every partition waiting in one statement, at the latest when it stops", async () => {
    const f = await fixture();
    const { handled, handle } = recording(f.readModel);
    const messages = [0, 1, 2].flatMap((partition) =>
      ["a", "b"].map((subject) => ({ ...contractMessage("LicenceGranted", `${subject}${partition}`), partition })),
    );
    await producer.send({ topic: f.topic, messages });
    const statements: string[] = [];
    const db = {
      ...schema.sql,
      query: ((text: string, params?: unknown[]) => (statements.push(text), schema.sql.query(text, params))) as typeof schema.sql.query,
    };
    const consumer = await start(f, handle, { db, types: ["InspectionRecorded"], passedOverOffsetDelayMs: 60_000 });
    try {
      await waitFor("every message passed over", () => consumer.metrics().passedOver === messages.length);
      expect(handled).toEqual([]);
      // Not one round trip per batch: the three partitions' offsets wait.
      expect(await count(`select count(*) as n from consumer_offsets where consumer = $1`, [f.name])).toBe(0);
    } finally {
      await consumer.stop();
    }
    await caughtUp(f.name, f.topic, 1_000);
    expect(statements.filter((q) => q.includes("insert into consumer_offsets"))).toHaveLength(1);
  });

  it("with passOver, passes over the messages it knows by ce_id (its own echoes) unread, tells it which, and stores the offset past them", async () => {
    const f = await fixture();
    const { handled, handle } = recording(f.readModel);
    const messages = ["a", "b", "c", "d", "e"].map((subject) => ({ ...contractMessage("LicenceGranted", subject), partition: 0 }));
    const ids = messages.map((m) => String(m.headers!.ce_id));
    // b and the trailing e are this consumer's own echoes; so would be an id that never comes.
    const known = new Set([ids[1]!, ids[4]!, crypto.randomUUID()]);
    const passed: string[][] = [];
    await producer.send({ topic: f.topic, messages });
    const consumer = await start(f, handle, {
      passOver: { has: (id: string) => known.has(id), passed: (p: readonly string[]) => void passed.push([...p]) },
    });
    try {
      await waitFor("every message handled or passed over", () => {
        const m = consumer.metrics();
        return m.applied + m.passedOver === messages.length;
      });
      expect(handled).toEqual([ids[0], ids[2], ids[3]]);
      expect(passed.flat()).toEqual([ids[1], ids[4]]);
      expect(consumer.metrics()).toMatchObject({ applied: 3, passedOver: 2 });
      expect(await count(`select count(*) as n from consumer_inbox where consumer = $1`, [f.name])).toBe(3);
      // The batch ended with one passed over: its offset is stored all the same.
      await caughtUp(f.name, f.topic);
    } finally {
      await consumer.stop();
    }
  });

  it("with handleChunk, hands over a chunk's new events in offset order, each ce_id once, in the transaction that stores the offset; a failing chunk goes through handle one by one", async () => {
    const f = await fixture();
    const dlq = await collectFrom(kafka, [`${f.topic}.dlq`]);
    const apply = projection(f.readModel);
    const chunks: string[][] = [];
    const handleChunk = async (events: readonly ConsumedEvent[], tx: SqlQueryable) => {
      chunks.push(events.map((e) => e.ce.id));
      for (const e of events) await apply(e, tx);
      if (events.some((e) => e.name === "LicenceRevoked")) throw new Error("boom");
    };
    const handle = async (event: ConsumedEvent, tx: SqlQueryable) => {
      await apply(event, tx);
      if (event.name === "LicenceRevoked") throw new Error("boom");
    };
    // One subject: one partition, in this order. The first event is published twice (a relay re-sending).
    const subject = "91350100M000100Y43";
    const twice = crypto.randomUUID();
    const first = [
      contractMessage("LicenceGranted", subject, twice),
      contractMessage("LicenceGranted", subject),
      contractMessage("LicenceGranted", subject, twice),
      contractMessage("PenaltyImposed", subject),
    ];
    await producer.send({ topic: f.topic, messages: first });
    const consumer = await start(f, handle, { handleChunk, maxAttempts: 2, retryBackoff: { initialMs: 20, maxMs: 50 } });
    try {
      await caughtUp(f.name, f.topic);
      const idOf = (m: (typeof first)[number]) => String(m.headers!.ce_id);
      expect(chunks.flat()).toEqual([idOf(first[0]!), idOf(first[1]!), idOf(first[3]!)]);
      const { rows: applied } = await schema.sql.query<{ ce_id: string }>(`select ce_id from ${f.readModel}_applied order by "offset"`);
      expect(applied.map((r) => r.ce_id)).toEqual(chunks.flat());
      // Same transaction: each applied row and its inbox row.
      expect(
        await count(
          `select count(*) as n from consumer_inbox i join ${f.readModel}_applied a using (ce_id) where i.consumer = $1 and i.xmin::text = a.txid`,
          [f.name],
        ),
      ).toBe(3);
      expect(consumer.metrics()).toMatchObject({ applied: 3, duplicates: 1, deadLettered: 0 });

      // A chunk whose handler fails rolls back whole; its events are then applied one by one, the bad one dead-lettered.
      const poison = contractMessage("LicenceRevoked", subject);
      await producer.send({
        topic: f.topic,
        messages: [contractMessage("LicenceGranted", subject), poison, contractMessage("LicenceGranted", subject)],
      });
      await caughtUp(f.name, f.topic);
      await waitFor("the poison event in the DLQ", () => dlq.messages.length === 1);
      expect(dlq.messages[0]!.headers[DLQ_HEADER.reason]).toBe("handler failed 2 times: boom");
      expect(dlq.messages[0]!.headers.ce_id).toBe(poison.headers!.ce_id);
      expect(await count(`select count(*) as n from ${f.readModel}_applied`)).toBe(5);
      expect(await count(`select count(*) as n from ${f.readModel}_applied where name = 'LicenceRevoked'`)).toBe(0);
      expect(consumer.metrics()).toMatchObject({ applied: 5, duplicates: 1, deadLettered: 1 });
    } finally {
      await consumer.stop();
      await dlq.stop();
    }
  });

  /** schema.sql, counting the transactions opened through it and the statements run outside them. */
  function counted() {
    const calls = { transactions: 0, statements: 0 };
    const db: SqlExecutor = {
      kind: schema.sql.kind,
      query: (sql, params) => {
        calls.statements++;
        return schema.sql.query(sql, params);
      },
      transaction: (fn) => {
        calls.transactions++;
        return schema.sql.transaction(fn);
      },
      listen: (channel, onNotify) => schema.sql.listen(channel, onNotify),
      close: async () => {},
    };
    return { calls, db };
  }

  /** The read model's insert for a chunk as WITH queries, taking only the events the consumer's `claimed` query claimed. */
  function appliedWith(readModel: string, events: readonly ConsumedEvent[], at: { claimed: string; firstParam: number }) {
    const p = (i: number) => `$${at.firstParam + i}`;
    return {
      with: `applied as (insert into ${readModel}_applied (ce_id, subject, name, topic, partition, "offset")
        select u.ce_id, u.subject, u.name, u.topic, u.partition, u.off
        from unnest(${p(0)}::text[], ${p(1)}::text[], ${p(2)}::text[], ${p(3)}::text[], ${p(4)}::int[], ${p(5)}::bigint[])
          as u(ce_id, subject, name, topic, partition, off)
        where u.ce_id in (select ce_id from ${at.claimed}))`,
      params: [
        events.map((e) => e.ce.id),
        events.map((e) => e.ce.subject),
        events.map((e) => e.name),
        events.map((e) => e.topic),
        events.map((e) => e.partition),
        events.map((e) => e.offset),
      ],
    };
  }

  it("with chunkStatement, writes a chunk, its claims and its offset in one statement and no transaction; an event applied before is left out; a chunk it declines goes the usual way; a statement that fails goes one by one", async () => {
    const f = await fixture();
    const dlq = await collectFrom(kafka, [`${f.topic}.dlq`]);
    const { calls, db } = counted();
    const apply = projection(f.readModel);
    const statements: string[][] = [];
    const chunkStatement = (events: readonly ConsumedEvent[], at: { claimed: string; firstParam: number }) => {
      // Declines chunks with a penalty; a revocation makes the statement fail (its subject is not text).
      if (events.some((e) => e.name === "PenaltyImposed")) return undefined;
      statements.push(events.map((e) => e.ce.id));
      const queries = appliedWith(f.readModel, events, at);
      if (events.some((e) => e.name === "LicenceRevoked"))
        return { ...queries, with: queries.with.replace("u.subject,", "u.subject::int,") };
      return queries;
    };
    const handle = async (event: ConsumedEvent, tx: SqlQueryable) => {
      await apply(event, tx);
      if (event.name === "LicenceRevoked") throw new Error("boom");
    };
    const subject = "91350100M000100Y43";
    const seen = crypto.randomUUID();
    // Applied before, alone: a message on its own takes the statement too.
    await producer.send({ topic: f.topic, messages: [contractMessage("LicenceGranted", subject, seen)] });
    const consumer = await runProjectionConsumer({
      kafka,
      topics: [f.topic],
      name: f.name,
      groupId: f.groupId,
      db,
      handle,
      chunkStatement,
      logger: testLogger,
      consumerConfig,
      maxAttempts: 2,
      retryBackoff: { initialMs: 20, maxMs: 50 },
    });
    try {
      await caughtUp(f.name, f.topic);
      expect(statements).toEqual([[seen]]);
      const transactionsBefore = calls.transactions;
      const statementsBefore = calls.statements;
      const chunk = [
        contractMessage("LicenceGranted", subject),
        contractMessage("LicenceGranted", subject, seen),
        contractMessage("LicenceChanged", subject),
      ];
      await producer.send({ topic: f.topic, messages: chunk });
      await caughtUp(f.name, f.topic);
      const idOf = (m: (typeof chunk)[number]) => String(m.headers!.ce_id);
      expect(statements.at(-1)).toEqual(chunk.map(idOf));
      expect(calls.transactions - transactionsBefore).toBe(0);
      expect(calls.statements - statementsBefore).toBe(1);
      const { rows: applied } = await schema.sql.query<{ ce_id: string; txid: string }>(
        `select ce_id, txid from ${f.readModel}_applied order by "offset"`,
      );
      expect(applied.map((r) => r.ce_id)).toEqual([seen, idOf(chunk[0]!), idOf(chunk[2]!)]);
      // One statement: the chunk's rows and their inbox rows in one transaction, its own.
      expect(
        await count(
          `select count(*) as n from consumer_inbox i join ${f.readModel}_applied a using (ce_id) where i.consumer = $1 and i.xmin::text = a.txid`,
          [f.name],
        ),
      ).toBe(3);
      expect(new Set(applied.slice(1).map((r) => r.txid)).size).toBe(1);
      expect(consumer.metrics()).toMatchObject({ applied: 3, duplicates: 1, deadLettered: 0, handlerRetries: 0 });

      // Declined: the usual transaction, claims first.
      await producer.send({
        topic: f.topic,
        messages: [contractMessage("PenaltyImposed", subject), contractMessage("LicenceGranted", subject)],
      });
      await caughtUp(f.name, f.topic);
      expect(calls.transactions - transactionsBefore).toBe(1);
      expect(await count(`select count(*) as n from ${f.readModel}_per_subject where n = 2`)).toBe(1); // the penalty and the grant, through `handle`

      // A statement that fails writes nothing: its events go one by one, the bad one dead-lettered, the offset past all.
      const poison = contractMessage("LicenceRevoked", subject);
      await producer.send({
        topic: f.topic,
        messages: [contractMessage("LicenceGranted", subject), poison, contractMessage("LicenceGranted", subject)],
      });
      await caughtUp(f.name, f.topic);
      await waitFor("the poison event in the DLQ", () => dlq.messages.length === 1);
      expect(dlq.messages[0]!.headers.ce_id).toBe(poison.headers!.ce_id);
      expect(await count(`select count(*) as n from ${f.readModel}_applied`)).toBe(7);
      expect(await count(`select count(*) as n from ${f.readModel}_applied where name = 'LicenceRevoked'`)).toBe(0);
      expect(consumer.metrics()).toMatchObject({ applied: 7, duplicates: 1, deadLettered: 1 });
    } finally {
      await consumer.stop();
      await dlq.stop();
    }
  });

  it("with claimLate, hands a chunk over before its claims with the bookkeeping for its last statement; a chunk holding an event applied before rolls back and goes claims first", async () => {
    const f = await fixture();
    const chunks: Array<{ ids: string[]; late: boolean }> = [];
    const apply = projection(f.readModel);
    const handleChunk = async (events: readonly ConsumedEvent[], tx: SqlQueryable, bookkeeping?: ChunkBookkeeping) => {
      chunks.push({ ids: events.map((e) => e.ce.id), late: bookkeeping !== undefined });
      if (!bookkeeping) {
        for (const e of events) await apply(e, tx);
        return;
      }
      // The read model and the bookkeeping in one statement: the insert takes every event, as a handler that cannot filter.
      const own = bookkeeping.queries(1);
      const queries = appliedWith(f.readModel, events, { claimed: own.claimed, firstParam: own.params.length + 1 });
      const { rows } = await tx.query<{ claimed: number }>(
        `with ${own.with}, ${queries.with.replace(`where u.ce_id in (select ce_id from ${own.claimed})`, "")} select count(*)::int as claimed from ${own.claimed}`,
        [...own.params, ...queries.params],
      );
      bookkeeping.ran(rows[0]!.claimed);
    };
    const subject = "91350100M000100Y43";
    const seen = crypto.randomUUID();
    await producer.send({ topic: f.topic, messages: [contractMessage("LicenceGranted", subject, seen)] });
    const consumer = await start(f, apply, { handleChunk, claimLate: true });
    try {
      await caughtUp(f.name, f.topic);
      // Alone, it was a chunk of one, claimed late as well.
      expect(chunks.splice(0)).toEqual([{ ids: [seen], late: true }]);
      const fresh = [contractMessage("LicenceGranted", subject), contractMessage("LicenceChanged", subject)];
      await producer.send({ topic: f.topic, messages: fresh });
      await caughtUp(f.name, f.topic);
      const idOf = (m: (typeof fresh)[number]) => String(m.headers!.ce_id);
      expect(chunks).toEqual([{ ids: fresh.map(idOf), late: true }]);

      // The chunk holds `seen` again: its late attempt rolls back, and claims first hand over only the new one.
      const again = [contractMessage("LicenceGranted", subject, seen), contractMessage("LicenceChanged", subject)];
      await producer.send({ topic: f.topic, messages: again });
      await caughtUp(f.name, f.topic);
      expect(chunks.slice(1)).toEqual([
        { ids: again.map(idOf), late: true },
        { ids: [idOf(again[1]!)], late: false },
      ]);
      const { rows: applied } = await schema.sql.query<{ ce_id: string }>(`select ce_id from ${f.readModel}_applied order by "offset"`);
      expect(applied.map((r) => r.ce_id)).toEqual([seen, ...fresh.map(idOf), idOf(again[1]!)]);
      expect(
        await count(
          `select count(*) as n from consumer_inbox i join ${f.readModel}_applied a using (ce_id) where i.consumer = $1 and i.xmin::text = a.txid`,
          [f.name],
        ),
      ).toBe(4);
      expect(consumer.metrics()).toMatchObject({ applied: 4, duplicates: 1, deadLettered: 0, handlerRetries: 0 });
    } finally {
      await consumer.stop();
    }
  });

  it("when a chunk's bookkeeping fails (the database, not the handler), starts again from the stored offset: in order, nothing skipped, nothing twice", async () => {
    const f = await fixture();
    const subjects = ["a", "b", "c", "d", "e", "f"];
    // Several batches per partition, and chunks of 20: the failure lands mid-partition.
    for (let i = 0; i < 300; i += 50) {
      await producer.send({
        topic: f.topic,
        messages: Array.from({ length: 50 }, (_, j) => contractMessage("HandoffPushed", subjects[(i + j) % 6]!, undefined, i + j)),
      });
    }
    let transactions = 0;
    const failing: SqlExecutor = {
      ...schema.sql,
      // The second chunk's transaction fails before anything is written, as a lost connection would.
      transaction: (fn) => (++transactions === 2 ? Promise.reject(new Error("connection terminated")) : schema.sql.transaction(fn)),
    };
    const consumer = await start(f, projection(f.readModel), { db: failing, chunkSize: 20 });
    try {
      await caughtUp(f.name, f.topic);
      expect(transactions).toBeGreaterThan(2);
      expect(await count(`select count(*) as n from ${f.readModel}_applied`)).toBe(300);
      expect(await count(`select count(distinct ce_id) as n from ${f.readModel}_applied`)).toBe(300);
      // Each partition's events applied in offset order (a later offset never in an earlier transaction), none left out.
      const { rows } = await schema.sql.query<{ txids: string[]; n: string; span: string }>(
        `select array_agg(txid::bigint::text order by "offset") as txids, count(*)::text as n, (max("offset") - min("offset") + 1)::text as span
         from ${f.readModel}_applied group by partition`,
      );
      for (const r of rows) {
        expect(r.n).toBe(r.span);
        const txids = r.txids.map(Number);
        expect(txids).toEqual([...txids].sort((a, b) => a - b));
      }
      expect(consumer.metrics()).toMatchObject({ applied: 300, duplicates: 0 });
    } finally {
      await consumer.stop();
    }
  });

  it("resumes from the offsets in the database, not Kafka's: a new group under the same name neither re-applies nor skips", async () => {
    const f = await fixture();
    const subjects = ["a", "b", "c", "d", "e", "f"];
    await producer.send({
      topic: f.topic,
      messages: Array.from({ length: 300 }, (_, i) => contractMessage("HandoffPushed", subjects[i % 6]!, undefined, i)),
    });
    const first = await start(f, projection(f.readModel, { slowMs: 2 }));
    await waitFor("some progress", async () => (await count(`select count(*) as n from ${f.readModel}_applied`)) >= 50);
    await first.stop();
    const applied = await count(`select count(*) as n from ${f.readModel}_applied`);
    expect(applied).toBeLessThan(300);
    const second = await start({ ...f, groupId: `${f.groupId}-new` }, projection(f.readModel));
    try {
      await caughtUp(f.name, f.topic);
      expect(await count(`select count(*) as n from ${f.readModel}_applied`)).toBe(300);
      expect(await count(`select count(distinct ce_id) as n from ${f.readModel}_applied`)).toBe(300);
      expect(second.metrics()).toMatchObject({ applied: 300 - applied, duplicates: 0 });
    } finally {
      await second.stop();
    }
  });

  it(
    "killed with SIGKILL mid-batch and restarted, leaves the read model a never-stopped consumer builds",
    { timeout: 180_000 },
    async () => {
      const f = await fixture();
      const reference = { ...f, name: `${f.name}-ref`, groupId: `${f.groupId}-ref`, readModel: `${f.readModel}_ref` };
      await createReadModel(schema.sql, reference.readModel);
      const total = 2_000;
      const subjects = Array.from({ length: 25 }, (_, i) => `subject-${i}`);
      for (let i = 0; i < total; i += 500) {
        await producer.send({
          topic: f.topic,
          messages: Array.from({ length: 500 }, (_, j) => contractMessage("InspectionRecorded", subjects[(i + j) % 25]!, undefined, i + j)),
        });
      }

      const children: ChildProcess[] = [];
      const spawnChild = async (): Promise<ChildProcess> => {
        const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./consumer.child.ts", import.meta.url))], {
          env: {
            ...process.env,
            DATABASE_URL,
            DATABASE_SCHEMA: schema.name,
            KAFKA_BROKERS: KAFKA_BROKERS.join(","),
            TOPIC: f.topic,
            GROUP_ID: f.groupId,
            CONSUMER_NAME: f.name,
            READ_MODEL: f.readModel,
            SLOW_MS: "1",
          },
          stdio: ["ignore", "inherit", "inherit", "ipc"],
        });
        children.push(child);
        await once(child, "message"); // "ready": it has joined the group
        return child;
      };

      const reference_ = await start(reference, projection(reference.readModel));
      try {
        let child = await spawnChild();
        await waitFor(
          "the child to be mid-stream",
          async () => (await count(`select count(*) as n from ${f.readModel}_applied`)) >= 300,
          60_000,
          5,
        );
        child.kill("SIGKILL");
        await once(child, "exit");
        expect(await count(`select count(*) as n from ${f.readModel}_applied`)).toBeLessThan(total);

        child = await spawnChild();
        await caughtUp(f.name, f.topic, 120_000);
        await caughtUp(reference.name, reference.topic, 120_000);

        expect(await count(`select count(*) as n from ${f.readModel}_applied`)).toBe(total);
        expect(await count(`select count(distinct ce_id) as n from ${f.readModel}_applied`)).toBe(total);
        const perSubject = async (prefix: string) =>
          (await schema.sql.query<{ subject: string; n: number }>(`select subject, n from ${prefix}_per_subject order by subject`)).rows;
        expect(await perSubject(f.readModel)).toEqual(await perSubject(reference.readModel));
        const applied = async (prefix: string) =>
          (await schema.sql.query<{ ce_id: string }>(`select ce_id from ${prefix}_applied order by partition, "offset"`)).rows.map(
            (r) => r.ce_id,
          );
        expect(await applied(f.readModel)).toEqual(await applied(reference.readModel));
      } finally {
        for (const c of children) {
          if (c.exitCode !== null || c.signalCode !== null) continue;
          c.kill("SIGTERM");
          await once(c, "exit");
        }
        await reference_.stop();
      }
    },
  );

  it("rebuildProjection, with the read model truncated in the same transaction, replays the topic from the beginning", async () => {
    const f = await fixture();
    await producer.send({
      topic: f.topic,
      messages: Array.from({ length: 50 }, (_, i) => contractMessage("CreditRepaired", `s${i % 5}`, undefined, i)),
    });
    let consumer: ProjectionConsumer = await start(f, projection(f.readModel));
    await caughtUp(f.name, f.topic);
    await consumer.stop();
    const before = (await schema.sql.query(`select subject, n from ${f.readModel}_per_subject order by subject`)).rows;

    await schema.sql.transaction(async (tx) => {
      await tx.query(`truncate ${f.readModel}_applied, ${f.readModel}_per_subject`);
      await rebuildProjection(tx, f.name);
    });
    consumer = await start(f, projection(f.readModel));
    try {
      await caughtUp(f.name, f.topic);
      expect((await schema.sql.query(`select subject, n from ${f.readModel}_per_subject order by subject`)).rows).toEqual(before);
      expect(consumer.metrics()).toMatchObject({ applied: 50, duplicates: 0 });
    } finally {
      await consumer.stop();
    }
  });

  it("says which offsets it never applied when Kafka deleted them first (retention), counts them missing, and applies the rest", async () => {
    const f = await fixture();
    const send = (from: number, n: number) =>
      producer.send({
        topic: f.topic,
        messages: Array.from({ length: n }, (_, i) => ({ ...contractMessage("LicenceGranted", "s", undefined, from + i), partition: 0 })),
      });
    await send(0, 2);
    let consumer = await start(f, projection(f.readModel));
    await caughtUp(f.name, f.topic);
    await consumer.stop();
    // While it is stopped: offsets 2..5 arrive, and 2..3 are deleted before it comes back (as a retention check would).
    await send(2, 4);
    await admin.deleteTopicRecords({ topic: f.topic, partitions: [{ partition: 0, offset: "4" }] });
    const logged = capturing();
    consumer = await start(f, projection(f.readModel), { logger: logged.logger });
    try {
      await caughtUp(f.name, f.topic);
      const { rows } = await schema.sql.query<{ offset: string }>(
        `select "offset"::text as "offset" from ${f.readModel}_applied order by 1`,
      );
      expect(rows.map((r) => r.offset)).toEqual(["0", "1", "4", "5"]);
      expect(consumer.metrics()).toMatchObject({ applied: 2, missing: 2 });
      expect(logged.lines.filter((l) => l.level === 50 && l.missing !== undefined)).toEqual([
        expect.objectContaining({ topic: f.topic, partition: 0, fromOffset: "2", toOffset: "3", missing: 2 }),
      ]);
    } finally {
      await consumer.stop();
    }
  });

  it("ensureFamilyTopics creates the family and dead-letter topics keeping every message, and says which existing topic deletes them", async () => {
    const prefix = `test-keep-${crypto.randomUUID().slice(0, 8)}`;
    const ours = families.flatMap((family) => [topicOf(family, prefix), deadLetterTopicOf(family, prefix)]);
    topics.push(...ours);
    const operators = topicOf("approval", prefix);
    await admin.createTopics({
      topics: [{ topic: operators, numPartitions: 3, configEntries: [{ name: "retention.ms", value: "3600000" }] }],
      waitForLeaders: true,
    });
    const logged = capturing();
    await ensureFamilyTopics(kafka, prefix, { logger: logged.logger });

    const { resources } = await admin.describeConfigs({
      resources: ours.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ["retention.ms", "retention.bytes"] })),
      includeSynonyms: false,
    });
    const settings = Object.fromEntries(
      resources.map((r) => [r.resourceName, Object.fromEntries(r.configEntries.map((c) => [c.configName, c.configValue]))]),
    );
    for (const topic of ours) {
      if (topic === operators)
        expect(settings[topic]).toMatchObject({ "retention.ms": "3600000" }); // left as its operator set it
      else expect(settings[topic], topic).toEqual({ "retention.ms": "-1", "retention.bytes": "-1" });
    }
    expect(logged.lines.filter((l) => l.level === 40)).toEqual([expect.objectContaining({ topic: operators, "retention.ms": "3600000" })]);
  });
});

/** A logger whose lines the test reads back (parsed), for what a consumer says about a loss. */
function capturing() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { lines, logger };
}
