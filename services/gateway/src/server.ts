// The gateway as its own process: `pnpm --filter @shenguan/gateway start`.
//   DATABASE_URL (the bus's store), SHENGUAN_KEYS_DIR / SHENGUAN_AUTO_PROVISION_KEYS (custody keys), PKI_DIR (infra/pki/ca.sh: mutual TLS; plain HTTP when absent),
//   SHENGUAN_GATEWAY_KEY (a file with the gateway secret, base64; each service holds its own hop key: `pnpm --filter @shenguan/gateway run hop-key <service>`),
//   APPROVAL_URL, SUPERVISION_URL, ENFORCEMENT_URL, LINKAGE_URL, HOST, PORT (4100), LOG_LEVEL
import { existsSync } from "node:fs";
import { join } from "node:path";
import { evidenceStoreFromEnv, openEventStore } from "@shenguan/eventstore";
import { DepartmentRegistry, signingKeysFor } from "@shenguan/registry";
import { systemClock } from "@shenguan/service-kit";
import { pino } from "pino";
import { buildGatewayApp } from "./app.js";
import { gatewayTls, loadGatewaySecret } from "./tls.js";

const env = process.env;
const logger = pino({ level: env["LOG_LEVEL"] ?? "info", name: "gateway" });
const opened = await openEventStore();
// Published events are signed (custody key) or verified (a department's own
// signature, against the keys it registered) on their way into the store.
// Only keys that may sign now: active keys of active departments, and custody keys of no known department.
const signing = signingKeysFor({ publicKeys: () => store.keys.publicKeys() });
const store = evidenceStoreFromEnv(opened.store, env, { verifiers: signing.verifiers });
const registry = await new DepartmentRegistry({ store, clock: systemClock }).start();
signing.attach(registry);
const pkiDir = env["PKI_DIR"] ?? join(process.cwd(), ".data/pki");
const app = await buildGatewayApp({
  store,
  registry,
  gatewaySecret: loadGatewaySecret(env["SHENGUAN_GATEWAY_KEY"] ?? ".data/gateway/secret", !env["SHENGUAN_GATEWAY_KEY"]),
  upstreams: {
    approval: env["APPROVAL_URL"] ?? "http://127.0.0.1:4101",
    supervision: env["SUPERVISION_URL"] ?? "http://127.0.0.1:4102",
    enforcement: env["ENFORCEMENT_URL"] ?? "http://127.0.0.1:4103",
    linkage: env["LINKAGE_URL"] ?? "http://127.0.0.1:4104",
  },
  ...(existsSync(join(pkiDir, "ca.pem")) ? { https: gatewayTls(pkiDir), pkiDir } : {}),
  logger,
});
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void app
      .close()
      .then(() => registry.close())
      .then(() => opened.close())
      .then(() => process.exit(0));
  });
}
await app.listen({ host: env["HOST"] ?? "127.0.0.1", port: Number(env["PORT"] ?? 4100) });
