import {
  createKafka,
  evidenceStoreFromEnv,
  openEventStore,
  parseBrokers,
  startConsumers,
  type ConsumerSpec,
  type EventStore,
  type SqlExecutor,
} from "@shenguan/eventstore";
import { DEFAULT_TOPIC_PREFIX } from "@shenguan/contracts";
import { pino, type Logger } from "pino";
import type { ServiceApp } from "./app.js";
import { systemClock, type Clock } from "./clock.js";
import { parseHopKeys, trustHopKey } from "./identity.js";
import { exposePipelineMetrics } from "./pipeline-metrics.js";
import { readFileSync } from "node:fs";

export interface ServiceRuntime {
  readonly store: EventStore;
  readonly sql: SqlExecutor;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * A service as its own process (each service's server.ts): store, HTTP, its
 * Kafka consumers and an optional periodic job, stopped cleanly on SIGINT or
 * SIGTERM. The relay runs separately (`packages/eventstore/src/relay/main.ts`).
 *   DATABASE_URL, DATABASE_SCHEMA, KAFKA_BROKERS, KAFKA_TOPIC_PREFIX, HOST, PORT, LOG_LEVEL,
 *   SHENGUAN_KEYS_DIR, SHENGUAN_AUTO_PROVISION_KEYS (the custody keys every event is signed with),
 *   SHENGUAN_HOP_KEY or SHENGUAN_HOP_KEY_FILE (this service's hop key, base64; several, comma or
 *   newline separated, while the gateway rotates): the gateway's identity assertions for this
 *   service are tagged with it (`pnpm --filter @shenguan/gateway run hop-key <service>` prints it)
 */
export async function runServiceProcess<App extends ServiceApp>(options: {
  readonly name: string;
  readonly defaultPort: number;
  readonly build: (runtime: ServiceRuntime) => Promise<App>;
  readonly consumers: (app: App) => ConsumerSpec[];
  readonly every?: { readonly ms: number; readonly run: (app: App) => Promise<unknown> };
}): Promise<void> {
  const env = process.env;
  const logger = pino({ level: env["LOG_LEVEL"] ?? "info", name: options.name });
  try {
    for (const key of hopKeysFromEnv(env)) trustHopKey(options.name, key);
  } catch (err) {
    logger.fatal((err as Error).message);
    process.exit(2);
  }
  const opened = await openEventStore();
  if (!opened.executor) {
    logger.fatal("read models, idempotency keys and offsets need PostgreSQL or PGlite: set DATABASE_URL");
    await opened.close();
    process.exit(2);
  }
  // Every event the service appends is signed with its department's custody key and chained.
  const runtime: ServiceRuntime = { store: evidenceStoreFromEnv(opened.store, env), sql: opened.executor, clock: systemClock, logger };
  const app = await options.build(runtime);
  const kafka = createKafka(
    { clientId: `shenguan-${options.name}`, brokers: parseBrokers(env["KAFKA_BROKERS"] ?? "127.0.0.1:9092") },
    logger,
  );
  const consumers = await startConsumers(options.consumers(app), {
    kafka,
    db: opened.executor,
    logger,
    topicPrefix: env["KAFKA_TOPIC_PREFIX"] ?? DEFAULT_TOPIC_PREFIX,
  });
  exposePipelineMetrics(app.metrics, { consumers });
  // One beat at a time: a slow run is never overlapped by the next.
  let beat: Promise<unknown> = Promise.resolve();
  const timer = options.every
    ? setInterval(() => {
        beat = beat.then(() => options.every!.run(app)).catch((err: unknown) => logger.error({ err }, "periodic job failed"));
      }, options.every.ms)
    : undefined;

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    if (timer) clearInterval(timer);
    await beat;
    await Promise.all(consumers.map((c) => c.stop()));
    await app.close();
    await opened.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  await app.listen({ host: env["HOST"] ?? "127.0.0.1", port: Number(env["PORT"] ?? options.defaultPort) });
}

/**
 * The hop keys a service process is configured with: SHENGUAN_HOP_KEY (the
 * keys) or SHENGUAN_HOP_KEY_FILE (a file holding them), never both; the
 * Ed25519 public key of earlier versions is refused by name, not ignored.
 */
export function hopKeysFromEnv(env: NodeJS.ProcessEnv): Buffer[] {
  if (env["SHENGUAN_GATEWAY_PUBLIC_KEY"]) {
    throw new Error(
      "SHENGUAN_GATEWAY_PUBLIC_KEY is no longer read: identity assertions are HMAC-SM3 tags; set SHENGUAN_HOP_KEY to this service's hop key",
    );
  }
  const inline = env["SHENGUAN_HOP_KEY"];
  const file = env["SHENGUAN_HOP_KEY_FILE"];
  if (inline && file) throw new Error("set SHENGUAN_HOP_KEY or SHENGUAN_HOP_KEY_FILE, not both");
  if (!inline && !file) {
    throw new Error("SHENGUAN_HOP_KEY (or SHENGUAN_HOP_KEY_FILE) is required: without it every request would be refused with 401");
  }
  let value = inline;
  if (file) {
    try {
      value = readFileSync(file, "utf8");
    } catch (err) {
      throw new Error(`SHENGUAN_HOP_KEY_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  try {
    return parseHopKeys(value!);
  } catch (err) {
    throw new Error(`${file ? `SHENGUAN_HOP_KEY_FILE (${file})` : "SHENGUAN_HOP_KEY"}: ${(err as Error).message}`);
  }
}
