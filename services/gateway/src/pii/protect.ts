import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import { ContractViolationError, maskValue, piiFieldsOf, type PiiField, type PiiKind } from "@shenguan/contracts";

/**
 * Personal-data protection for deliveries. Subscribers without the `pii`
 * grant receive catalogued fields masked (a recognisable shape, no way back)
 * or sealed with SM4 (reversible by a holder of the grant through the
 * gateway), as the deployment chooses.
 *
 * Why SM4-CBC + HMAC-SM3 and not an AEAD: Node 20's OpenSSL offers SM4 only
 * in ECB, CBC, CFB, OFB and CTR (`crypto.getCiphers()`; no sm4-gcm/ccm), and
 * none of those authenticates. So: encrypt-then-MAC, the composition that is
 * secure with any IND-CPA cipher; the MAC covers the key id, the event type,
 * the field path, the IV and the ciphertext, so a sealed value cannot be
 * altered, nor moved to another field or event, without detection. Two keys
 * (SM4 and HMAC) are derived from one secret with HKDF-SM3, all 国密.
 */
export type PiiMode = "mask" | "sm4";

export interface PiiKeyRing {
  /** The key new values are sealed with. */
  readonly current: string;
  /** Every key that may still open values: id → secret (at least 16 bytes; base64 in config files). */
  readonly secrets: Readonly<Record<string, Uint8Array | string>>;
}

export interface PiiConfig {
  /** What a subscriber without the `pii` grant receives. */
  readonly mode: PiiMode;
  /** Required for "sm4", and for revealing sealed values in either mode. */
  readonly keys?: PiiKeyRing;
}

export interface Protected<T> {
  readonly data: T;
  /** Concrete paths of the fields that held personal data (`changes.0.to`), for the access log. */
  readonly paths: readonly string[];
}

const SEALED = /^sm4:([A-Za-z0-9_.-]{1,64}):([A-Za-z0-9_-]+)$/;
const IV_BYTES = 16;
const TAG_BYTES = 32;

interface DerivedKey {
  readonly enc: Buffer;
  readonly mac: Buffer;
}

function derive(secret: Uint8Array | string, keyId: string): DerivedKey {
  const ikm = typeof secret === "string" ? Buffer.from(secret, "base64") : Buffer.from(secret);
  if (ikm.length < 16) {
    throw new ContractViolationError("pii config", [
      { path: `keys.secrets.${keyId}`, rule: "min-length", message: `a PII key secret needs at least 16 bytes, key ${keyId} has ${ikm.length}` },
    ]);
  }
  const okm = Buffer.from(hkdfSync("sm3", ikm, Buffer.alloc(0), "shenguan pii sm4-cbc+hmac-sm3", 16 + 32));
  return { enc: okm.subarray(0, 16), mac: okm.subarray(16) };
}

export class PiiProtector {
  private readonly keys = new Map<string, DerivedKey>();

  constructor(readonly config: PiiConfig) {
    for (const [id, secret] of Object.entries(config.keys?.secrets ?? {})) {
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) {
        throw new ContractViolationError("pii config", [{ path: `keys.secrets.${id}`, rule: "key-id", message: "a key id is 1-64 of A-Z a-z 0-9 _ . -" }]);
      }
      this.keys.set(id, derive(secret, id));
    }
    if (config.mode === "sm4" && !(config.keys && this.keys.has(config.keys.current))) {
      throw new ContractViolationError("pii config", [
        { path: "keys.current", rule: "required", message: 'mode "sm4" needs keys.current naming one of keys.secrets' },
      ]);
    }
  }

  /** The payload a subscriber receives: clear with the grant, else masked or sealed per the configured mode. */
  forSubscriber<T>(type: string, data: T, pii: boolean): Protected<T> & { readonly treatment: "clear" | PiiMode } {
    if (pii) return { data, paths: personalPaths(type, data), treatment: "clear" };
    return { ...this.protect(type, data, this.config.mode), treatment: this.config.mode };
  }

  /** A copy of `data` with every catalogued personal field masked or sealed. */
  protect<T>(type: string, data: T, mode: PiiMode): Protected<T> {
    const copy = structuredClone(data);
    const paths: string[] = [];
    visit(type, copy, (holder, key, field, path) => {
      const value = holder[key];
      if (typeof value !== "string" || value.length === 0) return;
      holder[key] = mode === "mask" ? mask(field.kind, value) : this.seal(type, field.path, value);
      paths.push(path);
    });
    return { data: copy, paths };
  }

  /** Opens every sealed value at a catalogued path; masked or clear values pass through. */
  reveal<T>(type: string, data: T): Protected<T> {
    const copy = structuredClone(data);
    const paths: string[] = [];
    visit(type, copy, (holder, key, field, path) => {
      const value = holder[key];
      if (typeof value !== "string" || !value.startsWith("sm4:")) return;
      holder[key] = this.open(type, field.path, value, path);
      paths.push(path);
    });
    return { data: copy, paths };
  }

  seal(type: string, fieldPath: string, plain: string): string {
    const keyId = this.config.keys?.current;
    const key = keyId === undefined ? undefined : this.keys.get(keyId);
    if (!key || keyId === undefined) throw new ContractViolationError("pii config", [{ path: "keys.current", rule: "required", message: "no current PII key" }]);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("sm4-cbc", key.enc, iv);
    const ct = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    const tag = macOf(key.mac, keyId, type, fieldPath, iv, ct);
    return `sm4:${keyId}:${Buffer.concat([iv, ct, tag]).toString("base64url")}`;
  }

  open(type: string, fieldPath: string, sealed: string, at = fieldPath): string {
    const refuse = (rule: string, message: string) => new ContractViolationError("sealed personal data", [{ path: at, rule, message }]);
    const m = SEALED.exec(sealed);
    if (!m) throw refuse("sm4.format", "not a sealed value (sm4:<keyId>:<base64url>)");
    const keyId = m[1]!;
    const key = this.keys.get(keyId);
    if (!key) throw refuse("sm4.key", `PII key ${keyId} is not configured on this gateway`);
    const raw = Buffer.from(m[2]!, "base64url");
    if (raw.length < IV_BYTES + 16 + TAG_BYTES || (raw.length - IV_BYTES - TAG_BYTES) % 16 !== 0) throw refuse("sm4.format", "sealed value has the wrong length");
    const iv = raw.subarray(0, IV_BYTES);
    const ct = raw.subarray(IV_BYTES, raw.length - TAG_BYTES);
    const tag = raw.subarray(raw.length - TAG_BYTES);
    // MAC first, constant time, and never decrypt what fails it (no padding oracle).
    if (!timingSafeEqual(tag, macOf(key.mac, keyId, type, fieldPath, iv, ct))) {
      throw refuse("sm4.authentic", `sealed value does not authenticate for ${type} ${fieldPath} (altered, or sealed for another field)`);
    }
    const decipher = createDecipheriv("sm4-cbc", key.enc, iv);
    return Buffer.concat([decipher.update(ct), decipher.final()]).toString("utf8");
  }
}

function macOf(key: Buffer, keyId: string, type: string, fieldPath: string, iv: Buffer, ct: Buffer): Buffer {
  // Length-prefixed parts, so no two different inputs concatenate to the same bytes.
  const h = createHmac("sm3", key);
  for (const part of [Buffer.from("sm4-cbc-hmac-sm3/v1"), Buffer.from(keyId), Buffer.from(type), Buffer.from(fieldPath), iv, ct]) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(part.length);
    h.update(len).update(part);
  }
  return h.digest();
}

/** A recognisable shape with the identifying part hidden (3501**********1234, 张*, 138****5678): one rule with the auditor's. */
export const mask: (kind: PiiKind, value: string) => string = maskValue;

/** Paths of the personal fields present in clear data, for logging a clear delivery. */
export function personalPaths(type: string, data: unknown): string[] {
  const paths: string[] = [];
  visit(type, data, (holder, key, _field, path) => {
    const value = holder[key];
    if (typeof value === "string" && value.length > 0) paths.push(path);
  });
  return paths;
}

type Visitor = (holder: Record<string, unknown>, key: string, field: PiiField, path: string) => void;

/** Calls `fn` for every catalogued field whose condition holds in this event. */
function visit(type: string, data: unknown, fn: Visitor): void {
  for (const field of piiFieldsOf(type)) walk(data, field.path.split("."), [], field, fn);
}

function walk(node: unknown, segments: readonly string[], at: readonly string[], field: PiiField, fn: Visitor): void {
  if (node === null || typeof node !== "object") return;
  const [head, ...rest] = segments;
  if (head === undefined) return;
  const obj = node as Record<string, unknown>;
  if (head.endsWith("[]")) {
    const key = head.slice(0, -2);
    const list = obj[key];
    if (Array.isArray(list)) list.forEach((item, i) => walk(item, rest, [...at, key, String(i)], field, fn));
    return;
  }
  if (rest.length > 0) return walk(obj[head], rest, [...at, head], field, fn);
  if (field.unlessPresent !== undefined && obj[field.unlessPresent] !== null && obj[field.unlessPresent] !== undefined) return;
  if (field.whenSibling && !field.whenSibling.values.includes(String(obj[field.whenSibling.field]))) return;
  if (head in obj) fn(obj, head, field, [...at, head].join("."));
}
