import swagger from "@fastify/swagger";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, type RawServerDefault } from "fastify";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ServerOptions as HttpsServerOptions } from "node:https";
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import { Registry, collectDefaultMetrics } from "prom-client";
import { authenticateVouched, departmentOf } from "./identity.js";
import { idempotencyKeyOf, type IdempotencyKeys, type StoredResponse } from "./idempotency.js";
import { PROBLEM_CONTENT_TYPE, sendProblem } from "./problems.js";
import { NotFoundError } from "./errors.js";

export type ServiceApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, ZodTypeProvider>;

export interface ServiceAppOptions {
  readonly name: string;
  readonly description: string;
  readonly version?: string;
  /** pino options, `false` for silence in tests, or a pino logger shared across services (the bus runner's). */
  readonly logger?: boolean | object;
  /**
   * How callers are identified: "vouched" (the services) accepts only the
   * gateway's tagged x-shenguan-identity assertion (identity.ts); "own" (the gateway) leaves
   * authentication to the app's own hook.
   */
  readonly authentication?: "vouched" | "own";
  /** Serve HTTPS (the gateway: mutual TLS with the bus CA). The app keeps its http typing; request.raw.socket is then a TLSSocket. */
  readonly https?: HttpsServerOptions;
}

/** Routes anyone may call: liveness, metrics scraping and the API description carry no department data. */
const OPEN_ROUTES = new Set(["/health", "/metrics", "/openapi.json"]);

function isLogger(x: unknown): x is FastifyBaseLogger {
  return typeof x === "object" && x !== null && typeof (x as { child?: unknown }).child === "function";
}

/**
 * The fastify instance every service's app.ts starts from: zod validation and
 * serialisation, OpenAPI from the same schemas, one problem-details error
 * handler, health and Prometheus metrics. No listening here: server.ts does that.
 */
export async function createServiceApp(options: ServiceAppOptions): Promise<ServiceApp> {
  const app = Fastify({
    ...(isLogger(options.logger) ? { loggerInstance: options.logger.child({ service: options.name }) } : { logger: options.logger ?? true }),
    genReqId: () => crypto.randomUUID(),
    ...(options.https ? { https: options.https } : {}),
  }).withTypeProvider<ZodTypeProvider>() as unknown as ServiceApp;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler((err, request, reply) => sendProblem(err, request, reply));
  app.setNotFoundHandler((request, reply) => sendProblem(new NotFoundError(`no route ${request.method} ${request.url}`), request, reply));
  if ((options.authentication ?? "vouched") === "vouched") {
    app.addHook("onRequest", async (request) => {
      if (!OPEN_ROUTES.has(request.routeOptions.url ?? "")) authenticateVouched(request, new Date(), options.name);
    });
  }

  await app.register(swagger, {
    openapi: { info: { title: options.name, description: options.description, version: options.version ?? "0.1.0" } },
    transform: jsonSchemaTransform,
  });

  const metrics = new Registry();
  metrics.setDefaultLabels({ service: options.name });
  collectDefaultMetrics({ register: metrics });
  app.decorate("metrics", metrics);

  app.get("/health", { schema: { hide: true } }, async () => ({ status: "ok", service: options.name }));
  app.get("/metrics", { schema: { hide: true } }, async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()));
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  return app;
}

declare module "fastify" {
  interface FastifyInstance {
    metrics: Registry;
  }
}

/**
 * Runs a command request: the calling department, the idempotency key, and the
 * first response replayed on a retry. `execute` returns status and body.
 */
export async function runCommand(
  request: FastifyRequest,
  reply: FastifyReply,
  keys: IdempotencyKeys,
  execute: (department: string, idempotencyKey: string) => Promise<StoredResponse>,
): Promise<void> {
  const department = departmentOf(request);
  const key = idempotencyKeyOf(request);
  const result = await keys.run(department, key, { url: request.url, body: request.body }, () => execute(department, key));
  if (result.replayed) reply.header("idempotent-replayed", "true");
  if (result.status >= 400) reply.type(PROBLEM_CONTENT_TYPE);
  await reply.code(result.status).send(result.body);
}
