// What the gateway's access suites share: a bus CA made by infra/pki/ca.sh, a
// registry on real PostgreSQL, departments with keys, certificates and grants,
// and an HTTPS client that can present a client certificate.
import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openEventStore, type OpenedEventStore } from "@shenguan/eventstore";
import { generateSigningKey, type SigningKey } from "@shenguan/evidence";
import { DepartmentRegistry } from "@shenguan/registry";
import { ManualClock, NO_GRANTS, type Grants } from "@shenguan/service-kit";
import { databaseUrl } from "@shenguan/tests/harness/services";
import pg from "pg";

const CA_SH = fileURLToPath(new URL("../../../../infra/pki/ca.sh", import.meta.url));

/** Runs infra/pki/ca.sh for real; returns its stdout, trimmed. */
export function caSh(pkiDir: string, ...args: string[]): string {
  return execFileSync("bash", [CA_SH, ...args], { env: { ...process.env, PKI_DIR: pkiDir }, encoding: "utf8" }).trim();
}

export function newPki(): string {
  const dir = mkdtempSync(join(tmpdir(), "shenguan-pki-"));
  caSh(dir, "init");
  return dir;
}

export interface ClientCert {
  readonly serial: string;
  readonly key: Buffer;
  readonly cert: Buffer;
}

/** Issues a client certificate with `ca.sh issue` and reads it back. */
export function issue(pkiDir: string, code: string): ClientCert {
  const serial = caSh(pkiDir, "issue", code);
  return { serial, key: readFileSync(join(pkiDir, "issued", `${code}.key`)), cert: readFileSync(join(pkiDir, "issued", `${code}.pem`)) };
}

export const BUREAU = "SPJ-350100";
export const MARKET = "SCJG-350100";
export const OPS = "OPS-350100";

export const bureauGrants: Grants = { ...NO_GRANTS, publish: ["LicenceGranted", "ApplicationAccepted"], subscribe: { families: ["supervision"], regions: ["350100"] } };
export const marketGrants: Grants = { ...NO_GRANTS, publish: ["InspectionRecorded"], subscribe: { families: ["approval"], regions: ["350100"] } };
export const opsGrants: Grants = { ...NO_GRANTS, admin: true, audit: true, pii: true };

export interface AccessWorld {
  readonly clock: ManualClock;
  readonly opened: Extract<OpenedEventStore, { kind: "postgres" | "pglite" }>;
  readonly registry: DepartmentRegistry;
  readonly keys: { readonly bureau: SigningKey; readonly market: SigningKey; readonly ops: SigningKey };
  /** The gateway's secret, from which each service's hop key derives. */
  readonly gatewaySecret: Buffer;
  close(): Promise<void>;
}

/** A fresh schema with three departments registered, keyed and granted. */
export async function accessWorld(): Promise<AccessWorld> {
  const url = await databaseUrl();
  const schema = `gateway_${randomUUID().replaceAll("-", "").slice(0, 8)}`;
  const opened = await openEventStore({ url, schema, poolSize: 3 });
  if (opened.kind === "kurrentdb") throw new Error("expected PostgreSQL");
  const clock = new ManualClock("2026-03-02T02:00:00Z");
  const registry = await new DepartmentRegistry({ store: opened.store, clock, follow: false }).start();
  const keys = { bureau: generateSigningKey("SM2-SM3"), market: generateSigningKey("Ed25519"), ops: generateSigningKey("Ed25519") };
  const by = { department: "SHENGUAN-BUS", correlationId: "setup" };
  const setup: Array<[string, string, "approval-bureau" | "regulator" | "operator", SigningKey, Grants]> = [
    [BUREAU, "福州市行政审批局", "approval-bureau", keys.bureau, bureauGrants],
    [MARKET, "福州市市场监督管理局", "regulator", keys.market, marketGrants],
    [OPS, "福州市审管联动运维", "operator", keys.ops, opsGrants],
  ];
  for (const [code, name, kind, key, grants] of setup) {
    await registry.execute(code, "RegisterDepartment", { code, name, uscc: "91350100M000100Y43", region: "350100", kind }, by);
    await registry.execute(code, "AddKey", { pem: key.publicKey.toPem(), custody: "department" }, by);
    await registry.execute(code, "ChangeGrants", { grants: grants as never }, by);
  }
  return {
    clock,
    opened,
    registry,
    keys,
    gatewaySecret: randomBytes(32),
    async close() {
      await registry.close();
      await opened.close();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    },
  };
}

export interface HttpsReply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** One HTTPS request to the gateway, trusting the bus CA, optionally presenting a client certificate. */
export function httpsCall(
  port: number,
  caPem: Buffer,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: unknown; client?: ClientCert },
): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        servername: "localhost",
        method: options.method ?? "GET",
        path: options.path,
        ca: caPem,
        ...(options.client ? { key: options.client.key, cert: options.client.cert } : {}),
        agent: false,
        headers: { ...(payload ? { "content-type": "application/json" } : {}), ...options.headers },
      },
      (res) => {
        // A stream that stays open (SSE): its status and headers are the answer.
        if (String(res.headers["content-type"]).startsWith("text/event-stream")) {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: undefined });
          res.destroy();
          return;
        }
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: keep the text
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
