// `pnpm --filter @shenguan/gateway token <DEPT> [--ttl seconds] [--keys dir]`:
// prints a token for a department, signed with its key from a key directory
// (the bus runner's custody keys, .data/keys, by default). A department system
// signs with its own key the same way (mintToken), never with the bus's copy.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { importSigningKey } from "@shenguan/evidence";
import { MAX_TOKEN_SECONDS, mintToken } from "./access/token.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { ttl: { type: "string", default: "300" }, keys: { type: "string" } },
});
const department = positionals[0];
const ttl = Number(values.ttl);
if (!department || !/^[A-Z0-9][A-Z0-9-]{1,39}$/.test(department)) {
  console.error("usage: token <DEPARTMENT-CODE> [--ttl seconds] [--keys dir]   (department: A-Z, 0-9, '-')");
  process.exit(2);
}
if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_SECONDS) {
  console.error(`--ttl: an integer from 1 to ${MAX_TOKEN_SECONDS} seconds, got ${values.ttl}`);
  process.exit(2);
}
const dir = values.keys ?? process.env["SHENGUAN_KEYS_DIR"] ?? join(import.meta.dirname, "..", "..", "..", ".data", "keys");
let pem: string;
try {
  pem = readFileSync(join(dir, `${department}.pem`), "utf8");
} catch {
  console.error(`no key for ${department} in ${dir}: start the bus once (bash infra/up.sh) or pass --keys`);
  process.exit(1);
}
process.stdout.write(`${mintToken(importSigningKey(pem), department, { ttlSeconds: ttl })}\n`);
