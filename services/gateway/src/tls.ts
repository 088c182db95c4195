import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, unwatchFile, watchFile, writeFileSync, type Stats } from "node:fs";
import type { Server, ServerOptions } from "node:https";
import { dirname, join } from "node:path";
import { HOP_KEY_BYTES, hopKeyBytes } from "@shenguan/service-kit";

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
 * Keeps a running server's TLS context in step with the bus CA directory:
 * when `infra/pki/ca.sh revoke` rewrites crl.pem (or the server's
 * certificate is renewed), the new context takes every later handshake, and
 * idle keep-alive connections are closed so their clients handshake again
 * against the new CRL (a connection's certificate is judged once, at its
 * handshake). Polls the files' stat (`fs.watchFile`), which survives the
 * rename a CA tool writes with, unlike inotify on the old inode. Returns the
 * function that stops watching.
 */
export function watchPki(
  server: Server,
  pkiDir: string,
  options: { readonly intervalMs?: number; readonly onReload?: (error?: Error) => void } = {},
): () => void {
  const files = ["crl.pem", "server.pem", "server.key", "ca.pem"].map((name) => join(pkiDir, name));
  const changed = (now: Stats, before: Stats) => {
    if (now.mtimeMs === before.mtimeMs && now.size === before.size && now.ino === before.ino) return;
    try {
      server.setSecureContext(gatewayTls(pkiDir));
      server.closeIdleConnections();
      options.onReload?.();
    } catch (error) {
      // A half-written file: the old context stays until the next change.
      options.onReload?.(error as Error);
    }
  };
  for (const file of files) watchFile(file, { interval: options.intervalMs ?? 2_000, persistent: false }, changed);
  return () => {
    for (const file of files) unwatchFile(file, changed);
  };
}

/**
 * The gateway's secret (base64, at least 32 bytes) at `path`, from which every
 * service's hop key derives; created on first use when `create` (development),
 * so a fresh checkout runs without setup. A PEM there is the Ed25519 identity
 * key of earlier versions: refused with what to do, never read as a secret.
 */
export function loadGatewaySecret(path: string, create = false): Buffer {
  if (!existsSync(path)) {
    if (!create) throw new Error(`no gateway secret at ${path}: create one with 'openssl rand -base64 ${HOP_KEY_BYTES} > ${path}'`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${randomBytes(HOP_KEY_BYTES).toString("base64")}\n`, { mode: 0o600 });
  }
  const text = readFileSync(path, "utf8");
  if (text.includes("-----BEGIN")) {
    throw new Error(
      `${path} holds a PEM key: identity assertions are tagged with HMAC-SM3 now, not signed with Ed25519; point SHENGUAN_GATEWAY_KEY at a secret ('openssl rand -base64 ${HOP_KEY_BYTES}')`,
    );
  }
  return hopKeyBytes(text, `gateway secret in ${path}`);
}
