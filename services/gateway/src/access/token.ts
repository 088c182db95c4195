import { LRUCache } from "lru-cache";
import { signBytes, type SignatureAlgorithm, type Signer } from "@shenguan/evidence";
import type { DepartmentRegistry } from "@shenguan/registry";
import type { Caller } from "@shenguan/service-kit";
import { UnauthenticatedError } from "@shenguan/service-kit";
import { activeDepartment } from "./department.js";

/**
 * Department tokens, for systems whose TLS ends before the gateway:
 *   base64url(header) "." base64url(payload) "." base64url(signature)
 * header { alg: "SM2-SM3" | "Ed25519", kid, typ: "shenguan-token" }, payload
 * { sub: department code, kid, iat, exp, aud: "shenguan-gateway" }, signed over
 * the ASCII of `header.payload` with one of the department's registered keys
 * (SM2 with SM3 and the default ID, DER; or Ed25519). The bound key replaces a
 * shared secret: the bus never holds anything that could mint a token.
 */
export const TOKEN_AUDIENCE = "shenguan-gateway";
/** A token is a short-lived proof of key possession, not a session: at most 15 minutes. */
export const MAX_TOKEN_SECONDS = 15 * 60;
const SKEW_SECONDS = 30;

export interface TokenClaims {
  readonly sub: string;
  readonly kid: string;
  readonly iat: number;
  readonly exp: number;
  readonly aud: string;
}

const b64url = (x: Uint8Array | string) => Buffer.from(x).toString("base64url");

/**
 * Mints a token for `department` with its key (what a department system, the
 * CLI or a test runs). `now` defaults to the system clock; `ttlSeconds` ≤ 900.
 * @example fetch(url, { headers: { authorization: `Bearer ${mintToken(key, "SCJG-350100")}` } })
 */
export function mintToken(signer: Signer, department: string, options: { readonly now?: Date; readonly ttlSeconds?: number } = {}): string {
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const header = b64url(JSON.stringify({ alg: signer.alg, kid: signer.keyId, typ: "shenguan-token" }));
  const claims: TokenClaims = { sub: department, kid: signer.keyId, iat, exp: iat + (options.ttlSeconds ?? 5 * 60), aud: TOKEN_AUDIENCE };
  const payload = b64url(JSON.stringify(claims));
  const { sig } = signBytes(Buffer.from(`${header}.${payload}`), signer);
  return `${header}.${payload}.${Buffer.from(sig, "base64").toString("base64url")}`;
}

function parsePart<T>(part: string, what: string): T {
  try {
    const value = JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as unknown;
    if (value === null || typeof value !== "object") throw new TypeError("not an object");
    return value as T;
  } catch {
    throw new UnauthenticatedError(`the token's ${what} is not base64url JSON`, "token-malformed");
  }
}

/** The caller a bearer token proves, or a 401 naming why not. */
/**
 * Tokens whose signature has verified. A department system reuses its token
 * for up to 15 minutes, and an SM2 verification costs milliseconds of pure
 * JavaScript, so only the signature is remembered: the department, its key
 * (retired or not), the lifetime and the expiry are checked on every request.
 * The token is the key, so its key id, claims and signature are all part of it.
 */
const verifiedTokens = new LRUCache<string, true>({ max: 10_000 });

export function verifyToken(token: string, registry: DepartmentRegistry, now: Date): Caller {
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((p) => p.length === 0)) throw new UnauthenticatedError("a token is <header>.<payload>.<signature>", "token-malformed");
  const [h, p, s] = parts as [string, string, string];
  const header = parsePart<{ alg?: SignatureAlgorithm; kid?: string }>(h, "header");
  const claims = parsePart<Partial<TokenClaims>>(p, "payload");
  if (typeof claims.sub !== "string" || typeof claims.kid !== "string" || typeof claims.iat !== "number" || typeof claims.exp !== "number") {
    throw new UnauthenticatedError("the token's payload needs sub, kid, iat and exp", "token-malformed");
  }
  if (claims.aud !== TOKEN_AUDIENCE) throw new UnauthenticatedError(`the token is for ${JSON.stringify(claims.aud)}, not ${TOKEN_AUDIENCE}`, "token-audience");
  const department = activeDepartment(registry, claims.sub);
  const key = department.keys.find((k) => k.keyId === claims.kid && k.keyId === header.kid);
  if (!key) throw new UnauthenticatedError(`key ${claims.kid} is not registered for ${claims.sub}`, "token-unknown-key");
  if (key.retired) throw new UnauthenticatedError(`key ${claims.kid} of ${claims.sub} is retired`, "token-unknown-key");
  if (header.alg !== key.alg) throw new UnauthenticatedError(`key ${claims.kid} is ${key.alg}, the token says ${String(header.alg)}`, "token-bad-signature");
  if (!verifiedTokens.has(token)) {
    const verifier = registry.keyRing().get(key.keyId)!.key;
    if (!verifier.verify(Buffer.from(`${h}.${p}`), Buffer.from(s, "base64url"))) {
      throw new UnauthenticatedError(`the token's signature does not verify with key ${claims.kid}`, "token-bad-signature");
    }
    verifiedTokens.set(token, true);
  }
  // Checked after the signature, so the reason given is about a token the department really made.
  if (claims.exp - claims.iat > MAX_TOKEN_SECONDS) {
    throw new UnauthenticatedError(`a token may live at most ${MAX_TOKEN_SECONDS} s; this one ${claims.exp - claims.iat} s`, "token-lifetime");
  }
  const t = Math.floor(now.getTime() / 1000);
  if (t >= claims.exp) throw new UnauthenticatedError(`the token expired at ${new Date(claims.exp * 1000).toISOString()}`, "token-expired");
  if (claims.iat > t + SKEW_SECONDS) throw new UnauthenticatedError("the token is issued in the future", "token-not-yet-valid");
  return { department: department.code, grants: department.grants, expiresAt: new Date(claims.exp * 1000) };
}
