import { createHmac, timingSafeEqual } from "node:crypto";
import type { FastifyRequest } from "fastify";
import type { Caller, Grants } from "./caller.js";
import { UnauthenticatedError } from "./errors.js";

/**
 * Who is calling, as the gateway vouches for it. The gateway authenticates a
 * department (mutual TLS or a signed token), then forwards the request with
 *   x-shenguan-identity: base64url(JSON { dept, grants, iat, exp, rid, aud, req }) "." base64url(HMAC-SM3 tag)
 * Services trust nothing else: a raw department header, or an assertion they
 * cannot verify, is a 401.
 *
 * The tag's key is the target service's hop key, derived from the gateway's
 * secret: hopKeyFor(secret, service). A service holds only its own key, so a
 * service (or whoever took it over) can mint assertions for itself alone,
 * which gives it nothing it did not have; it cannot speak for a department to
 * any other service. What a symmetric tag gives up against a signature is
 * third-party verification, and assertions are never kept as evidence (the
 * events are signed; the access log records the caller). In exchange a tag
 * costs ~7 µs to make or check where Ed25519, used before, cost ~60 µs to sign
 * and ~160 µs to verify: at 1,000 requests/s a tenth of the 2-core machine the
 * loop bench runs on (docs/throughput.md, "Session 9"). HMAC-SM3 is also the 国密 MAC (GB/T 15852.2, GM/T 0004).
 */
export const IDENTITY_HEADER = "x-shenguan-identity";

/** What the gateway asserts. Times are epoch seconds; `rid` is the gateway's request id, for tracing across the hop. */
export interface IdentityClaims {
  readonly dept: string;
  readonly grants: Grants;
  readonly iat: number;
  readonly exp: number;
  readonly rid: string;
  /**
   * The one request the assertion is for: the service's name and
   * "<METHOD> <path?query>" as the service receives it. A forwarded request's
   * assertion then cannot be replayed to another route within its lifetime
   * (another service would not hold its key anyway). In-process vouching (the
   * bus's seed, tests) may leave them out: it is then keyed for any service,
   * and only a process holding the gateway's secret accepts it.
   */
  readonly aud?: string;
  readonly req?: string;
}

/** An assertion is a hop credential, not a session: it lives long enough for one forwarded request and a little clock skew. */
export const ASSERTION_TTL_SECONDS = 60;
const SKEW_SECONDS = 30;
const DEPARTMENT_CODE = /^[A-Z0-9][A-Z0-9-]{1,39}$/;
/** Bytes of a gateway secret or a hop key (SM3's output size). */
export const HOP_KEY_BYTES = 32;
/** The pseudo-service an assertion without `aud` is keyed for. */
const ANY_SERVICE = "*";

const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString("base64url");

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * A gateway secret (at least 32 bytes) or a hop key (exactly 32), given as
 * bytes or base64, refused at start when it cannot be one: Node decodes
 * base64 leniently, so a path, a PEM or two keys on one line would otherwise
 * become a wrong key and every request a 401 "forged".
 */
export function hopKeyBytes(key: Uint8Array | string, what: "hop key" | `gateway secret${string}` = "hop key"): Buffer {
  const text = typeof key === "string" ? key.trim() : undefined;
  if (text !== undefined && (!BASE64.test(text) || text.length % 4 !== 0)) {
    throw new TypeError(`the ${what} must be base64 (A-Z, a-z, 0-9, +, /, = padding), got ${text.length} characters that are not`);
  }
  const bytes = text !== undefined ? Buffer.from(text, "base64") : Buffer.from(key);
  const hop = what === "hop key";
  if (hop ? bytes.length !== HOP_KEY_BYTES : bytes.length < HOP_KEY_BYTES) {
    throw new TypeError(
      hop
        ? `the hop key must be ${HOP_KEY_BYTES} bytes, got ${bytes.length}: print the service's key with 'pnpm --filter @shenguan/gateway run hop-key <service>'`
        : `the ${what} must be at least ${HOP_KEY_BYTES} bytes, got ${bytes.length}: create one with 'openssl rand -base64 ${HOP_KEY_BYTES}'`,
    );
  }
  return bytes;
}

/** SHENGUAN_HOP_KEY's value: one key, or several separated by commas or new lines while the gateway rotates (each base64, 32 bytes). */
export function parseHopKeys(value: string): Buffer[] {
  const keys = value
    .split(/[,\n]/)
    .map((k) => k.trim())
    .filter((k) => k.length > 0);
  if (keys.length === 0) throw new TypeError("SHENGUAN_HOP_KEY holds no key");
  return keys.map((k) => hopKeyBytes(k));
}

// Derived keys, by secret: the gateway derives one per forwarded request's service.
const derived = new WeakMap<Uint8Array, Map<string, Buffer>>();

/** The key `service`'s assertions are tagged with: HMAC-SM3(gateway secret, "shenguan-hop-v1:" + service). Give it to that service alone. */
export function hopKeyFor(secret: Uint8Array, service: string): Buffer {
  return Buffer.from(derivedKey(secret, service)); // a copy: the cached one is what this process tags and checks with
}

function derivedKey(secret: Uint8Array, service: string): Buffer {
  let keys = derived.get(secret);
  if (!keys) derived.set(secret, (keys = new Map()));
  let key = keys.get(service);
  if (!key) keys.set(service, (key = createHmac("sm3", secret).update(`shenguan-hop-v1:${service}`).digest()));
  return key;
}

const tagOf = (key: Uint8Array, body: string) => createHmac("sm3", key).update(body).digest();

/** The gateway's side: the header value for `claims`, tagged with the key of the service `claims.aud` names. */
export function signIdentity(secret: Uint8Array, claims: IdentityClaims): string {
  const body = b64url(JSON.stringify(claims));
  return `${body}.${b64url(tagOf(derivedKey(secret, claims.aud ?? ANY_SERVICE), body))}`;
}

/** The services' side: the caller an assertion vouches for, or an UnauthenticatedError naming what is wrong. `keys`: this service's hop keys. */
export function verifyIdentity(
  header: string | undefined,
  keys: readonly Uint8Array[],
  now: Date,
  target?: { readonly service: string; readonly request: string },
): Caller {
  if (!header)
    throw new UnauthenticatedError(`header ${IDENTITY_HEADER} is required: call the service through the gateway`, "assertion-missing");
  const [body, tag, extra] = header.split(".");
  if (!body || !tag || extra !== undefined)
    throw new UnauthenticatedError(`header ${IDENTITY_HEADER} is not <claims>.<tag>`, "assertion-malformed");
  if (keys.length === 0) {
    throw new UnauthenticatedError(
      target
        ? `service ${target.service} holds no hop key of a gateway: set SHENGUAN_HOP_KEY`
        : "no service's hop key applies to this route",
      "assertion-untrusted",
    );
  }
  const given = Buffer.from(tag, "base64url");
  // One header per assertion: base64url decoding skips stray characters, so the tag must be exactly the encoding of its bytes.
  if (given.toString("base64url") !== tag || !keys.some((k) => sameTag(tagOf(k, body), given))) {
    throw new UnauthenticatedError(`header ${IDENTITY_HEADER} is not tagged by a trusted gateway`, "assertion-forged");
  }
  let claims: IdentityClaims;
  try {
    claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as IdentityClaims;
  } catch {
    throw new UnauthenticatedError(`header ${IDENTITY_HEADER} carries no JSON claims`, "assertion-malformed");
  }
  const wrong =
    typeof claims !== "object" || claims === null
      ? "claims must be a JSON object"
      : typeof claims.dept !== "string" || !DEPARTMENT_CODE.test(claims.dept)
        ? "dept must be a department code (A-Z, 0-9, '-', 2 to 40 characters)"
        : typeof claims.exp !== "number"
          ? "exp must be a number (epoch seconds)"
          : typeof claims.grants !== "object" || claims.grants === null
            ? "grants must be an object"
            : undefined;
  if (wrong) throw new UnauthenticatedError(`header ${IDENTITY_HEADER}: ${wrong}`, "assertion-malformed");
  const t = Math.floor(now.getTime() / 1000);
  if (t >= claims.exp + SKEW_SECONDS) {
    throw new UnauthenticatedError(`the identity assertion expired at ${new Date(claims.exp * 1000).toISOString()}`, "assertion-expired");
  }
  if (typeof claims.iat === "number" && claims.iat > t + SKEW_SECONDS) {
    throw new UnauthenticatedError("the identity assertion is issued in the future", "assertion-expired");
  }
  if (target && claims.aud !== undefined && claims.aud !== target.service) {
    throw new UnauthenticatedError(`the identity assertion is for service ${claims.aud}, not ${target.service}`, "assertion-misdirected");
  }
  if (target && claims.req !== undefined && claims.req !== target.request) {
    throw new UnauthenticatedError(`the identity assertion is for ${claims.req}, not ${target.request}`, "assertion-misdirected");
  }
  return { department: claims.dept, grants: claims.grants };
}

/** Constant time: how much of a tag matched must not show in how long the refusal took. */
function sameTag(expected: Buffer, given: Buffer): boolean {
  return expected.length === given.length && timingSafeEqual(expected, given);
}

// The keys this process holds. A service in its own process holds its own hop
// key (runServiceProcess: SHENGUAN_HOP_KEY); the bus runner and tests host the
// gateway too and hold its secret, from which every service's key follows. A
// set, not one key: a gateway rotates by handing out the new key before using it.
const gatewaySecrets: Buffer[] = [];
const serviceKeys = new Map<string, Buffer[]>();
const keysByService = new Map<string, readonly Buffer[]>();

const addOnce = (list: Buffer[], key: Buffer) => {
  if (!list.some((k) => k.equals(key))) list.push(key);
  keysByService.clear();
};

/** This process hosts the gateway whose secret this is (bytes or base64): its services accept whatever the gateway tags. */
export function trustGateway(secret: Uint8Array | string): void {
  addOnce(gatewaySecrets, hopKeyBytes(secret, "gateway secret"));
}

/** `service` accepts assertions tagged with this hop key (bytes or base64: hopKeyFor(gateway secret, service), handed out by the gateway's operator). */
export function trustHopKey(service: string, key: Uint8Array | string): void {
  if (service === ANY_SERVICE) throw new TypeError(`"${ANY_SERVICE}" is not a service: a hop key is for one service`);
  const list = serviceKeys.get(service) ?? [];
  serviceKeys.set(service, list);
  addOnce(list, hopKeyBytes(key));
}

/** The keys `service`'s assertions may be tagged with; no service (a route outside any service app): those of in-process vouching only. */
export function hopKeysOf(service: string | undefined): readonly Buffer[] {
  const name = service ?? ANY_SERVICE;
  let keys = keysByService.get(name);
  if (!keys) {
    // A service's own keys (trustHopKey never holds one for "*"), then, from each secret held, its key and in-process vouching's.
    const derivedFor = name === ANY_SERVICE ? [ANY_SERVICE] : [name, ANY_SERVICE];
    keys = [...(serviceKeys.get(name) ?? []), ...gatewaySecrets.flatMap((s) => derivedFor.map((n) => derivedKey(s, n)))];
    keysByService.set(name, keys);
  }
  return keys;
}

function headerOf(request: FastifyRequest): string | undefined {
  const raw = request.headers[IDENTITY_HEADER];
  return Array.isArray(raw) ? raw[0] : raw;
}

/** Sets request.caller from the gateway's assertion (the services' onRequest hook), or throws 401. */
export function authenticateVouched(request: FastifyRequest, now: Date = new Date(), service?: string): Caller {
  const target = service === undefined ? undefined : { service, request: `${request.method} ${request.url}` };
  request.caller = verifyIdentity(headerOf(request), hopKeysOf(service), now, target);
  return request.caller;
}

/** The authenticated caller; a 401 when the request carries none. */
export function callerOf(request: FastifyRequest): Caller {
  return request.caller ?? authenticateVouched(request);
}

/** The calling department's code (every route's "who is asking"). */
export function departmentOf(request: FastifyRequest): string {
  return callerOf(request).department;
}
