import type { EventStore } from "@shenguan/eventstore";
import { createServiceApp, departmentOf, IdempotencyKeys, idFromKey, NotFoundError, runCommand, type Clock, type Queryable, type ServiceApp } from "@shenguan/service-kit";
import type { FastifyRequest } from "fastify";
import { CreditService } from "./credit/service.js";
import { EnforcementService, type CommandContext, type EnforcementOutcome } from "./enforcement/service.js";
import { enforcementCaseStream } from "./enforcement/events.js";
import type { CreditOutcome } from "./credit/service.js";
import * as s from "./routes/schemas.js";

export interface EnforcementDeps {
  readonly store: EventStore;
  /** The database for idempotency keys (the store's own PostgreSQL or PGlite). */
  readonly sql: Queryable;
  readonly clock: Clock;
  /** The credit platform's department code (e.g. XYB-350100): publishes the automatic records, may repair any record. */
  readonly creditDepartment: string;
  readonly logger?: boolean | object;
}

export type EnforcementApp = ServiceApp & { enforcement: EnforcementService; credit: CreditService };

/** 综合行政执法 and the credit platform's HTTP API. The bus runner listens; tests use inject. */
export async function buildEnforcementApp(deps: EnforcementDeps): Promise<EnforcementApp> {
  const app = await createServiceApp({
    name: "enforcement",
    description: "综合行政执法 (enforcement cases, 行政处罚) and 信用平台 (credit records, 信用修复)",
    ...(deps.logger !== undefined ? { logger: deps.logger } : {}),
  });
  const keys = new IdempotencyKeys(deps.sql);
  await keys.migrate();
  const enforcement = new EnforcementService(deps);
  const credit = new CreditService(deps);
  app.decorate("enforcement", enforcement);
  app.decorate("credit", credit);

  const ctx = (req: FastifyRequest, department: string): CommandContext => ({
    department,
    correlationId: req.id,
    ...(typeof req.headers["traceparent"] === "string" ? { traceparent: req.headers["traceparent"] } : {}),
  });
  const caseReply = (status: number, extra: { penaltyId?: string } = {}) => (o: EnforcementOutcome) => ({ status, body: { ...o, revision: String(o.revision), ...extra } });
  const creditReply = (status: number, extra: { recordId?: string } = {}) => (o: CreditOutcome) => ({ status, body: { ...o, revision: String(o.revision), ...extra } });

  // --- enforcement cases -------------------------------------------------------------------

  app.post("/enforcement-cases", { schema: { summary: "Open an enforcement case on the department's own initiative", body: s.openCaseBody, response: { 201: s.caseResult } } }, (req, reply) =>
    runCommand(req, reply, keys, (department, key) => {
      const { enforcementCaseId = idFromKey(department, key, "enforcement-case"), ...data } = req.body;
      return enforcement.execute(enforcementCaseId, "OpenCase", { enforcementCaseId, ...data }, ctx(req, department)).then(caseReply(201));
    }),
  );

  app.post(
    "/enforcement-cases/:id/penalties",
    { schema: { summary: "Impose a penalty (行政处罚决定)", params: s.caseParams, body: s.penaltyBody, response: { 201: s.caseResult } } },
    (req, reply) =>
      runCommand(req, reply, keys, (department, key) => {
        const { penaltyId = idFromKey(department, key, "penalty"), ...data } = req.body;
        return enforcement.execute(req.params.id, "ImposePenalty", { penaltyId, ...data }, ctx(req, department)).then(caseReply(201, { penaltyId }));
      }),
  );

  app.post(
    "/enforcement-cases/:id/conclusion",
    { schema: { summary: "Conclude the case (执法结果)", params: s.caseParams, body: s.conclusionBody, response: { 200: s.caseResult } } },
    (req, reply) => runCommand(req, reply, keys, (department) => enforcement.execute(req.params.id, "Conclude", req.body, ctx(req, department)).then(caseReply(200))),
  );

  app.get("/enforcement-cases/:id", { schema: { summary: "The enforcement case as it stands, folded from its events", params: s.caseParams } }, async (req) => {
    departmentOf(req);
    const state = await enforcement.state(req.params.id);
    if (state.status === "none") throw new NotFoundError(`no enforcement case ${req.params.id}`);
    return { enforcementCaseId: req.params.id, ...state };
  });

  app.get("/enforcement-cases/:id/events", { schema: { summary: "The enforcement case's event history with metadata", params: s.caseParams } }, async (req) => {
    departmentOf(req);
    const events = await deps.store.readStream(enforcementCaseStream(req.params.id));
    if (events.length === 0) throw new NotFoundError(`no enforcement case ${req.params.id}`);
    return events.map((e) => ({ ...e, revision: String(e.revision), position: `${e.position.commit}/${e.position.prepare}` }));
  });

  // --- credit ------------------------------------------------------------------------------

  app.post(
    "/credit/:uscc/records",
    { schema: { summary: "Publish a credit record (双公示, 失信)", params: s.usccParams, body: s.recordBody, response: { 201: s.creditResult } } },
    (req, reply) =>
      runCommand(req, reply, keys, (department, key) => {
        const { recordId = idFromKey(department, key, "credit-record"), ...data } = req.body;
        return credit.publish(req.params.uscc, { recordId, ...data }, ctx(req, department)).then(creditReply(201, { recordId }));
      }),
  );

  app.post(
    "/credit/:uscc/records/:recordId/repair",
    { schema: { summary: "Repair a credit record (信用修复)", params: s.recordParams, body: s.repairBody, response: { 200: s.creditResult } } },
    (req, reply) =>
      runCommand(req, reply, keys, (department) =>
        credit.repair(req.params.uscc, req.params.recordId, req.body.basis, ctx(req, department)).then(creditReply(200, { recordId: req.params.recordId })),
      ),
  );

  app.get("/credit/:uscc", { schema: { summary: "A subject's credit records and whether 告知承诺 is barred", params: s.usccParams } }, async (req) => {
    departmentOf(req);
    return credit.standing(req.params.uscc);
  });

  return app as EnforcementApp;
}

declare module "fastify" {
  interface FastifyInstance {
    enforcement: EnforcementService;
    credit: CreditService;
  }
}
