import { catalog, type EventName } from "@shenguan/contracts";
import type { AccessLog } from "@shenguan/service-kit";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { requireGrant } from "../access/acl.js";
import { requireCaller } from "../delivery/caller.js";
import type { PiiProtector } from "./protect.js";

export interface PiiPluginOptions {
  readonly pii: PiiProtector;
  readonly accessLog: AccessLog;
}

const eventNames = Object.keys(catalog) as [EventName, ...EventName[]];

/**
 * POST /v1/pii/reveal: a holder of the `pii` grant opens the sealed fields of
 * an event's data it received (or was handed) sealed. Every reveal is written
 * to the access log before the clear data leaves.
 */
export const piiPlugin: FastifyPluginAsyncZod<PiiPluginOptions> = async (app, options) => {
  app.post(
    "/v1/pii/reveal",
    {
      schema: {
        summary: "Open SM4-sealed personal data (pii grant)",
        body: z.strictObject({
          type: z.enum(eventNames),
          data: z.record(z.string(), z.unknown()),
          /** The event the data came from, for the access log. */
          eventId: z.string().max(100).optional(),
        }),
      },
    },
    async (request) => {
      const caller = requireCaller(request);
      requireGrant(caller, "pii");
      const { type, data, eventId } = request.body;
      const revealed = options.pii.reveal(type, data);
      if (revealed.paths.length > 0) {
        await options.accessLog.record([
          { department: caller.department, action: "pii.decrypt", resource: eventId ?? type, detail: { type, paths: revealed.paths } },
        ]);
      }
      return { type, data: revealed.data, revealed: revealed.paths };
    },
  );
};
