import { setMaxListeners } from "node:events";
import { families } from "@shenguan/contracts";
import { parsePosition, type EventStore, type SqlExecutor } from "@shenguan/eventstore";
import type { AccessLog, Clock, Grants } from "@shenguan/service-kit";
import fp from "fastify-plugin";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { requireCaller } from "./caller.js";
import type { PiiProtector } from "../pii/index.js";
import { filterWithin } from "./filter.js";
import { LogTail } from "./log-tail.js";
import { resumePosition, streamEvents } from "./sse.js";
import type { EgressPolicy } from "./egress.js";
import { WebhookDispatcher, type WebhookRetryPolicy } from "./webhooks.js";

export interface DeliveryPluginOptions {
  readonly store: EventStore;
  /** The database for webhook subscriptions, checkpoints and dead letters (the store's own is fine). */
  readonly sql: SqlExecutor;
  readonly accessLog: AccessLog;
  readonly pii: PiiProtector;
  readonly clock: Clock;
  /** The department registry's answer for webhook deliveries, which run without a request. */
  readonly grantsOf: (department: string) => Promise<Grants | undefined>;
  readonly sse?: {
    readonly heartbeatMs?: number;
    readonly batchSize?: number;
    /** Newest events the shared reader keeps for the streams at the live end (default 10 000). */
    readonly maxBuffered?: number;
    /** How long the shared reader gathers new events before the streams get them (default 25 ms, see LogTail). */
    readonly lingerMs?: number;
  };
  readonly webhooks?: WebhookRetryPolicy & {
    /** How often the worker calls deliverDue() on a real timer; 0 (the default) runs no timer, for tests and for a separate worker. */
    readonly pollIntervalMs?: number;
    /** Which destinations webhooks may reach (egress.ts): public addresses only unless allowPrivateNetworks. */
    readonly egress?: EgressPolicy;
  };
  /** Create the webhook tables on registration (default true). */
  readonly migrate?: boolean;
}

declare module "fastify" {
  interface FastifyInstance {
    /** The webhook worker: `deliverDue()` sends what is due on the injected clock. */
    webhooks: WebhookDispatcher;
    /** The one reader of the log's live end that every SSE stream shares. */
    sseTail: LogTail;
  }
}

const csv = z
  .string()
  .transform((s) =>
    s
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .optional();
const webhookBody = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).max(2000),
  /** Shared with the receiver to check x-shenguan-signature. */
  secret: z.string().min(16).max(200),
  families: z.array(z.enum(families)).min(1).optional(),
  regions: z.array(z.string()).min(1).optional(),
  /** Start after this log position ("<commit>/<prepare>"); default: the start of the log. */
  after: z
    .string()
    .regex(/^\d+\/\d+$/)
    .optional(),
});
const webhookParams = z.strictObject({ id: z.string().max(100) });

/**
 * Delivery to subscribers: `GET /v1/subscribe/sse` (Server-Sent Events,
 * resumable with Last-Event-ID) and `/v1/webhooks` (HMAC-signed POSTs with
 * retries, dead letters and redelivery). Both deliver only contract events,
 * within the caller's subscribe grants, with personal data as its pii grant
 * allows, and write every delivery to the access log.
 */
const plugin: FastifyPluginAsyncZod<DeliveryPluginOptions> = async (app, options) => {
  const dispatcher = new WebhookDispatcher({
    ...options,
    ...(options.webhooks ? { retry: options.webhooks } : {}),
    ...(options.webhooks?.egress ? { egress: options.webhooks.egress } : {}),
  });
  if (options.migrate ?? true) await dispatcher.migrate();
  app.decorate("webhooks", dispatcher);

  // One reader of the log's live end for all SSE streams of this gateway.
  const tail = new LogTail(options.store, {
    ...(options.sse?.maxBuffered !== undefined ? { maxBuffered: options.sse.maxBuffered } : {}),
    ...(options.sse?.lingerMs !== undefined ? { lingerMs: options.sse.lingerMs } : {}),
  });
  app.decorate("sseTail", tail);
  const shutdown = new AbortController();
  // Every open SSE stream listens on it: more than ten subscribers is normal, not a leak.
  setMaxListeners(0, shutdown.signal);
  let timer: NodeJS.Timeout | undefined;
  const pollMs = options.webhooks?.pollIntervalMs ?? 0;
  if (pollMs > 0) {
    let running = false;
    timer = setInterval(() => {
      if (running) return;
      running = true;
      dispatcher
        .deliverDue()
        .catch((err: unknown) => app.log.error({ err }, "webhook delivery run failed"))
        .finally(() => (running = false));
    }, pollMs);
  }
  app.addHook("preClose", async () => {
    shutdown.abort();
    if (timer) clearInterval(timer);
    await tail.close();
    await dispatcher.close();
  });

  app.get(
    "/v1/subscribe/sse",
    {
      schema: {
        summary: "Subscribe to events as Server-Sent Events (resume with Last-Event-ID)",
        querystring: z.strictObject({ families: csv, regions: csv, lastEventId: z.string().optional() }),
      },
    },
    async (request, reply) => {
      const caller = requireCaller(request);
      const filter = filterWithin(caller.grants, { families: request.query.families, regions: request.query.regions }, "querystring");
      const after = resumePosition(request, request.query.lastEventId);
      await streamEvents(request, reply, caller, filter, after, {
        tail,
        grantsOf: options.grantsOf,
        accessLog: options.accessLog,
        pii: options.pii,
        shutdown: shutdown.signal,
        ...options.sse,
      });
    },
  );

  app.post("/v1/webhooks", { schema: { summary: "Register a webhook", body: webhookBody } }, async (request, reply) => {
    const caller = requireCaller(request);
    const { after, ...rest } = request.body;
    const hook = await dispatcher.register(caller.department, caller.grants, {
      ...rest,
      ...(after ? { after: parsePosition(after) } : {}),
    });
    return reply.code(201).send(hook);
  });
  app.get("/v1/webhooks", { schema: { summary: "The department's webhooks" } }, async (request) =>
    dispatcher.list(requireCaller(request).department),
  );
  app.get("/v1/webhooks/:id", { schema: { params: webhookParams } }, async (request) =>
    dispatcher.get(requireCaller(request).department, request.params.id),
  );
  app.delete("/v1/webhooks/:id", { schema: { params: webhookParams } }, async (request, reply) => {
    await dispatcher.remove(requireCaller(request).department, request.params.id);
    return reply.code(204).send();
  });
  app.get("/v1/webhooks/:id/dead-letters", { schema: { params: webhookParams } }, async (request) =>
    dispatcher.deadLetters(requireCaller(request).department, request.params.id),
  );
  app.post(
    "/v1/webhooks/:id/dead-letters/:deadLetterId/redeliver",
    { schema: { params: z.strictObject({ id: z.string().max(100), deadLetterId: z.string().max(30) }) } },
    async (request) => {
      const caller = requireCaller(request);
      return dispatcher.redeliver(caller.department, caller.grants, request.params.id, request.params.deadLetterId);
    },
  );
};

export const deliveryPlugin = fp(plugin, { name: "shenguan-delivery", fastify: "5.x" });
