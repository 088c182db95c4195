import type { EventStore } from "@shenguan/eventstore";
import { createServiceApp, departmentOf, IdempotencyKeys, NotFoundError, runCommand, type Clock, type Queryable, type ServiceApp } from "@shenguan/service-kit";
import { createHash } from "node:crypto";
import type { z } from "zod";
import { LicenceService, type EligibilityLookup } from "./licence/service.js";
import { licenceCaseStream } from "./licence/events.js";
import * as s from "./routes/schemas.js";

/** A stable, opaque case id for a department's idempotency key. */
function caseIdFor(department: string, idempotencyKey: string): string {
  return `C-${createHash("sha256").update(`${department}\u0000${idempotencyKey}`).digest("hex").slice(0, 24)}`;
}

export interface ApprovalDeps {
  readonly store: EventStore;
  /** The database for idempotency keys (the store's own PostgreSQL or PGlite). */
  readonly sql: Queryable;
  readonly clock: Clock;
  readonly eligibility: EligibilityLookup;
  readonly logger?: boolean | object;
}

/** The approval bureau's HTTP API. server.ts (or the bus runner) listens; tests use inject. */
export async function buildApprovalApp(deps: ApprovalDeps): Promise<ServiceApp & { licences: LicenceService }> {
  const app = await createServiceApp({
    name: "approval",
    description: "行政审批局: licence cases from acceptance (受理) to cancellation (注销) or revocation (撤销)",
    ...(deps.logger !== undefined ? { logger: deps.logger } : {}),
  });
  const keys = new IdempotencyKeys(deps.sql);
  await keys.migrate();
  const licences = new LicenceService(deps);
  app.decorate("licences", licences);

  const ctx = (req: { id: string; headers: Record<string, unknown> }, department: string) => ({
    department,
    correlationId: req.id,
    ...(typeof req.headers["traceparent"] === "string" ? { traceparent: req.headers["traceparent"] } : {}),
  });
  const ok = (status: number) => (outcome: { caseId: string; status: string; revision: bigint; events: string[] }) => ({
    status,
    body: { ...outcome, revision: String(outcome.revision) },
  });

  app.post("/cases", { schema: { summary: "Accept an application (受理)", body: s.acceptBody, response: { 201: s.commandResult } } }, (req, reply) =>
    runCommand(req, reply, keys, (department, key) => {
      // Without a client-chosen id, the case id follows from the idempotency key, so a
      // retry that takes over an abandoned first attempt lands on the same case.
      const { caseId = caseIdFor(department, key), ...data } = req.body;
      return licences.accept(caseId, { caseId, ...data }, ctx(req, department)).then(ok(201));
    }),
  );

  const caseCommand = <B extends z.ZodType, T extends Parameters<LicenceService["execute"]>[1]>(path: string, summary: string, body: B, type: T) =>
    app.post(path, { schema: { summary, params: s.caseParams, body, response: { 200: s.commandResult } } }, (req, reply) =>
      runCommand(req, reply, keys, (department) =>
        licences.execute(req.params.caseId, type, req.body as never, ctx(req, department)).then(ok(200)),
      ),
    );
  caseCommand("/cases/:caseId/grant", "Grant the licence (准予许可)", s.grantBody, "GrantLicence");
  caseCommand("/cases/:caseId/deny", "Deny the application (不予许可)", s.denyBody, "DenyLicence");
  caseCommand("/cases/:caseId/change", "Change the licence (变更)", s.changeBody, "ChangeLicence");
  caseCommand("/cases/:caseId/renew", "Renew the licence (延续)", s.renewBody, "RenewLicence");
  caseCommand("/cases/:caseId/cancel", "Cancel the licence (注销)", s.cancelBody, "CancelLicence");
  caseCommand("/cases/:caseId/revoke", "Revoke the licence (撤销), on its own initiative or answering a request", s.revokeBody, "RevokeLicence");

  app.post(
    "/cases/:caseId/revocation-requests/:requestId/extend",
    { schema: { summary: "Extend the decision on a revocation request by 20 days (once)", params: s.requestParams, body: s.extendBody, response: { 200: s.commandResult } } },
    (req, reply) =>
      runCommand(req, reply, keys, (department) =>
        licences.execute(req.params.caseId, "ExtendRevocationDecision", { requestId: req.params.requestId, reason: req.body.reason }, ctx(req, department)).then(ok(200)),
      ),
  );
  app.post(
    "/cases/:caseId/revocation-requests/:requestId/decline",
    { schema: { summary: "Decline a revocation request (不予撤销)", params: s.requestParams, body: s.declineBody, response: { 200: s.commandResult } } },
    (req, reply) =>
      runCommand(req, reply, keys, (department) =>
        licences.execute(req.params.caseId, "DeclineRevocationRequest", { requestId: req.params.requestId, ...req.body }, ctx(req, department)).then(ok(200)),
      ),
  );

  app.get("/cases/:caseId", { schema: { summary: "The case as it stands, folded from its events", params: s.caseParams } }, async (req) => {
    departmentOf(req);
    const state = await licences.state(req.params.caseId);
    if (state.status === "none") throw new NotFoundError(`no case ${req.params.caseId}`);
    return { caseId: req.params.caseId, ...state };
  });

  app.get("/cases/:caseId/events", { schema: { summary: "The case's event history with metadata", params: s.caseParams } }, async (req) => {
    departmentOf(req);
    const events = await deps.store.readStream(licenceCaseStream(req.params.caseId));
    if (events.length === 0) throw new NotFoundError(`no case ${req.params.caseId}`);
    return events.map((e) => ({ ...e, revision: String(e.revision), position: `${e.position.commit}/${e.position.prepare}` }));
  });

  return app as ServiceApp & { licences: LicenceService };
}

declare module "fastify" {
  interface FastifyInstance {
    licences: LicenceService;
  }
}
