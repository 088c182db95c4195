// `pnpm --filter @shenguan/gateway hop-key <service> [--secret file]`: prints
// the service's hop key (base64), derived from the gateway's secret
// (SHENGUAN_GATEWAY_KEY, or .data/gateway/secret). Give it to that service
// alone, as SHENGUAN_HOP_KEY: it then accepts the assertions this gateway
// forwards to it, and no other service can use it to speak for a department.
import { parseArgs } from "node:util";
import { hopKeyFor } from "@shenguan/service-kit";
import { SERVICES } from "./routes/proxy.js";
import { loadGatewaySecret } from "./tls.js";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { secret: { type: "string" } } });
const service = positionals[0];
if (!service || !(SERVICES as readonly string[]).includes(service)) {
  console.error(`usage: hop-key <service> [--secret file]   (service: ${SERVICES.join(", ")})`);
  process.exit(2);
}
const path = values.secret ?? process.env["SHENGUAN_GATEWAY_KEY"] ?? ".data/gateway/secret";
try {
  console.log(hopKeyFor(loadGatewaySecret(path), service).toString("base64"));
} catch (err) {
  console.error((err as Error).message);
  process.exit(2);
}
