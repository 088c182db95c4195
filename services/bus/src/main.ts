// `pnpm --filter @shenguan/bus start` (what infra/up.sh runs): the whole bus
// in one process, on the local Kafka and the configured or embedded store.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { PiiKeyRing } from "@shenguan/gateway";
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
const bus = await startBus({ config, clock: systemClock, logger, listen: true, timer: true, keys, piiKeys: piiKeys(join(dirname(keysDir), "pii-keys.json")) });
logger.info({ urls: bus.urls, keys: keysDir, store: config.DATABASE_URL ? "postgres" : config.KURRENTDB_URL ? "kurrentdb" : "embedded (PGlite, .data/pglite)" }, "shenguan bus is running");
if (config.SHENGUAN_SEED_DEMO === "true") {
  seedDemo(bus, systemClock, logger).catch((err: unknown) => logger.error({ err }, "demo seed failed"));
}

/**
 * The SM4 keys personal data is sealed with, kept across restarts so sealed
 * values stay revealable: made once (mode 0600), then read. Rotate by adding
 * a key to `secrets` and pointing `current` at it; old values still open.
 */
function piiKeys(path: string): PiiKeyRing {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const ring = { current: "k1", secrets: { k1: randomBytes(32).toString("base64") } };
    writeFileSync(path, `${JSON.stringify(ring, null, 2)}\n`, { mode: 0o600, flag: "wx" });
  }
  return JSON.parse(readFileSync(path, "utf8")) as PiiKeyRing;
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
