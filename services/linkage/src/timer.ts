import type { LinkageContext } from "./context.js";
import { tickDeadlines, type TickOutcome } from "./deadline/deadlines.js";
import type { SqlExecutor } from "./eventstore.js";
import { routeHandoff } from "./handoff/handoffs.js";

export interface LinkageTickOutcome extends TickOutcome {
  /** Handoffs that waited for a calendar year and were pushed (or reported unrouted) now. */
  readonly released: string[];
}

/**
 * One beat of the durable timer; the runner calls it every few seconds,
 * tests with a ManualClock's time. Pushes handoffs held for a calendar year
 * that is now loaded (their claim limit counts from this push), then issues
 * the yellow and red cards that are due. Everything it needs is in the
 * database, so any process may run it and a restart loses nothing.
 */
export async function tick(ctx: LinkageContext & { readonly sql: SqlExecutor }, now: Date): Promise<LinkageTickOutcome> {
  const released: string[] = [];
  const { rows: held } = await ctx.sql.query<{ handoff_id: string }>(`select handoff_id from linkage_handoffs where status = 'held' order by handoff_id`);
  for (const { handoff_id: id } of held) {
    const result = await ctx.sql.transaction((tx) => routeHandoff(ctx, tx, id, { correlationId: `deadline-timer-${now.toISOString()}`, causationId: null, now }));
    if (result === "pushed" || result === "unrouted") released.push(id);
  }
  const deadlines = await tickDeadlines(ctx, now);
  return { ...deadlines, released };
}
