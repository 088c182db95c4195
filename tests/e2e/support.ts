/**
 * What the end-to-end suites share: the whole bus in-process on the real
 * Kafka broker and the real PostgreSQL (a fresh schema and topic prefix per
 * suite, removed afterwards), a ManualClock, the services' HTTP APIs through
 * `inject`, and bounded polling for what travels through Kafka.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { approvalConsumers } from "@shenguan/approval";
import { DEMO, readConfig, startBus, type Bus } from "@shenguan/bus";
import { buildElicenceId, computeOrgCodeCheckChar, computeUsccCheckChar, families, topicOf, type Family } from "@shenguan/contracts";
import { enforcementConsumers } from "@shenguan/enforcement";
import { createKafka, FileKeyStore, openEventStore, type ConsumerSpec, type OpenedEventStore, type SqlQueryable, type StoredEvent } from "@shenguan/eventstore";
import { linkageConsumers } from "@shenguan/linkage";
import { ManualClock, type ServiceApp } from "@shenguan/service-kit";
import { supervisionConsumers } from "@shenguan/supervision";
import type { Kafka } from "kafkajs";
import pg from "pg";
import { pino } from "pino";
import { databaseUrl, kafkaBrokers, retriable } from "../harness/services.js";
import { vouchFor } from "@shenguan/service-kit/testing";

export { DEMO };
export const logger = pino({ level: process.env["LOG_LEVEL"] ?? "silent" });
/** The operator who maintains the 审管职责清单. */
export const OPS = "OPS-350100";
/** The services supervisor (政务服务监督) who watches handoffs, deadlines and indicators. */
export const SUPERVISOR = "ZWJD-350100";
/** The licensee's district (鼓楼区); routes are kept for the city, 350100, which covers it. */
export const REGION = "350102";

// A JSON body as the services answer it; the tests read it field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Body = any;
export interface Reply {
  readonly status: number;
  readonly body: Body;
}

/** One service's HTTP API as a department calls it (every command with a fresh Idempotency-Key). */
export interface Api {
  get(url: string, department: string): Promise<Reply>;
  post(url: string, department: string, body?: object): Promise<Reply>;
}

export function apiOf(app: ServiceApp): Api {
  const send = async (method: "GET" | "POST", url: string, department: string, body?: object): Promise<Reply> => {
    const res = await app.inject({
      method,
      url,
      headers: { ...vouchFor(department), ...(method === "POST" ? { "idempotency-key": randomUUID() } : {}) },
      ...(method === "POST" ? { payload: body ?? {} } : {}),
    });
    return { status: res.statusCode, body: res.body ? res.json() : undefined };
  };
  return { get: (url, department) => send("GET", url, department), post: (url, department, body) => send("POST", url, department, body) };
}

export interface E2e {
  /** The bus whose APIs the suites call (and, unless split, everything else too). */
  readonly bus: Bus;
  /** The bus that relays and consumes: `bus` itself, or with `split` the second one. */
  readonly pipeline: Bus;
  readonly clock: ManualClock;
  readonly prefix: string;
  readonly schema: string;
  readonly databaseUrl: string;
  readonly brokers: string[];
  readonly kafka: Kafka;
  /** A second handle on the bus's event store, to read streams as an auditor would. */
  readonly store: Extract<OpenedEventStore, { kind: "postgres" | "pglite" }>["store"];
  readonly approval: Api;
  readonly supervision: Api;
  readonly enforcement: Api;
  readonly linkage: Api;
  /** The clock to `<date>T<time>` in Asia/Shanghai. */
  at(date: string, time?: string): void;
  readStream(stream: string): Promise<StoredEvent[]>;
  stop(): Promise<void>;
}

/** A fresh bus: its own schema and topic prefix, no demo seed, no timer (tests call bus.tick()). */
export async function startE2e(options: {
  name: string;
  start: string;
  /**
   * Two buses over one schema and one set of topics, as two processes would run them: `bus`
   * serves the APIs and seals, `pipeline` relays and consumes; both sign with one FileKeyStore.
   */
  split?: boolean;
}): Promise<E2e> {
  const id = randomUUID().replaceAll("-", "").slice(0, 8);
  const prefix = `e2e-${id}`;
  const schema = `e2e_${options.name}_${id}`;
  const [url, brokers] = await Promise.all([databaseUrl(), kafkaBrokers()]);
  const clock = new ManualClock(options.start);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KAFKA_BROKERS: brokers.join(","),
    KAFKA_TOPIC_PREFIX: prefix,
    DATABASE_URL: url,
    SHENGUAN_SEED_DEMO: "false",
  };
  delete env["KURRENTDB_URL"];
  const kafka = createKafka({ clientId: `e2e-${options.name}`, brokers }, logger);
  let bus: Bus | undefined;
  let pipeline: Bus | undefined;
  let opened: OpenedEventStore | undefined;
  const keysDir = options.split ? mkdtempSync(join(os.tmpdir(), "e2e-keys-")) : undefined;
  const base = { config: readConfig(env), clock, logger, schema, listen: false, timer: false } as const;
  const keys = () => ({ keys: new FileKeyStore(keysDir!, { autoProvision: true }) });
  const removeKeys = () => keysDir && rmSync(keysDir, { recursive: true, force: true });
  try {
    if (keysDir === undefined) bus = pipeline = await startBus(base);
    else {
      // The second after the first has registered the departments and their custody keys.
      bus = await startBus({ ...base, ...keys(), run: { relay: false, consumers: false } });
      pipeline = await startBus({ ...base, ...keys(), run: { sealer: false } });
    }
    opened = await openEventStore({ url, schema, poolSize: 2 });
  } catch (err) {
    if (pipeline !== bus) await pipeline?.stop().catch(() => undefined);
    await bus?.stop().catch(() => undefined);
    await cleanUp(url, kafka, prefix, [schema]);
    removeKeys();
    throw err;
  }
  if (opened.kind === "kurrentdb") throw new Error("the e2e suites run on PostgreSQL");
  const store = opened.store;
  const started = bus;
  const relaying = pipeline!;
  return {
    bus: started,
    pipeline: relaying,
    clock,
    prefix,
    schema,
    databaseUrl: url,
    brokers,
    kafka,
    store,
    approval: apiOf(started.apps.approval),
    supervision: apiOf(started.apps.supervision),
    enforcement: apiOf(started.apps.enforcement),
    linkage: apiOf(started.apps.linkage),
    at: (date, time = "10:00:00") => clock.set(`${date}T${time}+08:00`),
    readStream: (stream) => store.readStream(stream),
    async stop() {
      try {
        if (relaying !== started) await relaying.stop();
        await started.stop();
        await opened.close();
      } finally {
        await cleanUp(url, kafka, prefix, [schema]);
        removeKeys();
      }
    },
  };
}

/** Drops the schemas and deletes the prefix's topics (and their dead-letter topics). */
export async function cleanUp(url: string, kafka: Kafka, prefix: string, schemas: readonly string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const s of schemas) await client.query(`drop schema if exists ${s} cascade`);
  } finally {
    await client.end();
  }
  const admin = kafka.admin();
  await admin.connect();
  try {
    const mine = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
    if (mine.length > 0) await admin.deleteTopics({ topics: mine, timeout: 30_000 });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Polls `probe` until it returns something other than undefined/false, at
 * most `timeoutMs`: the bounded wait for effects that travel through Kafka.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 45_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const BUREAU_USCC = (() => {
  const body8 = "00354832";
  const first17 = `11350100${body8}${computeOrgCodeCheckChar(body8)}`;
  return first17 + computeUsccCheckChar(first17);
})();

export interface Application {
  readonly caseId: string;
  readonly licenceId: string;
  readonly item: { readonly code: string; readonly name: string };
  readonly holder: { readonly name: string; readonly uscc: string };
  readonly underCommitment: boolean;
}

/** 受理 then 准予许可 by the city's approval bureau, decided today (the clock's date); fails the test on any refusal. */
export async function grantLicence(e: E2e, a: Application, decisionDate: string): Promise<void> {
  const accepted = await e.approval.post("/cases", DEMO.bureau, {
    caseId: a.caseId,
    applicationNumber: `SL-${a.caseId}`,
    itemCode: a.item.code,
    itemName: a.item.name,
    applicant: a.holder,
    regionCode: REGION,
    underCommitment: a.underCommitment,
  });
  if (accepted.status !== 201) throw new Error(`accept ${a.caseId}: ${accepted.status} ${JSON.stringify(accepted.body)}`);
  const granted = await e.approval.post(`/cases/${a.caseId}/grant`, DEMO.bureau, {
    licenceId: a.licenceId,
    elicenceId: buildElicenceId({ typeCode: "11100000000000000123", issuerUscc: BUREAU_USCC, serial: a.licenceId.replaceAll(/[^A-Z0-9]/g, ""), version: "001" }),
    decisionNumber: `榕审批许〔${decisionDate.slice(0, 4)}〕${a.caseId}号`,
    licenceContent: a.item.name,
    legalRepresentative: "林某某",
    decisionDate,
    validUntil: `${Number(decisionDate.slice(0, 4)) + 5}${decisionDate.slice(4)}`,
    issuingAuthorityName: "福州市行政审批局",
  });
  if (granted.status !== 200) throw new Error(`grant ${a.caseId}: ${granted.status} ${JSON.stringify(granted.body)}`);
}

/** Adds a route to the 审管职责清单 (no 推送即认领 unless asked). */
export async function addRoute(
  linkage: Api,
  route: { itemCode: string; regulator: string; claimDays: number; pushIsClaim?: boolean },
): Promise<Body> {
  const r = await linkage.post("/routes", OPS, {
    itemCode: route.itemCode,
    regionCode: "350100",
    regulator: route.regulator,
    claimLimit: { amount: route.claimDays, unit: "WORKING_DAYS" },
    pushIsClaim: route.pushIsClaim ?? false,
  });
  if (r.status !== 201) throw new Error(`route ${route.itemCode}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** The family topics under a prefix (dead-letter topics left out). */
export function topicsOf(prefix: string): string[] {
  return families.map((f: Family) => topicOf(f, prefix));
}

/** Each partition's end (high watermark) of the topics, as "topic/partition" → offset. */
export async function topicEnds(kafka: Kafka, topics: readonly string[]): Promise<Map<string, string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const ends = new Map<string, string>();
    for (const topic of topics) for (const p of await retriable(() => admin.fetchTopicOffsets(topic))) ends.set(`${topic}/${p.partition}`, p.high);
    return ends;
  } finally {
    await admin.disconnect();
  }
}

/** `consumer`'s stored offsets (consumer_offsets in `db`'s schema, or in `schema`), by "topic/partition" as topicEnds keys them. */
export async function storedOffsets(db: SqlQueryable, consumer: string, schema?: string): Promise<Map<string, string>> {
  const table = schema ? `${schema}.consumer_offsets` : "consumer_offsets";
  const { rows } = await db.query<{ topic: string; partition: number; next_offset: string }>(
    `select topic, partition, next_offset::text as next_offset from ${table} where consumer = $1`,
    [consumer],
  );
  return new Map(rows.map((r) => [`${r.topic}/${r.partition}`, r.next_offset]));
}

/** Whether `consumer`'s offsets stand at every non-empty partition's end. */
export async function caughtUp(db: SqlQueryable, consumer: string, ends: ReadonlyMap<string, string>, schema?: string): Promise<boolean> {
  const stored = await storedOffsets(db, consumer, schema);
  return [...ends].every(([key, high]) => high === "0" || stored.get(key) === high);
}

/** The consumers the bus runs, as their services declare them (services/bus/src/bus.ts starts these). */
function busConsumers(bus: Bus): ConsumerSpec[] {
  const { approval, supervision, enforcement, linkage } = bus.apps;
  return [
    ...linkageConsumers(linkage.linkage.handle),
    ...supervisionConsumers(supervision.handoffs),
    ...enforcementConsumers(enforcement.enforcement, enforcement.credit),
    ...approvalConsumers(approval.licences),
  ];
}

/**
 * Waits until the bus is quiet: every event in its store relayed, and every
 * consumer at the end of its topics, twice in a row with nothing new between.
 */
export async function waitQuiet(e: E2e, timeoutMs = 60_000): Promise<Map<string, string>> {
  let previous = "";
  return waitFor(
    "the bus to be quiet (everything relayed and consumed)",
    async () => {
      const ends = await topicEnds(e.kafka, topicsOf(e.prefix));
      const { rows } = await e.bus.sql.query<{ n: string }>(`select count(*)::text as n from events`);
      const m = e.pipeline.relay.metrics();
      const relayed = m.published + m.skippedInternal + m.parked;
      let consumed = relayed === Number(rows[0]?.n);
      for (const spec of busConsumers(e.pipeline)) {
        const theirs = new Map([...ends].filter(([key]) => spec.families.some((f) => key.startsWith(`${topicOf(f, e.prefix)}/`))));
        consumed &&= await caughtUp(e.bus.sql, spec.name, theirs);
      }
      const snapshot = JSON.stringify([[...ends], rows[0]?.n, relayed]);
      const quiet = consumed && snapshot === previous;
      previous = consumed ? snapshot : "";
      return quiet ? ends : undefined;
    },
    timeoutMs,
  );
}
