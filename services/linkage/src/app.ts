import { localDateOf } from "@shenguan/deadlines";
import type { EventStore } from "@shenguan/eventstore";
import {
  createServiceApp,
  departmentOf,
  IdempotencyKeys,
  idFromKey,
  NotFoundError,
  runCommand,
  type Clock,
  type ServiceApp,
} from "@shenguan/service-kit";
import type { FastifyRequest } from "fastify";
import { asCalendarRefusal, type Calendars } from "./calendar/calendars.js";
import { linkageContext, type LinkageContext, type LinkageLogger } from "./context.js";
import { commitmentEligibility, type CommitmentEligibilityResult } from "./credit/credit.js";
import { listDeadlines } from "./deadline/deadlines.js";
import { deadlineCards } from "./deadline/limits.js";
import type { SqlExecutor } from "@shenguan/eventstore";
import { feedbackOfLicence } from "./feedback/feedback.js";
import { getHandoff, listHandoffs, routeWaiting, type Trigger } from "./handoff/handoffs.js";
import { indicators } from "./indicators/indicators.js";
import { createLinkageProjection, type LinkageHandler } from "./projection.js";
import { createRoute, deleteRoute, listRoutes, routeHistory, updateRoute, type Route } from "./routing/routes.js";
import * as s from "./routes/schemas.js";
import { migrateLinkage } from "./schema.js";
import { tick, type LinkageTickOutcome } from "./timer.js";

export interface LinkageDeps {
  readonly store: EventStore;
  /** The read models' database: the store's own PostgreSQL or PGlite, so emitted events commit with the read models. */
  readonly sql: SqlExecutor;
  readonly clock: Clock;
  /** The working calendar loaded from calendar_years; one is made when absent. */
  readonly calendars?: Calendars;
  /** Share of a limit after which a deadline turns yellow; default 0.8. */
  readonly yellowShare?: number;
  /** How long after midnight the day's cards wait for facts still in flight; default 15 minutes. */
  readonly cardGraceMs?: number;
  /** Department code of the service's own events; default SHENGUAN-LINKAGE. */
  readonly department?: string;
  /** fastify logger options (false in tests), as for every service. */
  readonly logger?: boolean | object;
}

/** What the bus runner needs besides HTTP: the consumer's handler, the timer, the eligibility check. */
export interface LinkageRuntime {
  readonly context: LinkageContext & { readonly sql: SqlExecutor };
  /** runProjectionConsumer's `handle`. */
  readonly handle: LinkageHandler;
  /** One beat of the deadline timer (call every few seconds). */
  tick(now?: Date): Promise<LinkageTickOutcome>;
  eligibility(subject: { uscc: string | null; idNumber: string | null }): Promise<CommitmentEligibilityResult>;
}

/**
 * The linkage service's HTTP API: the 审管职责清单 (routes), handoffs and the
 * unrouted queue, deadlines, feedback per licence, 告知承诺 eligibility,
 * indicators and the working calendar. The Kafka side is `app.linkage.handle`
 * (for runProjectionConsumer) and `app.linkage.tick` (the timer).
 */
export async function buildLinkageApp(deps: LinkageDeps): Promise<ServiceApp & { linkage: LinkageRuntime }> {
  const app = await createServiceApp({
    name: "linkage",
    description:
      "审管联动: routing by the 审管职责清单, handoffs (推送/认领), deadlines with yellow and red cards, feedback to approval, indicators",
    ...(deps.logger !== undefined ? { logger: deps.logger } : {}),
  });
  await migrateLinkage(deps.sql);
  const keys = new IdempotencyKeys(deps.sql);
  await keys.migrate();
  const context = {
    ...linkageContext({
      store: deps.store,
      clock: deps.clock,
      ...(deps.calendars ? { calendars: deps.calendars } : {}),
      ...(deps.yellowShare !== undefined ? { yellowShare: deps.yellowShare } : {}),
      ...(deps.cardGraceMs !== undefined ? { cardGraceMs: deps.cardGraceMs } : {}),
      ...(deps.department ? { department: deps.department } : {}),
      logger: app.log as LinkageLogger,
    }),
    sql: deps.sql,
  };
  const runtime: LinkageRuntime = {
    context,
    handle: createLinkageProjection(context),
    tick: (now = deps.clock.now()) => tick(context, now),
    eligibility: (subject) => commitmentEligibility(deps.sql, subject),
  };
  app.decorate("linkage", runtime);

  const trigger = (req: FastifyRequest): Trigger => ({ correlationId: req.id, causationId: null, now: deps.clock.now() });
  const changeResult = (route: Route, released: Awaited<ReturnType<typeof routeWaiting>>) => ({
    route,
    released: { pushed: released.pushed, held: released.held },
  });

  // ---- 审管职责清单
  app.post(
    "/routes",
    {
      schema: {
        summary: "Add a route: who supervises an item in a region (pushes what waited for it)",
        body: s.routeBody,
        response: { 201: s.routeChangeResult },
      },
    },
    (req, reply) =>
      runCommand(req, reply, keys, (department, key) =>
        deps.sql.transaction(async (tx) => {
          const route = await createRoute(tx, idFromKey(department, key, "route"), req.body, { department, at: deps.clock.now() });
          const released = await routeWaiting(context, tx, trigger(req), { itemCode: route.itemCode });
          return { status: 201, body: changeResult(route, released) };
        }),
      ),
  );
  app.put(
    "/routes/:routeId",
    {
      schema: {
        summary: "Change a route (pushes what waited for it; handoffs pushed already keep their regulator)",
        params: s.routeParams,
        body: s.routeBody,
        response: { 200: s.routeChangeResult },
      },
    },
    (req, reply) =>
      runCommand(req, reply, keys, (department) =>
        deps.sql.transaction(async (tx) => {
          const { after } = await updateRoute(tx, req.params.routeId, req.body, { department, at: deps.clock.now() });
          const released = await routeWaiting(context, tx, trigger(req), { itemCode: after.itemCode });
          return { status: 200, body: changeResult(after, released) };
        }),
      ),
  );
  app.delete(
    "/routes/:routeId",
    { schema: { summary: "Remove a route (its history stays)", params: s.routeParams, response: { 200: s.route } } },
    (req, reply) =>
      runCommand(req, reply, keys, (department) =>
        deps.sql.transaction(async (tx) => ({
          status: 200,
          body: await deleteRoute(tx, req.params.routeId, { department, at: deps.clock.now() }),
        })),
      ),
  );
  app.get("/routes", { schema: { summary: "The 审管职责清单", querystring: s.routeQuery } }, async (req) => {
    departmentOf(req);
    return listRoutes(deps.sql, req.query);
  });
  app.get(
    "/routes/history",
    { schema: { summary: "Every change of the routes: who, when, before and after (newest first)", querystring: s.historyQuery } },
    async (req) => {
      departmentOf(req);
      return routeHistory(deps.sql, req.query);
    },
  );

  // ---- handoffs
  app.get(
    "/handoffs",
    { schema: { summary: "Handoffs by regulator, status, item and region", querystring: s.handoffQuery } },
    async (req) => {
      departmentOf(req);
      return listHandoffs(deps.sql, req.query);
    },
  );
  app.get(
    "/handoffs/unrouted",
    {
      schema: {
        summary: "The supervisor's queue: grants with no route (unrouted) or waiting for a calendar year (held)",
        querystring: s.handoffQuery.omit({ status: true }),
      },
    },
    async (req) => {
      departmentOf(req);
      return listHandoffs(deps.sql, { ...req.query, status: ["unrouted", "held"] });
    },
  );
  app.get("/handoffs/:handoffId", { schema: { summary: "One handoff with its deadlines", params: s.handoffParams } }, async (req) => {
    departmentOf(req);
    const handoff = await getHandoff(deps.sql, req.params.handoffId);
    if (!handoff) throw new NotFoundError(`no handoff ${req.params.handoffId}`);
    const deadlines = handoff.licenceId ? await listDeadlines(deps.sql, { licenceId: handoff.licenceId, limit: 1000, offset: 0 }) : [];
    return { ...handoff, deadlines };
  });

  // ---- deadlines, feedback, credit, indicators
  app.get(
    "/deadlines",
    { schema: { summary: "Deadlines with their yellow and red card dates", querystring: s.deadlineQuery } },
    async (req) => {
      departmentOf(req);
      return listDeadlines(deps.sql, req.query);
    },
  );
  app.get(
    "/licences/:licenceId/feedback",
    { schema: { summary: "反馈: every supervision, enforcement and credit outcome about a licence", params: s.licenceParams } },
    async (req) => {
      departmentOf(req);
      return feedbackOfLicence(deps.sql, req.params.licenceId);
    },
  );
  app.get(
    "/subjects/:uscc/commitment-eligibility",
    { schema: { summary: "May this subject use 告知承诺? With each barring record", params: s.subjectParams } },
    async (req) => {
      departmentOf(req);
      return commitmentEligibility(deps.sql, { uscc: req.params.uscc, idNumber: null });
    },
  );
  app.get(
    "/indicators",
    {
      schema: {
        summary: "Push count, claim, on-time claim, feedback, verification and closed-loop rates, open cards",
        querystring: s.indicatorQuery,
      },
    },
    async (req) => {
      departmentOf(req);
      const asOf = localDateOf(deps.clock.now());
      const query = { from: req.query.from, to: req.query.to, asOf };
      const [groups, total] = await Promise.all([
        indicators(deps.sql, { ...query, groupBy: req.query.groupBy }),
        indicators(deps.sql, { ...query, groupBy: "all" }),
      ]);
      return { groupBy: req.query.groupBy, from: req.query.from ?? null, to: req.query.to ?? null, asOf, groups, total: total[0] ?? null };
    },
  );

  // ---- the working calendar
  app.post(
    "/calendar/years",
    {
      schema: {
        summary: "Load one year's holiday notice (validated; replace=true to replace a loaded year)",
        querystring: s.calendarQuery,
        body: s.calendarBody,
      },
    },
    (req, reply) =>
      runCommand(req, reply, keys, (department) =>
        deps.sql.transaction(async (tx) => {
          const loaded = await context.calendars.load(tx, req.body, { department, at: deps.clock.now(), replace: req.query.replace });
          // Pushes held for this year go out now; deadlines waiting for it get their dates on the next tick.
          const released = await routeWaiting(context, tx, trigger(req));
          return { status: 201, body: { ...loaded, released: { pushed: released.pushed, held: released.held } } };
        }),
      ),
  );
  app.get("/calendar/years", { schema: { summary: "The loaded years" } }, async (req) => {
    departmentOf(req);
    return context.calendars.list(deps.sql);
  });
  app.get(
    "/calendar/due-date",
    { schema: { summary: "A limit's due date and card dates from a start date (409 for a year not loaded)", querystring: s.dueDateQuery } },
    async (req) => {
      departmentOf(req);
      const calendar = await context.calendars.current(deps.sql);
      try {
        const limit = { amount: req.query.amount, unit: req.query.unit };
        return {
          start: req.query.start,
          limit,
          yellowShare: context.yellowShare,
          ...deadlineCards(calendar, { start: req.query.start, limit }, context.yellowShare),
        };
      } catch (err) {
        throw asCalendarRefusal(err);
      }
    },
  );

  return app as ServiceApp & { linkage: LinkageRuntime };
}

declare module "fastify" {
  interface FastifyInstance {
    linkage: LinkageRuntime;
  }
}
