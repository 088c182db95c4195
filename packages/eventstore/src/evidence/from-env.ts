import { join } from "node:path";
import type { EventStore } from "../port.js";
import { EvidenceStore, type EvidenceStoreOptions } from "./evidence-store.js";
import { FileKeyStore } from "./key-store.js";

/**
 * The EvidenceStore a standalone process (a service's server.ts, the relay's
 * sealer, the gateway) appends through, with the custody keys the deployment
 * keeps on disk:
 *   SHENGUAN_KEYS_DIR              custody keys, one PKCS#8 PEM per department (default <cwd>/.data/keys)
 *   SHENGUAN_AUTO_PROVISION_KEYS   "true" creates a missing department's key on first use
 *                                  (development; production registers departments and sets "false", the default here)
 * Every process of one bus must read the same directory (or copies of it): a
 * key made by one process and unknown to another would sign events nobody can verify.
 */
export function evidenceStoreFromEnv(inner: EventStore, env: NodeJS.ProcessEnv = process.env, options: Omit<EvidenceStoreOptions, "keys"> = {}): EvidenceStore {
  const keys = new FileKeyStore(env["SHENGUAN_KEYS_DIR"] ?? join(process.cwd(), ".data", "keys"), {
    autoProvision: env["SHENGUAN_AUTO_PROVISION_KEYS"] === "true",
  });
  return new EvidenceStore(inner, { ...options, keys });
}
