import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, unwatchFile, watchFile, writeFileSync, type Stats } from "node:fs";
import type { Server, ServerOptions } from "node:https";
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
