import { approvalConsumers, buildApprovalApp } from "@shenguan/approval";
import { buildEnforcementApp, enforcementConsumers } from "@shenguan/enforcement";
import {
  createKafka,
  migrateRelayTables,
  openEventStore,
  parseBrokers,
  Relay,
  SqlCheckpointStore,
  startConsumers,
  type ProjectionConsumer,
  type SqlExecutor,
} from "@shenguan/eventstore";
import { buildLinkageApp, linkageConsumers } from "@shenguan/linkage";
import type { Clock, ServiceApp } from "@shenguan/service-kit";
import { buildSupervisionApp, supervisionConsumers } from "@shenguan/supervision";
import type { Logger } from "pino";
import type { BusConfig } from "./config.js";

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
}

export interface Bus {
  readonly apps: { approval: Awaited<ReturnType<typeof buildApprovalApp>>; supervision: Awaited<ReturnType<typeof buildSupervisionApp>>; enforcement: Awaited<ReturnType<typeof buildEnforcementApp>>; linkage: Awaited<ReturnType<typeof buildLinkageApp>> };
  readonly urls: Readonly<Record<"approval" | "supervision" | "enforcement" | "linkage", string>>;
  readonly sql: SqlExecutor;
  readonly relay: Relay;
  readonly consumers: readonly ProjectionConsumer[];
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
  if (!opened.executor) throw new Error("KURRENTDB_URL as the only database is not supported by the bus yet: set DATABASE_URL for read models too");
  const sql = opened.executor;
  const store = opened.store;

  const linkage = await buildLinkageApp({ store, sql, clock, yellowShare: config.SHENGUAN_YELLOW_SHARE, cardGraceMs: config.SHENGUAN_CARD_GRACE_MS, logger });
  // The 告知承诺 gate reads linkage's credit standing. In one process that is a
  // function call; split across hosts it is linkage's GET /subjects/:uscc/commitment-eligibility.
  const approval = await buildApprovalApp({ store, sql, clock, eligibility: (applicant) => linkage.linkage.eligibility(applicant), logger });
  const supervision = await buildSupervisionApp({ store, sql, clock, logger });
  const enforcement = await buildEnforcementApp({ store, sql, clock, creditDepartment: config.SHENGUAN_CREDIT_DEPARTMENT, logger });

  const kafka = createKafka({ clientId: "shenguan-bus", brokers: parseBrokers(config.KAFKA_BROKERS) }, logger);
  const consumers = await startConsumers(
    [
      ...linkageConsumers(linkage.linkage.handle),
      ...supervisionConsumers(supervision.handoffs),
      ...enforcementConsumers(enforcement.enforcement, enforcement.credit),
      ...approvalConsumers(approval.licences),
    ],
    // On PostgreSQL the partitions of a topic are applied concurrently (the pool has the connections); PGlite has one connection.
    { kafka, db: sql, logger, topicPrefix: config.KAFKA_TOPIC_PREFIX, partitionsConcurrently: opened.kind === "postgres" ? 3 : 1 },
  );

  // Started after the consumers, which create the topics it produces to.
  await migrateRelayTables(sql);
  const relay = new Relay({ store, kafka, checkpoints: new SqlCheckpointStore(sql), logger, topicPrefix: config.KAFKA_TOPIC_PREFIX });
  relay.start();

  const apps = { approval, supervision, enforcement, linkage };
  const urls = { approval: "", supervision: "", enforcement: "", linkage: "" };
  if (options.listen) {
    const order = ["approval", "supervision", "enforcement", "linkage"] as const;
    for (const [i, name] of order.entries()) {
      const app: ServiceApp = apps[name];
      urls[name] = await app.listen({ host: config.SHENGUAN_HOST, port: config.SHENGUAN_PORT_BASE + i + 1 });
    }
  }

  // One beat at a time: a slow tick is never overlapped by the next.
  let beat: Promise<unknown> = Promise.resolve();
  const runTick = () => (beat = beat.catch(() => undefined).then(() => linkage.linkage.tick()));
  const timer = options.timer
    ? setInterval(() => void runTick().catch((err: unknown) => logger.error({ err }, "deadline tick failed")), config.SHENGUAN_TICK_MS)
    : undefined;

  return {
    apps,
    urls,
    sql,
    relay,
    consumers,
    tick: runTick,
    async stop() {
      if (timer) clearInterval(timer);
      await Promise.all(consumers.map((c) => c.stop()));
      await relay.stop();
      await Promise.all(Object.values(apps).map((a) => a.close()));
      await opened.close();
    },
  };
}
