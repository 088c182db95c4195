import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import type { FastifyRequest } from "fastify";
import type { Caller, Grants } from "./caller.js";
import { UnauthenticatedError } from "./errors.js";

/**
 * Who is calling, as the gateway vouches for it. The gateway authenticates a
 * department (mutual TLS or a signed token), then forwards the request with
 *   x-shenguan-identity: base64url(JSON { dept, grants, iat, exp, rid }) "." base64url(Ed25519 signature)
 * signed by the gateway's key. Services trust nothing else: a raw department
 * header, or an assertion they cannot verify, is a 401.
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
   * assertion then cannot be replayed to another service or route within its
   * lifetime. In-process vouching (the bus's seed, tests) may leave them out.
   */
  readonly aud?: string;
  readonly req?: string;
}

/** An assertion is a hop credential, not a session: it lives long enough for one forwarded request and a little clock skew. */
export const ASSERTION_TTL_SECONDS = 60;
const SKEW_SECONDS = 30;
const DEPARTMENT_CODE = /^[A-Z0-9][A-Z0-9-]{1,39}$/;

const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString("base64url");

function ed25519(key: KeyObject): KeyObject {
  if (key.asymmetricKeyType !== "ed25519") throw new TypeError(`the gateway's identity key must be Ed25519, got ${key.asymmetricKeyType ?? "unknown"}`);
  return key;
}

/** The gateway's side: the header value for `claims`. */
export function signIdentity(privateKey: KeyObject | string, claims: IdentityClaims): string {
  const key = ed25519(typeof privateKey === "string" ? createPrivateKey(privateKey) : privateKey);
  const body = b64url(JSON.stringify(claims));
  return `${body}.${b64url(sign(null, Buffer.from(body), key))}`;
}

/** The services' side: the caller an assertion vouches for, or an UnauthenticatedError naming what is wrong. */
export function verifyIdentity(
  header: string | undefined,
  trusted: readonly KeyObject[],
  now: Date,
  target?: { readonly service: string; readonly request: string },
): Caller {
  if (!header) throw new UnauthenticatedError(`header ${IDENTITY_HEADER} is required: call the service through the gateway`, "assertion-missing");
  const [body, sig, extra] = header.split(".");
  if (!body || !sig || extra !== undefined) throw new UnauthenticatedError(`header ${IDENTITY_HEADER} is not <claims>.<signature>`, "assertion-malformed");
  if (trusted.length === 0) {
    throw new UnauthenticatedError("this service trusts no gateway key: set SHENGUAN_GATEWAY_PUBLIC_KEY", "assertion-untrusted");
  }
  const signature = Buffer.from(sig, "base64url");
  if (!trusted.some((k) => verify(null, Buffer.from(body), k, signature))) {
    throw new UnauthenticatedError(`header ${IDENTITY_HEADER} is not signed by a trusted gateway`, "assertion-forged");
  }
  let claims: IdentityClaims;
  try {
    claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as IdentityClaims;
  } catch {
    throw new UnauthenticatedError(`header ${IDENTITY_HEADER} carries no JSON claims`, "assertion-malformed");
  }
  if (typeof claims.dept !== "string" || !DEPARTMENT_CODE.test(claims.dept) || typeof claims.exp !== "number" || typeof claims.grants !== "object") {
    throw new UnauthenticatedError(`header ${IDENTITY_HEADER}: claims need dept, grants and exp`, "assertion-malformed");
  }
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

// The gateway keys this process trusts. One process may host several gateways'
// services (the bus runner, tests), and a gateway rotates its key by trusting
// the new one before signing with it: a set, not a single key.
const trustedKeys: KeyObject[] = [];
let envRead = false;

/** Trust assertions signed by this gateway public key (PEM, or a KeyObject; a private key's public half is taken). */
export function trustGateway(key: KeyObject | string): void {
  const pub = ed25519(typeof key === "string" ? createPublicKey(key) : key.type === "private" ? createPublicKey(key) : key);
  if (!trustedKeys.some((k) => k.equals(pub))) trustedKeys.push(pub);
}

/** The trusted keys: those given to trustGateway, and SHENGUAN_GATEWAY_PUBLIC_KEY (a PEM, or a path to one). */
export function trustedGatewayKeys(): readonly KeyObject[] {
  if (!envRead) {
    envRead = true;
    const configured = process.env["SHENGUAN_GATEWAY_PUBLIC_KEY"];
    if (configured) trustGateway(configured.includes("-----BEGIN") ? configured : readFileSync(configured, "utf8"));
  }
  return trustedKeys;
}

function headerOf(request: FastifyRequest): string | undefined {
  const raw = request.headers[IDENTITY_HEADER];
  return Array.isArray(raw) ? raw[0] : raw;
}

/** Sets request.caller from the gateway's assertion (the services' onRequest hook), or throws 401. */
export function authenticateVouched(request: FastifyRequest, now: Date = new Date(), service?: string): Caller {
  const target = service === undefined ? undefined : { service, request: `${request.method} ${request.url}` };
  request.caller = verifyIdentity(headerOf(request), trustedGatewayKeys(), now, target);
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
