import { contextOf, type LinkageSetup } from "./context.js";
import { tickDeadlines, type TickOutcome } from "./deadline/deadlines.js";
import type { SqlExecutor } from "@shenguan/eventstore";
import { routeHandoff } from "./handoff/handoffs.js";

export interface LinkageTickOutcome extends TickOutcome {
  /** Handoffs that waited (for a calendar year, or unrouted past a new route) and were pushed now. */
  readonly released: string[];
}

/**
 * One beat of the durable timer; the runner calls it every few seconds,
 * tests with a ManualClock's time (default: the clock's now). Pushes handoffs
 * still waiting although they could go now (their claim limit counts from
 * this push), then issues the yellow and red cards that are due. Everything
 * it needs is in the database, so any process may run it and a restart loses
 * nothing.
 */
export async function tick(setup: LinkageSetup & { readonly sql: SqlExecutor }, now?: Date): Promise<LinkageTickOutcome> {
  const ctx = { ...contextOf(setup), sql: setup.sql };
  now ??= ctx.clock.now();
  const released: string[] = [];
  // Held for a calendar year, or unrouted although a route now covers them:
  // a grant consumed while a route was being added (its transaction did not
  // see the route, the route's did not see the grant) is pushed here.
  const { rows: waiting } = await ctx.sql.query<{ handoff_id: string }>(
    `select h.handoff_id from linkage_handoffs h
      where h.status = 'held'
         or (h.status = 'unrouted' and exists (
               select 1 from linkage_routes r
                where r.item_code = h.item_code
                  and r.region_code in (h.region_code, left(h.region_code, 9) || '000', left(h.region_code, 6),
                                        left(h.region_code, 4) || '00', left(h.region_code, 2) || '0000')))
      order by h.handoff_id`,
  );
  for (const { handoff_id: id } of waiting) {
    const result = await ctx.sql.transaction((tx) =>
      routeHandoff(ctx, tx, id, { correlationId: `deadline-timer-${now.toISOString()}`, causationId: null, now }),
    );
    if (result === "pushed") released.push(id);
  }
  const deadlines = await tickDeadlines(ctx, now);
  return { ...deadlines, released };
}
