import { randomBytes } from "node:crypto";
import { approvalConsumers, buildApprovalApp } from "@shenguan/approval";
import { buildEnforcementApp, enforcementConsumers } from "@shenguan/enforcement";
import {
  createKafka,
  ensureFamilyTopics,
  EvidenceStore,
  LogSealer,
  MemoryKeyStore,
  migrateRelayTables,
  openEventStore,
  parseBrokers,
  Relay,
  SqlCheckpointStore,
  startConsumers,
  type KeyStore,
  type ProjectionConsumer,
  type SqlExecutor,
} from "@shenguan/eventstore";
import { families, topicOf } from "@shenguan/contracts";
import {
  bootstrapDepartments,
  buildGatewayApp,
  gatewayTls,
  loadGatewaySecret,
  PiiProtector,
  vouchHeaders,
  type PiiKeyRing,
} from "@shenguan/gateway";
import { buildLinkageApp, linkageConsumers } from "@shenguan/linkage";
import { DepartmentRegistry, signingKeysFor } from "@shenguan/registry";
import { exposePipelineMetrics, HOP_KEY_BYTES, NO_GRANTS, systemClock, trustGateway, type Clock, type ServiceApp } from "@shenguan/service-kit";
import { buildSupervisionApp, supervisionConsumers } from "@shenguan/supervision";
import type { Logger } from "pino";
import type { BusConfig } from "./config.js";
import { DEMO_DEPARTMENTS } from "./seed.js";

export interface BusOptions {
  readonly config: BusConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Where the store lives when DATABASE_URL is not set; `memory://` in tests. */
  readonly dataDir?: string;
  /** PostgreSQL schema for this bus's tables (tests use a fresh one each). */
  readonly schema?: string;
  /** Listen on TCP ports (the runner) or only serve `inject` (tests). */
  readonly listen: boolean;
  /** Run the deadline timer on an interval (the runner); tests call tick() with their own clock. */
  readonly timer: boolean;
  /**
   * Custody keys the bus signs departments' events with (the runner: a
   * FileKeyStore). Default: keys in memory, created on first use when
   * SHENGUAN_AUTO_PROVISION_KEYS is true (tests).
   */
  readonly keys?: KeyStore;
  /**
   * SM4 keys for personal data sent to subscribers without the pii grant
   * (the runner keeps one in <data>/pii-keys.json). Default: a key made for
   * this process, so sealed values open only while it runs (tests).
   */
  readonly piiKeys?: PiiKeyRing;
  /**
   * Which of the moving parts this process runs (default: all of them). A
   * deployment over several processes gives each its share of the cores:
   * e.g. one serving the APIs and sealing, one relaying and consuming. The
   * services' apps are built either way (the consumers call into them); parts
   * left out are built but never started, so stop() still works.
   */
  readonly run?: { readonly relay?: boolean; readonly consumers?: boolean; readonly sealer?: boolean };
}

export interface Bus {
  readonly apps: {
    approval: Awaited<ReturnType<typeof buildApprovalApp>>;
    supervision: Awaited<ReturnType<typeof buildSupervisionApp>>;
    enforcement: Awaited<ReturnType<typeof buildEnforcementApp>>;
    linkage: Awaited<ReturnType<typeof buildLinkageApp>>;
  };
  readonly urls: Readonly<Record<"gateway" | "approval" | "supervision" | "enforcement" | "linkage", string>>;
  readonly sql: SqlExecutor;
  /** The event store every service appends through: signed and chained (EvidenceStore). */
  readonly store: EvidenceStore;
  readonly keys: KeyStore;
  /** Seals the global log in blocks (LogSealed on shenguan-seals); tests call flush(). */
  readonly sealer: LogSealer;
  readonly relay: Relay;
  readonly consumers: readonly ProjectionConsumer[];
  /** The departments' door (port base+0): authentication, ACLs, publish, registry admin, proxy to the services. */
  readonly gateway: ServiceApp;
  readonly registry: DepartmentRegistry;
  /** Headers that vouch for `department` to the services in this process, as the gateway would (seed, bench). */
  vouch(department: string): Record<string, string>;
  /** Looks for due yellow and red cards now (the timer calls it on an interval). */
  tick(): Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * Starts the whole loop in one process: the four services over one event
 * store, the relay from the store to Kafka, and one exactly-once consumer per
 * service that reacts to other departments' events. Services still only talk
 * through Kafka; sharing a process is a deployment choice for development.
 */
export async function startBus(options: BusOptions): Promise<Bus> {
  const { config, clock, logger } = options;
  const opened = await openEventStore({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    ...(options.schema ? { schema: options.schema } : {}),
    env: { DATABASE_URL: config.DATABASE_URL, KURRENTDB_URL: config.KURRENTDB_URL },
  });
  // Read models, checkpoints and idempotency keys live beside the events on
  // PostgreSQL/PGlite; with KurrentDB they need a PostgreSQL of their own.
  if (!opened.executor)
    throw new Error("KURRENTDB_URL as the only database is not supported by the bus yet: set DATABASE_URL for read models too");
  const sql = opened.executor;
  const keys = options.keys ?? new MemoryKeyStore({ autoProvision: config.SHENGUAN_AUTO_PROVISION_KEYS === "true" });
  // Pre-signed events (the gateway's publish API) verify against the keys that
  // may sign now: active keys of active departments (retired keys only verify
  // old events, in the auditor) and the custody keys of no known department.
  // The registry reads and writes through this store, so it is attached below.
  const signing = signingKeysFor(keys);
  const store = new EvidenceStore(opened.store, { keys, clock: () => clock.now(), verifiers: signing.verifiers });
  const linkage = await buildLinkageApp({
    store,
    sql,
    clock,
    yellowShare: config.SHENGUAN_YELLOW_SHARE,
    cardGraceMs: config.SHENGUAN_CARD_GRACE_MS,
    logger,
  });
  // The 告知承诺 gate reads linkage's credit standing. In one process that is a
  // function call; split across hosts it is linkage's GET /subjects/:uscc/commitment-eligibility.
  const approval = await buildApprovalApp({
    store,
    sql,
    clock,
    eligibility: (applicant) => linkage.linkage.eligibility(applicant),
    logger,
  });
  const supervision = await buildSupervisionApp({ store, sql, clock, logger });
  const enforcement = await buildEnforcementApp({ store, sql, clock, creditDepartment: config.SHENGUAN_CREDIT_DEPARTMENT, logger });

  const kafka = createKafka({ clientId: "shenguan-bus", brokers: parseBrokers(config.KAFKA_BROKERS) }, logger);
  await warnIfTopicsOutliveStore(kafka, opened.store, config.KAFKA_TOPIC_PREFIX, logger);
  const specsOf = {
    linkage: linkageConsumers(linkage.linkage.handle),
    supervision: supervisionConsumers(supervision.handoffs),
    enforcement: enforcementConsumers(enforcement.enforcement, enforcement.credit),
    approval: approvalConsumers(approval.licences),
  };
  const consumers = options.run?.consumers === false ? [] : await startConsumers(
    [...specsOf.linkage, ...specsOf.supervision, ...specsOf.enforcement, ...specsOf.approval],
    // On PostgreSQL the partitions of a topic are applied concurrently (the pool has the connections); PGlite has one connection.
    { kafka, db: sql, logger, topicPrefix: config.KAFKA_TOPIC_PREFIX, partitionsConcurrently: opened.kind === "postgres" ? 3 : 1 },
  );

  // The consumers created the topics it produces to; without them, create them here (never the broker's auto-created defaults).
  if (options.run?.consumers === false && options.run?.relay !== false) {
    await ensureFamilyTopics(kafka, config.KAFKA_TOPIC_PREFIX, { logger });
  }
  await migrateRelayTables(sql);
  const relay = new Relay({ store, kafka, checkpoints: new SqlCheckpointStore(sql), logger, topicPrefix: config.KAFKA_TOPIC_PREFIX });
  if (options.run?.relay !== false) relay.start();

  const sealer = new LogSealer({
    store,
    clock: () => clock.now(),
    blockSize: config.SHENGUAN_SEAL_BLOCK_SIZE,
    maxDelayMs: config.SHENGUAN_SEAL_DELAY_MS,
    // The runner checks the delay on a timer; tests move their clock and call flush().
    ...(options.timer ? { intervalMs: Math.max(100, Math.floor(config.SHENGUAN_SEAL_DELAY_MS / 4)) } : {}),
    logger,
  });
  if (options.run?.sealer !== false) await sealer.start();

  const apps = { approval, supervision, enforcement, linkage };
  // Each service's /metrics shows its own consumers; the relay's figures go on the gateway's, the bus's front door.
  for (const [service, specs] of Object.entries(specsOf)) {
    const names = new Set(specs.map((spec) => spec.name));
    exposePipelineMetrics(apps[service as keyof typeof apps].metrics, { consumers: consumers.filter((c) => names.has(c.name)) });
  }
  const urls = { approval: "", supervision: "", enforcement: "", linkage: "" };
  if (options.listen) {
    const order = ["approval", "supervision", "enforcement", "linkage"] as const;
    for (const [i, name] of order.entries()) {
      const app: ServiceApp = apps[name];
      urls[name] = await app.listen({ host: config.SHENGUAN_HOST, port: config.SHENGUAN_PORT_BASE + i + 1 });
    }
  }

  // The gateway: the registry (bootstrapped with the demo departments, their
  // custody keys and grants) and the identity key the services here trust.
  // Credentials are checked against the wall clock, whatever the business clock shows.
  const registry = await new DepartmentRegistry({ store, clock, follow: false }).start();
  signing.attach(registry);
  await bootstrapDepartments(registry, keys, DEMO_DEPARTMENTS);
  const gatewaySecret = config.SHENGUAN_GATEWAY_KEY ? loadGatewaySecret(config.SHENGUAN_GATEWAY_KEY, true) : randomBytes(HOP_KEY_BYTES);
  trustGateway(gatewaySecret);
  const gateway = await buildGatewayApp({
    store,
    registry,
    gatewaySecret,
    authClock: systemClock,
    ...(options.listen ? { upstreams: urls } : {}),
    ...(config.SHENGUAN_PKI_DIR ? { https: gatewayTls(config.SHENGUAN_PKI_DIR), pkiDir: config.SHENGUAN_PKI_DIR } : {}),
    subscriptions: {
      sql,
      clock,
      pii: new PiiProtector({
        mode: config.SHENGUAN_PII_MODE,
        keys: options.piiKeys ?? { current: "dev", secrets: { dev: randomBytes(32).toString("base64") } },
      }),
      // The auditor verifies with what the EvidenceStore trusts: registered department keys and custody keys.
      auditKeys: { publicKeys: async () => [...registry.keyRing(), ...(await keys.publicKeys())] },
      webhooks: {
        ...(options.timer ? { pollIntervalMs: 1_000 } : {}),
        egress: { allowPrivateNetworks: config.SHENGUAN_WEBHOOK_PRIVATE_NETWORKS === "allow" },
      },
    },
    logger,
  });
  if (options.run?.relay !== false) exposePipelineMetrics(gateway.metrics, { relay });
  const urlsWithGateway = {
    ...urls,
    gateway: options.listen ? await gateway.listen({ host: config.SHENGUAN_HOST, port: config.SHENGUAN_PORT_BASE }) : "",
  };
  const vouch = (department: string) =>
    vouchHeaders(gatewaySecret, systemClock, { department, grants: registry.get(department)?.grants ?? NO_GRANTS }, "bus");

  // One beat at a time: a slow tick is never overlapped by the next.
  let beat: Promise<unknown> = Promise.resolve();
  const runTick = () => (beat = beat.catch(() => undefined).then(() => linkage.linkage.tick()));
  const timer = options.timer
    ? setInterval(() => void runTick().catch((err: unknown) => logger.error({ err }, "deadline tick failed")), config.SHENGUAN_TICK_MS)
    : undefined;

  return {
    apps,
    urls: urlsWithGateway,
    gateway,
    registry,
    vouch,
    sql,
    store,
    keys,
    sealer,
    relay,
    consumers,
    tick: runTick,
    async stop() {
      if (timer) clearInterval(timer);
      await Promise.all(consumers.map((c) => c.stop()));
      await relay.stop();
      await sealer.stop();
      await gateway.close();
      await registry.close();
      await Promise.all(Object.values(apps).map((a) => a.close()));
      await opened.close();
    },
  };
}

/**
 * A store with no events beside topics that hold some: the store was reset
 * (or is another one) but Kafka was not, and the consumers are about to apply
 * another store's events to this store's read models. Not refused (a store
 * may rightly start empty beside a shared broker), but said loudly.
 */
async function warnIfTopicsOutliveStore(
  kafka: ReturnType<typeof createKafka>,
  store: { readAll(o: { maxCount: number }): Promise<unknown[]> },
  prefix: string,
  logger: Logger,
): Promise<void> {
  if ((await store.readAll({ maxCount: 1 })).length > 0) return;
  const admin = kafka.admin();
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    for (const family of families) {
      const topic = topicOf(family, prefix);
      if (!existing.has(topic)) continue;
      const offsets = await admin.fetchTopicOffsets(topic);
      if (offsets.some((o) => Number(o.high) > Number(o.low))) {
        logger.warn(
          { topic },
          "the event store is empty but Kafka already holds events: its consumers will apply another store's events here. To start over locally, stop the bus and run `bash infra/reset.sh`; or set KAFKA_TOPIC_PREFIX",
        );
        return;
      }
    }
  } catch (err) {
    logger.debug({ err }, "could not compare the store with the topics");
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
