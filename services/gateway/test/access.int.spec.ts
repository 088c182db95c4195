import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { sampleOf } from "@shenguan/contracts";
import { generateSigningKey } from "@shenguan/evidence";
import { createServiceApp, departmentOf, callerOf, hopKeyFor, trustHopKey, type ServiceApp } from "@shenguan/service-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildGatewayApp, gatewayTls, mintToken, PiiProtector } from "../src/index.js";
import {
  accessWorld,
  BUREAU,
  caSh,
  httpsCall,
  issue,
  MARKET,
  newPki,
  OPS,
  removeDir,
  type AccessWorld,
  type ClientCert,
  type HttpsReply,
} from "./support/access.js";

// The 401/403 matrix over every gateway route, on a real HTTPS server with
// mutual TLS (certificates from infra/pki/ca.sh), a registry on PostgreSQL,
// and a real service behind the proxy that trusts only the gateway's assertion.
let world: AccessWorld;
let pki: string;
let foreignPki: string;
let gateway: ServiceApp;
let upstream: ServiceApp;
let port: number;
let ca: Buffer;
const certs = {} as Record<"market" | "crlRevoked" | "registryRevoked" | "unrecorded" | "foreign", ClientCert>;

beforeAll(async () => {
  world = await accessWorld();
  pki = newPki();
  foreignPki = newPki();
  ca = readFileSync(join(pki, "ca.pem"));
  const record = (code: string, c: ClientCert) =>
    world.registry.execute(
      code,
      "RecordCertificate",
      { serial: c.serial, notAfter: "2027-03-01T00:00:00Z" },
      { department: OPS, correlationId: "setup" },
    );
  certs.market = issue(pki, MARKET);
  await record(MARKET, certs.market);
  certs.crlRevoked = issue(pki, MARKET);
  await record(MARKET, certs.crlRevoked);
  caSh(pki, "revoke", certs.crlRevoked.serial);
  certs.registryRevoked = issue(pki, MARKET);
  await record(MARKET, certs.registryRevoked);
  await world.registry.execute(
    MARKET,
    "RevokeCertificate",
    { serial: certs.registryRevoked.serial, reason: "laptop stolen" },
    { department: OPS, correlationId: "setup" },
  );
  certs.unrecorded = issue(pki, MARKET);
  certs.foreign = issue(foreignPki, MARKET);

  // A service as its own process is built: it holds its own hop key (SHENGUAN_HOP_KEY) and nothing else.
  trustHopKey("approval", hopKeyFor(world.gatewaySecret, "approval"));
  upstream = await createServiceApp({ name: "approval", description: "echo standing in for the approval service", logger: false });
  upstream.get("/whoami", async (req) => ({
    department: departmentOf(req),
    grants: callerOf(req).grants,
    authorization: req.headers.authorization ?? null,
  }));
  upstream.get("/applicant", async () => ({
    caseId: "C-1",
    applicant: { name: "张三丰", uscc: null, idNumber: "350102199001011234" },
    contactPhone: "13812345678",
  }));
  await upstream.listen({ host: "127.0.0.1", port: 0 });

  gateway = await buildGatewayApp({
    store: world.opened.store,
    registry: world.registry,
    gatewaySecret: world.gatewaySecret,
    upstreams: { approval: `http://127.0.0.1:${(upstream.server.address() as AddressInfo).port}` },
    https: gatewayTls(pki),
    pkiDir: pki,
    pkiWatchMs: 50,
    subscriptions: {
      sql: world.opened.executor,
      clock: world.clock,
      pii: new PiiProtector({ mode: "sm4", keys: { current: "t1", secrets: { t1: randomBytes(32).toString("base64") } } }),
      auditKeys: { publicKeys: async () => [...world.registry.keyRing()] },
    },
    logger: false,
  });
  await gateway.listen({ host: "127.0.0.1", port: 0 });
  port = (gateway.server.address() as AddressInfo).port;
});
afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
  await world?.close();
  removeDir(pki);
  removeDir(foreignPki);
});

type Credential = { client?: ClientCert; headers?: Record<string, string> };
const bearer = (token: string): Credential => ({ headers: { authorization: `Bearer ${token}` } });
const call = (route: Route, credential: Credential): Promise<HttpsReply> =>
  httpsCall(port, ca, {
    method: route.method,
    path: route.path,
    ...(route.body ? { body: route.body() } : {}),
    ...(credential.client ? { client: credential.client } : {}),
    headers: credential.headers ?? {},
  });

interface Route {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly body?: () => unknown;
  /** The grant the route needs and a department that lacks it; undefined when any department may call it. */
  readonly grant?: { readonly name: string; readonly lackedBy: () => Credential };
  readonly allowed: () => Credential;
  readonly ok: number;
}

const token = {
  bureau: () => bearer(mintToken(world.keys.bureau, BUREAU)),
  market: () => bearer(mintToken(world.keys.market, MARKET)),
  ops: () => bearer(mintToken(world.keys.ops, OPS)),
};
const AUDITED_USCC = "91350100M000100Y44";
const routes: Route[] = [
  { name: "GET /v1/me", method: "GET", path: "/v1/me", allowed: () => ({ client: certs.market }), ok: 200 },
  {
    name: "GET /v1/admin/departments",
    method: "GET",
    path: "/v1/admin/departments",
    grant: { name: "admin", lackedBy: token.market },
    allowed: token.ops,
    ok: 200,
  },
  {
    name: "GET /v1/admin/departments/:code/history",
    method: "GET",
    path: `/v1/admin/departments/${MARKET}/history`,
    grant: { name: "admin", lackedBy: token.bureau },
    allowed: token.ops,
    ok: 200,
  },
  {
    name: "PUT /v1/admin/departments/:code/grants",
    method: "PUT",
    path: `/v1/admin/departments/${BUREAU}/grants`,
    body: () => ({
      grants: {
        publish: ["LicenceGranted", "ApplicationAccepted"],
        subscribe: { families: ["supervision"], regions: ["350100"] },
        pii: false,
        audit: false,
        admin: false,
      },
    }),
    grant: { name: "admin", lackedBy: () => ({ client: certs.market }) },
    allowed: token.ops,
    ok: 200,
  },
  {
    name: "POST /v1/events",
    method: "POST",
    path: "/v1/events",
    // Every publish lands in one case, which the audit routes below then read.
    body: () => ({ type: "LicenceGranted", subject: AUDITED_USCC, caseId: "CASE-0", data: sampleOf("LicenceGranted") }),
    grant: { name: "publish:LicenceGranted", lackedBy: () => ({ client: certs.market }) },
    allowed: token.bureau,
    ok: 201,
  },
  { name: "GET /v1/approval/* (proxy)", method: "GET", path: "/v1/approval/whoami", allowed: token.market, ok: 200 },
  {
    name: "GET /v1/subscribe/sse",
    method: "GET",
    path: "/v1/subscribe/sse?families=approval",
    grant: { name: "subscribe:approval", lackedBy: token.bureau },
    allowed: () => ({ client: certs.market }),
    ok: 200,
  },
  {
    name: "POST /v1/webhooks",
    method: "POST",
    path: "/v1/webhooks",
    body: () => ({ url: "https://hooks.example.org/shenguan", secret: "s3cret-s3cret-s3cret", families: ["approval"] }),
    grant: { name: "subscribe:approval", lackedBy: token.bureau },
    allowed: token.market,
    ok: 201,
  },
  { name: "GET /v1/webhooks", method: "GET", path: "/v1/webhooks", allowed: token.market, ok: 200 },
  {
    name: "POST /v1/pii/reveal",
    method: "POST",
    path: "/v1/pii/reveal",
    body: () => ({ type: "LicenceGranted", data: sampleOf("LicenceGranted") }),
    grant: { name: "pii", lackedBy: token.market },
    allowed: token.ops,
    ok: 200,
  },
  {
    name: "GET /audit/subjects/:uscc",
    method: "GET",
    path: `/audit/subjects/${AUDITED_USCC}`,
    grant: { name: "audit", lackedBy: () => ({ client: certs.market }) },
    allowed: token.ops,
    ok: 200,
  },
  {
    name: "GET /audit/cases/:caseId/timeline",
    method: "GET",
    path: "/audit/cases/CASE-0/timeline",
    grant: { name: "audit", lackedBy: token.bureau },
    allowed: token.ops,
    ok: 200,
  },
];

describe("the 401/403 matrix", () => {
  const refusals: Array<[string, () => Credential, string]> = [
    ["no credential", () => ({}), "credential-missing"],
    ["an expired token", () => bearer(mintToken(world.keys.market, MARKET, { now: new Date(Date.now() - 20 * 60_000) })), "token-expired"],
    ["a token signed by an unregistered key", () => bearer(mintToken(generateSigningKey("Ed25519"), MARKET)), "token-unknown-key"],
    [
      "a token whose signature is another token's",
      () => {
        const [h, p] = mintToken(world.keys.bureau, BUREAU).split(".");
        const [, , s] = mintToken(world.keys.bureau, BUREAU, { ttlSeconds: 60 }).split(".");
        return bearer(`${h}.${p}.${s}`);
      },
      "token-bad-signature",
    ],
    ["a token living longer than 15 minutes", () => bearer(mintToken(world.keys.market, MARKET, { ttlSeconds: 3600 })), "token-lifetime"],
    ["a certificate revoked in the CA's CRL", () => ({ client: certs.crlRevoked }), "certificate-revoked"],
    ["a certificate revoked in the registry", () => ({ client: certs.registryRevoked }), "certificate-revoked"],
    ["a certificate of another CA", () => ({ client: certs.foreign }), "certificate-untrusted"],
    ["a bus certificate never recorded in the registry", () => ({ client: certs.unrecorded }), "certificate-unknown"],
  ];

  for (const route of routes) {
    describe(route.name, () => {
      it.each(refusals)("401 for %s", async (_what, credential, reason) => {
        const res = await call(route, credential());
        expect(res.status, JSON.stringify(res.body)).toBe(401);
        expect(res.headers["content-type"]).toContain("application/problem+json");
        expect(res.body).toMatchObject({ reason, type: `urn:shenguan:problem:access.unauthenticated.${reason}` });
      });
      if (route.grant) {
        const grant = route.grant;
        it(`403 naming ${grant.name} for a department without it`, async () => {
          const res = await call(route, grant.lackedBy());
          expect(res.status, JSON.stringify(res.body)).toBe(403);
          expect(res.body).toMatchObject({ type: "urn:shenguan:problem:access.forbidden", grant: grant.name });
        });
      }
      it(`${route.ok} with the right credential and grant`, async () => {
        const res = await call(route, route.allowed());
        expect(res.status, JSON.stringify(res.body)).toBe(route.ok);
      });
    });
  }
});

describe("gateway behaviour", () => {
  it("takes a client certificate for its department, with the registry's grants", async () => {
    const res = await call(routes[0]!, { client: certs.market });
    expect(res.body).toMatchObject({ department: MARKET, kind: "regulator", grants: { publish: ["InspectionRecorded"] } });
  });

  it("refuses a certificate revoked with ca.sh while it runs, without a restart (the CRL is reloaded)", async () => {
    const laptop = issue(pki, MARKET);
    await world.registry.execute(
      MARKET,
      "RecordCertificate",
      { serial: laptop.serial, notAfter: "2027-03-01T00:00:00Z" },
      { department: OPS, correlationId: "crl-reload" },
    );
    expect((await httpsCall(port, ca, { path: "/v1/me", client: laptop })).status).toBe(200);
    caSh(pki, "revoke", laptop.serial);
    // The watcher polls every 50 ms; every call is a new connection, so a new handshake.
    let reply = await httpsCall(port, ca, { path: "/v1/me", client: laptop });
    for (const until = Date.now() + 10_000; reply.status === 200 && Date.now() < until;) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      reply = await httpsCall(port, ca, { path: "/v1/me", client: laptop });
    }
    expect(reply.status).toBe(401);
    expect(reply.body).toMatchObject({ reason: "certificate-revoked" });
    // The department's other certificate still works.
    expect((await httpsCall(port, ca, { path: "/v1/me", client: certs.market })).status).toBe(200);
  });

  it("takes an SM2-signed token bound to the department's key", async () => {
    const res = await call(routes[0]!, token.bureau());
    expect(res.body).toMatchObject({ department: BUREAU, kind: "approval-bureau" });
  });

  it("forwards to the service with a gateway-tagged identity (the service holding only its own hop key), and without the department's token", async () => {
    const res = await httpsCall(port, ca, { path: "/v1/approval/whoami", ...token.market() });
    expect(res.body).toEqual({
      department: MARKET,
      grants: expect.objectContaining({ publish: ["InspectionRecorded"] }),
      authorization: null,
    });
    // Service answers hold personal data: the read is in the access log, recorded before it was forwarded.
    const reads = await gateway.accessLog!.list({ department: MARKET, action: "service.read" });
    expect(reads.at(-1)).toMatchObject({
      department: MARKET,
      action: "service.read",
      resource: "/v1/approval/whoami",
      detail: { service: "approval", pii: false },
    });
  });

  it("masks personal data in a service's answer for a department without the pii grant, not for one with it", async () => {
    const masked = await httpsCall(port, ca, { path: "/v1/approval/applicant", ...token.market() });
    expect(masked.body).toEqual({
      caseId: "C-1",
      applicant: { name: "张**", uscc: null, idNumber: "3501**********1234" },
      contactPhone: "138****5678",
    });
    const clear = await httpsCall(port, ca, { path: "/v1/approval/applicant", ...token.ops() });
    expect(clear.body).toEqual({
      caseId: "C-1",
      applicant: { name: "张三丰", uscc: null, idNumber: "350102199001011234" },
      contactPhone: "13812345678",
    });
  });

  it("publishes to the publisher's own stream, with who and what in the metadata", async () => {
    const data = sampleOf("LicenceGranted");
    const res = await httpsCall(port, ca, {
      method: "POST",
      path: "/v1/events",
      body: { type: "LicenceGranted", subject: "91350100M000100Y43", caseId: "C-1", data },
      ...token.bureau(),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ stream: `published-${BUREAU}-91350100M000100Y43`, revision: "0" });
    const [event] = await world.opened.store.readStream(res.body.stream);
    expect(event).toMatchObject({
      type: "LicenceGranted",
      data,
      metadata: { department: BUREAU, subject: "91350100M000100Y43", caseId: "C-1" },
    });
  });

  it("refuses an event that breaks its contract, naming the field", async () => {
    const data = { ...sampleOf("LicenceGranted"), holder: { name: "x", uscc: "91350100M000100Y44", idNumber: null } };
    const res = await httpsCall(port, ca, {
      method: "POST",
      path: "/v1/events",
      body: { type: "LicenceGranted", subject: "S-1", data },
      ...token.bureau(),
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { path: string }) => e.path)).toContain("data.holder.uscc");
    const unknown = await httpsCall(port, ca, {
      method: "POST",
      path: "/v1/events",
      body: { type: "NoSuchEvent", subject: "S-1", data: {} },
      ...token.bureau(),
    });
    expect(unknown.body.errors).toEqual([expect.objectContaining({ path: "type", rule: "unknown-event" })]);
  });

  it("keeps the registry's history of admin changes: what, by whom, when", async () => {
    const res = await httpsCall(port, ca, { path: `/v1/admin/departments/${BUREAU}/history`, ...token.ops() });
    const grants = res.body.filter((h: { type: string }) => h.type === "GrantsChanged");
    expect(grants.at(-1)).toMatchObject({ by: OPS, data: { grants: { publish: ["LicenceGranted", "ApplicationAccepted"] } } });
  });

  it("refuses a deactivated department at once", async () => {
    const before = await call(routes[0]!, token.market());
    expect(before.status).toBe(200);
    await world.registry.execute(MARKET, "Deactivate", { reason: "merged into another bureau" }, { department: OPS, correlationId: "t" });
    const after = await call(routes[0]!, token.market());
    expect(after.body).toMatchObject({ status: 401, reason: "department-inactive" });
  });

  it("leaves health and the published contracts open", async () => {
    expect((await httpsCall(port, ca, { path: "/health" })).status).toBe(200);
    expect((await httpsCall(port, ca, { path: "/schema-registry/subjects" })).status).toBe(200);
  });
});

describe("rate limit", () => {
  it("counts per department: one department's burst does not throttle another", async () => {
    const limited = await buildGatewayApp({
      store: world.opened.store,
      registry: world.registry,
      gatewaySecret: world.gatewaySecret,
      rateLimit: { max: 2, timeWindow: "1 minute" },
      logger: false,
    });
    try {
      const me = (t: () => Credential) => limited.inject({ url: "/v1/me", headers: t().headers! });
      expect((await me(token.bureau)).statusCode).toBe(200);
      expect((await me(token.bureau)).statusCode).toBe(200);
      const third = await me(token.bureau);
      expect(third.statusCode).toBe(429);
      expect(third.headers["content-type"]).toContain("application/problem+json");
      expect((await me(token.ops)).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
