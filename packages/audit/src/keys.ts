/**
 * Public keys as files: the keys.json of a bundle, and what `--keys` reads.
 * `{ departments: [{ owner, keyId, alg, pem }], bus: [...] }`: each entry is
 * re-derived from its PEM, so a keyId that does not match its key is an error.
 * Every entry must name its `owner` (the department code): a ring entry with
 * no owner makes the verifiers skip the check that an event is signed by its
 * own department's key, so one key could sign for every department.
 */
import { ShenguanError } from "@shenguan/contracts";
import { importVerifyingKey, KeyRing } from "@shenguan/evidence";
import type { AuditKeys } from "./evidence.js";

export interface KeyEntryJson {
  readonly owner?: string;
  readonly keyId: string;
  readonly alg: string;
  readonly pem: string;
}

export interface KeysJson {
  readonly departments: readonly KeyEntryJson[];
  readonly bus: readonly KeyEntryJson[];
}

/** keys.json (or a --keys file) that cannot be read as trusted keys. */
export class KeyFileError extends ShenguanError {
  readonly code = "audit.key-file";
}

export function keysToJson(keys: AuditKeys): KeysJson {
  const entries = (ring: KeyRing): KeyEntryJson[] =>
    [...ring]
      .map((e) => ({ ...(e.owner !== undefined ? { owner: e.owner } : {}), keyId: e.key.keyId, alg: e.key.alg, pem: e.key.toPem() }))
      .sort((a, b) => (a.keyId < b.keyId ? -1 : 1));
  return { departments: entries(keys.departments), bus: entries(keys.bus) };
}

export function keysFromJson(value: unknown, source: string): AuditKeys {
  const v = value as Partial<KeysJson> | null;
  if (v === null || typeof v !== "object" || !Array.isArray(v.departments) || !Array.isArray(v.bus)) {
    throw new KeyFileError(`${source}: expected { departments: [...], bus: [...] }`);
  }
  const ring = (list: readonly KeyEntryJson[], field: string): KeyRing => {
    const r = new KeyRing();
    list.forEach((entry, i) => {
      let key;
      try {
        key = importVerifyingKey(entry.pem);
      } catch (cause) {
        throw new KeyFileError(`${source}: ${field}[${i}].pem is not a readable public key`, { cause });
      }
      if (entry.keyId !== undefined && entry.keyId !== key.keyId) {
        throw new KeyFileError(`${source}: ${field}[${i}].keyId ${entry.keyId} is not the id of its key (${key.keyId})`);
      }
      if (typeof entry.owner !== "string" || entry.owner.length === 0) {
        throw new KeyFileError(
          `${source}: ${field}[${i}] (key ${key.keyId}) has no owner: every key must name the department it signs for`,
        );
      }
      r.add(key, entry.owner);
    });
    return r;
  };
  return { departments: ring(v.departments, "departments"), bus: ring(v.bus, "bus") };
}
