import type { Server as HttpsServer, ServerOptions as HttpsServerOptions } from "node:https";
import rateLimit from "@fastify/rate-limit";
import { auditPlugin, type AuditKeySource } from "@shenguan/audit";
import type { EventStore, SqlExecutor } from "@shenguan/eventstore";
import type { DepartmentRegistry } from "@shenguan/registry";
import {
  AccessLog,
  callerOf,
  createServiceApp,
  hopKeyBytes,
  systemClock,
  UnauthenticatedError,
  type Clock,
  type ServiceApp,
} from "@shenguan/service-kit";
import { Counter } from "prom-client";
import { authenticate } from "./access/authenticate.js";
import { deliveryPlugin, type DeliveryPluginOptions } from "./delivery/index.js";
import type { PiiProtector } from "./pii/index.js";
import { piiPlugin } from "./pii/index.js";
import { adminRoutes } from "./routes/admin.js";
import { proxyRoutes, type ServiceName } from "./routes/proxy.js";
import { publishRoutes } from "./routes/publish.js";
import { schemaRegistryPlugin } from "./schema-registry/index.js";
import { watchPki } from "./tls.js";

export interface GatewayDeps {
  /** The bus's store: the EvidenceStore, which signs (custody key) or verifies (pre-signed) every event. */
  readonly store: EventStore;
  readonly registry: DepartmentRegistry;
  /** The gateway's secret: each service's hop key derives from it (hopKeyFor), and tags the identity assertions forwarded to that service. */
  readonly gatewaySecret: Uint8Array;
  /**
   * The clock credentials are checked against (token and assertion expiry).
   * The wall clock by default, also when the bus runs on a demo clock: a
   * credential's lifetime is real time, whatever day the business clock shows.
   */
  readonly authClock?: Clock;
  /** Base URLs of the services /v1/<service>/* is forwarded to; a service without one is not proxied. */
  readonly upstreams?: Partial<Record<ServiceName, string>>;
  /** Mutual TLS: key, cert, ca (the bus CA), crl, requestCert: true, rejectUnauthorized: false (see tls.ts). */
  readonly https?: HttpsServerOptions;
  /**
   * The bus CA directory the `https` options came from (gatewayTls): watched,
   * so a certificate revoked with infra/pki/ca.sh is refused without a
   * restart (tls.ts watchPki). Polled every `pkiWatchMs` (default 2 s).
   */
  readonly pkiDir?: string;
  readonly pkiWatchMs?: number;
  /**
   * Subscriptions (SSE, webhooks), personal-data reveal and the auditor API
   * need the database beside the store (webhook checkpoints, the access log).
   * Without it the gateway only authenticates, publishes and forwards.
   */
  readonly subscriptions?: {
    readonly sql: SqlExecutor;
    /** What subscribers without the pii grant receive, and the SM4 keys (see pii/protect.ts). */
    readonly pii: PiiProtector;
    /** The business clock webhook retries run on (tests move it). */
    readonly clock: Clock;
    readonly webhooks?: DeliveryPluginOptions["webhooks"];
    readonly sse?: DeliveryPluginOptions["sse"];
    /** Public keys the auditor verifies with: the registry's and the custody keys. */
    readonly auditKeys: AuditKeySource;
  };
  /** Requests per department per window. */
  readonly rateLimit?: { readonly max: number; readonly timeWindow: number | string };
  readonly logger?: boolean | object;
}

declare module "fastify" {
  interface FastifyInstance {
    /** The gateway's access log (present when subscriptions are configured). */
    accessLog?: AccessLog;
  }
}

/** Paths anyone may call: liveness, metrics, the API description and the published contracts (no department data). */
const OPEN = new Set(["/health", "/metrics", "/openapi.json"]);
const OPEN_PREFIXES = ["/schema-registry/"];
const isOpen = (url: string | undefined) => url !== undefined && (OPEN.has(url) || OPEN_PREFIXES.some((p) => url.startsWith(p)));

/**
 * The departments' door to the bus: authenticates (mutual TLS or a bound
 * token) into request.caller, applies the ACLs, publishes, serves the
 * registry's admin API, and forwards to the services with a tagged identity (each service's hop key).
 */
export async function buildGatewayApp(deps: GatewayDeps): Promise<ServiceApp> {
  const app = await createServiceApp({
    name: "gateway",
    description: "审管联动 gateway: department authentication (mTLS, tokens), ACLs, publish, registry admin, service proxy",
    authentication: "own",
    ...(deps.https ? { https: deps.https } : {}),
    ...(deps.logger !== undefined ? { logger: deps.logger } : {}),
  });
  const clock = deps.authClock ?? systemClock;
  const refused = new Counter({
    name: "gateway_unauthenticated_total",
    help: "Requests refused at authentication, by reason",
    labelNames: ["reason"],
    registers: [app.metrics],
  });

  app.addHook("onRequest", async (request) => {
    if (isOpen(request.routeOptions.url ?? request.url.split("?")[0])) return;
    try {
      request.caller = authenticate(request, deps.registry, clock.now());
    } catch (err) {
      if (err instanceof UnauthenticatedError) refused.inc({ reason: err.reason ?? "unknown" });
      throw err;
    }
  });

  // After authentication, so the budget is the department's, not its NAT's.
  await app.register(rateLimit, {
    hook: "preHandler",
    max: deps.rateLimit?.max ?? 6_000,
    timeWindow: deps.rateLimit?.timeWindow ?? "1 minute",
    keyGenerator: (request) => request.caller?.department ?? request.ip,
    allowList: (request) => isOpen(request.routeOptions.url),
    errorResponseBuilder: (request, context) =>
      Object.assign(new Error(`${request.caller?.department ?? request.ip} exceeded ${context.max} requests per ${context.after}`), {
        statusCode: 429,
        code: "rate-limited",
        name: "Too Many Requests",
      }),
  });

  app.get("/v1/me", { schema: { tags: ["access"], summary: "Who the gateway takes you for, and your grants" } }, async (req) => {
    const caller = callerOf(req);
    const d = deps.registry.get(caller.department);
    return { department: caller.department, name: d?.name, kind: d?.kind, region: d?.region, grants: caller.grants };
  });
  adminRoutes(app, deps.registry);
  publishRoutes(app, { store: deps.store });
  const subs = deps.subscriptions;
  const accessLog = subs ? new AccessLog(subs.sql, subs.clock) : undefined;
  await accessLog?.migrate();
  await proxyRoutes(app, deps.upstreams ?? {}, { secret: hopKeyBytes(deps.gatewaySecret, "gateway secret"), clock }, accessLog);

  await app.register(schemaRegistryPlugin, { prefix: "/schema-registry" });
  if (subs && accessLog) {
    const registry = deps.registry;
    await app.register(deliveryPlugin, {
      store: deps.store,
      sql: subs.sql,
      accessLog,
      pii: subs.pii,
      clock: subs.clock,
      // Webhook deliveries run without a request: the registry answers for the department at send time.
      grantsOf: async (department) => registry.active(department)?.grants,
      ...(subs.sse ? { sse: subs.sse } : {}),
      ...(subs.webhooks ? { webhooks: subs.webhooks } : {}),
    });
    await app.register(piiPlugin, { pii: subs.pii, accessLog });
    await app.register(auditPlugin, { store: deps.store, keys: subs.auditKeys, accessLog });
    app.decorate("accessLog", accessLog);
  }
  if (deps.https && deps.pkiDir) {
    const pkiDir = deps.pkiDir;
    let unwatch: (() => void) | undefined;
    app.addHook("onReady", async () => {
      unwatch = watchPki(app.server as unknown as HttpsServer, pkiDir, {
        ...(deps.pkiWatchMs !== undefined ? { intervalMs: deps.pkiWatchMs } : {}),
        onReload: (err) =>
          err
            ? app.log.error({ err, pkiDir }, "TLS: could not reload the bus CA files; the previous ones stay")
            : app.log.info({ pkiDir }, "TLS: CRL and certificates reloaded"),
      });
    });
    app.addHook("onClose", async () => unwatch?.());
  }
  return app;
}
