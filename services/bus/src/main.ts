// `pnpm --filter @shenguan/bus start` (what infra/up.sh runs): the whole bus
// in one process, on the local Kafka and the configured or embedded store.
import { join } from "node:path";
import { FileKeyStore } from "@shenguan/eventstore";
import { systemClock } from "@shenguan/service-kit";
import { pino } from "pino";
import { startBus } from "./bus.js";
import { readConfig } from "./config.js";
import { seedDemo } from "./seed.js";

const config = readConfig();
const logger = pino({ level: config.LOG_LEVEL, name: "shenguan" });
// Beside the embedded store's .data/pglite, at the workspace root (two levels above services/bus).
const keysDir = config.SHENGUAN_KEYS_DIR ?? join(import.meta.dirname, "..", "..", "..", ".data", "keys");
const keys = new FileKeyStore(keysDir, { autoProvision: config.SHENGUAN_AUTO_PROVISION_KEYS === "true" });
const bus = await startBus({ config, clock: systemClock, logger, listen: true, timer: true, keys });
logger.info({ urls: bus.urls, keys: keysDir, store: config.DATABASE_URL ? "postgres" : config.KURRENTDB_URL ? "kurrentdb" : "embedded (PGlite, .data/pglite)" }, "shenguan bus is running");
if (config.SHENGUAN_SEED_DEMO === "true") {
  seedDemo(bus, systemClock, logger).catch((err: unknown) => logger.error({ err }, "demo seed failed"));
}

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    bus.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "stop failed");
        process.exit(1);
      },
    );
  });
}
