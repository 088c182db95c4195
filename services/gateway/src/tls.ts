import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import type { ServerOptions } from "node:https";
import { dirname, join } from "node:path";

/**
 * Mutual TLS with the bus CA (infra/pki/ca.sh): the server's certificate, the
 * CA that client certificates must chain to, and the CRL. The handshake asks
 * for a client certificate but does not require one (rejectUnauthorized:
 * false): a request may still bring a token, and a bad certificate gets a 401
 * problem naming the reason instead of a bare TLS alert.
 */
export function gatewayTls(pkiDir: string): ServerOptions {
  const read = (name: string) => readFileSync(join(pkiDir, name));
  return {
    key: read("server.key"),
    cert: read("server.pem"),
    ca: read("ca.pem"),
    ...(existsSync(join(pkiDir, "crl.pem")) ? { crl: read("crl.pem") } : {}),
    requestCert: true,
    rejectUnauthorized: false,
  };
}

/**
 * The gateway's Ed25519 identity key (PKCS#8 PEM) at `path`; created on first
 * use when `create` (development), so a fresh checkout runs without setup.
 */
export function loadIdentityKey(path: string, create = false): KeyObject {
  if (!existsSync(path)) {
    if (!create) throw new Error(`no gateway identity key at ${path}: create one with 'openssl genpkey -algorithm ed25519 -out ${path}'`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  }
  return createPrivateKey(readFileSync(path));
}
