import type { EventStore } from "@shenguan/eventstore";
import {
  createServiceApp,
  departmentOf,
  ForbiddenError,
  IdempotencyKeys,
  idFromKey,
  NotFoundError,
  runCommand,
  type Clock,
  type Queryable,
  type ServiceApp,
} from "@shenguan/service-kit";
import type { FastifyRequest } from "fastify";
import { SupervisionService, type Outcome } from "./handoff/service.js";
import { migrateInbox, pushOf, queryInbox } from "./inbox/projection.js";
import * as s from "./routes/schemas.js";

export interface SupervisionDeps {
  readonly store: EventStore;
  /** The database for idempotency keys and the inbox read model (the store's own PostgreSQL or PGlite). */
  readonly sql: Queryable;
  readonly clock: Clock;
  readonly logger?: boolean | object;
}

/** The regulators' HTTP API (行业主管部门). server.ts (or the bus runner) listens; tests use inject. */
export async function buildSupervisionApp(deps: SupervisionDeps): Promise<ServiceApp & { handoffs: SupervisionService }> {
  const app = await createServiceApp({
    name: "supervision",
    description:
      "行业主管部门: claim (认领), inspect (检查), rectify (整改), verify commitments (告知承诺核查), transfer (移交执法), request revocation",
    ...(deps.logger !== undefined ? { logger: deps.logger } : {}),
  });
  const keys = new IdempotencyKeys(deps.sql);
  await keys.migrate();
  await migrateInbox(deps.sql);
  const handoffs = new SupervisionService({ store: deps.store, clock: deps.clock, pushes: (id) => pushOf(deps.sql, id) });
  app.decorate("handoffs", handoffs);

  const ctx = (req: FastifyRequest, department: string) => ({
    department,
    correlationId: req.id,
    ...(typeof req.headers["traceparent"] === "string" ? { traceparent: req.headers["traceparent"] } : {}),
  });
  const respond =
    (status: number, recordId: string | null = null) =>
    (o: Outcome) => ({
      status,
      body: { ...o, revision: String(o.revision), recordId },
    });
  const created = { 201: s.commandResult };

  app.post(
    "/handoffs/:handoffId/claim",
    { schema: { summary: "Claim a pushed licence (认领)", params: s.handoffParams, response: { 200: s.commandResult } } },
    (req, reply) =>
      runCommand(req, reply, keys, (department) =>
        handoffs.execute(req.params.handoffId, "ClaimHandoff", {}, ctx(req, department)).then(respond(200)),
      ),
  );

  app.post(
    "/handoffs/:handoffId/inspections",
    { schema: { summary: "Record an inspection (检查)", params: s.handoffParams, body: s.inspectionBody, response: created } },
    (req, reply) =>
      runCommand(req, reply, keys, (department, key) => {
        const inspectionId = idFromKey(department, key, "inspection");
        return handoffs
          .execute(req.params.handoffId, "RecordInspection", { inspectionId, ...req.body }, ctx(req, department))
          .then(respond(201, inspectionId));
      }),
  );

  app.post(
    "/handoffs/:handoffId/rectifications",
    {
      schema: {
        summary: "Order the next rectification round (整改)",
        params: s.handoffParams,
        body: s.rectificationBody,
        response: created,
      },
    },
    (req, reply) =>
      runCommand(req, reply, keys, (department, key) => {
        const rectificationId = idFromKey(department, key, "rectification");
        return handoffs
          .execute(req.params.handoffId, "OrderRectification", { rectificationId, ...req.body }, ctx(req, department))
          .then(respond(201, rectificationId));
      }),
  );

  app.post(
    "/handoffs/:handoffId/rectifications/:round/complete",
    {
      schema: {
        summary: "Record the result of the open rectification round",
        params: s.roundParams,
        body: s.completeRectificationBody,
        response: { 200: s.commandResult },
      },
    },
    (req, reply) =>
      runCommand(req, reply, keys, (department) =>
        handoffs
          .execute(req.params.handoffId, "CompleteRectification", { round: req.params.round, ...req.body }, ctx(req, department))
          .then(respond(200)),
      ),
  );

  app.post(
    "/handoffs/:handoffId/commitment-verification",
    {
      schema: {
        summary: "Verify the licensee's commitment (告知承诺核查)",
        params: s.handoffParams,
        body: s.verificationBody,
        response: created,
      },
    },
    (req, reply) =>
      runCommand(req, reply, keys, (department, key) => {
        const verificationId = idFromKey(department, key, "verification");
        return handoffs
          .execute(req.params.handoffId, "VerifyCommitment", { verificationId, ...req.body }, ctx(req, department))
          .then(respond(201, verificationId));
      }),
  );

  app.post(
    "/handoffs/:handoffId/transfers",
    { schema: { summary: "Transfer to enforcement (移交执法)", params: s.handoffParams, body: s.transferBody, response: created } },
    (req, reply) =>
      runCommand(req, reply, keys, (department, key) => {
        const transferId = idFromKey(department, key, "transfer");
        return handoffs
          .execute(req.params.handoffId, "TransferToEnforcement", { transferId, ...req.body }, ctx(req, department))
          .then(respond(201, transferId));
      }),
  );

  app.post(
    "/handoffs/:handoffId/revocation-requests",
    {
      schema: {
        summary: "Ask the approval bureau to revoke the licence (撤销建议)",
        params: s.handoffParams,
        body: s.revocationRequestBody,
        response: created,
      },
    },
    (req, reply) =>
      runCommand(req, reply, keys, (department, key) => {
        const requestId = idFromKey(department, key, "revocation-request");
        return handoffs
          .execute(req.params.handoffId, "RequestRevocation", { requestId, ...req.body }, ctx(req, department))
          .then(respond(201, requestId));
      }),
  );

  app.get(
    "/handoffs",
    { schema: { summary: "The regulator's inbox of pushed licences (read model)", querystring: s.inboxQuery } },
    async (req) => {
      const department = departmentOf(req);
      const { regulator = department, ...rest } = req.query;
      // Until the gateway vouches for roles, a department reads only its own inbox.
      if (regulator !== department) throw new ForbiddenError(`${department} may read only its own inbox, not ${regulator}'s`);
      return queryInbox(deps.sql, { regulator, ...rest });
    },
  );

  app.get(
    "/handoffs/:handoffId",
    { schema: { summary: "The handoff as it stands, folded from its events", params: s.handoffParams } },
    async (req) => {
      departmentOf(req);
      const state = await handoffs.state(req.params.handoffId);
      if (state.status === "none") throw new NotFoundError(`no handoff ${req.params.handoffId}`);
      return { handoffId: req.params.handoffId, ...state };
    },
  );

  app.get(
    "/handoffs/:handoffId/events",
    { schema: { summary: "The handoff's event history with metadata", params: s.handoffParams } },
    async (req) => {
      departmentOf(req);
      const events = await handoffs.events(req.params.handoffId);
      // A pushed handoff has no events of its own until its regulator first acts on it.
      if (events.length === 0 && !(await handoffs.known(req.params.handoffId))) throw new NotFoundError(`no handoff ${req.params.handoffId}`);
      return events.map((e) => ({ ...e, revision: String(e.revision), position: `${e.position.commit}/${e.position.prepare}` }));
    },
  );

  return app as ServiceApp & { handoffs: SupervisionService };
}

declare module "fastify" {
  interface FastifyInstance {
    handoffs: SupervisionService;
  }
}
