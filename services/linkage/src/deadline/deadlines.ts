import type { DeadlineKind, Limit } from "@shenguan/contracts";
import { localDateOf } from "@shenguan/deadlines";
import { v7 as uuidv7 } from "uuid";
import { isCalendarMissing } from "../calendar/calendars.js";
import type { LinkageContext } from "../context.js";
import type { SqlExecutor, SqlQueryable } from "@shenguan/eventstore";
import { calendarDaysUntil, deadlineCards } from "./limits.js";

export type DeadlineStatus = "open" | "warned" | "breached" | "met" | "cancelled";

const SLUG: Record<DeadlineKind, string> = {
  CLAIM: "claim",
  COMMITMENT_VERIFICATION: "verification",
  REVOCATION_DECISION: "revocation",
  SUPPLEMENT: "supplement",
  RECTIFICATION: "rectification",
};

/** Deterministic, so an event and its redelivery open, meet or move the same deadline. */
export function deadlineIdOf(kind: DeadlineKind, subjectRef: string): string {
  return `${SLUG[kind]}-${subjectRef}`;
}

export const deadlineStream = (deadlineId: string) => `deadline-${deadlineId}`;

/** The 60-calendar-day limit for deciding a revocation request (市场监管总局令第16号). */
export const REVOCATION_DECISION_LIMIT: Limit = { amount: 60, unit: "CALENDAR_DAYS" };

export interface DeadlineSpec {
  readonly kind: DeadlineKind;
  /** What it watches: a handoff id, licence id, request id or rectification id. */
  readonly subjectRef: string;
  readonly caseId: string;
  readonly licenceId: string;
  /** Kafka key of its cards: the licensee's, like the rest of the case. */
  readonly subject: string;
  readonly responsibleDepartment: string;
  readonly start: string;
  readonly limit: Limit;
  /** The due date an event fixed (a push's claimDue, a rectification's dueDate); computed from the limit when absent. */
  readonly fixedDue?: string | null;
  readonly openedAt: Date;
}

// Per deadline row d, probes by key that stop at the first row. Written as
// EXISTS they may be planned as one hashed scan of the whole table per
// statement (the planner's guess for a young, never-analyzed table): a
// linkage chunk read every handoff row to open its deadlines.
const probe = (from: string, where: string) => `coalesce((select true from ${from} where ${where} limit 1), false)`;
/** Whether a fact or a card of d is on record. */
const KNOWN_FACTS = `(${probe("linkage_deadline_facts f", "f.deadline_id = d.deadline_id")} or ${probe("linkage_deadline_cards c", "c.deadline_id = d.deadline_id")})`;
/** Whether d's licence has ended (its handoff closed). */
const LICENCE_CLOSED = probe("linkage_handoffs h", "h.licence_id = d.licence_id and h.closed_at is not null");

/** Opens a deadline (idempotent) and folds in whatever is already known about it. */
export async function openDeadline(ctx: LinkageContext, tx: SqlQueryable, spec: DeadlineSpec): Promise<string> {
  const [id] = await openDeadlines(ctx, tx, [spec]);
  return id!;
}

/**
 * openDeadline for several deadlines (a consumer chunk's pushes), in one
 * statement when nothing is known of them yet: each is settled here as
 * settleDeadlines would settle a fresh row (no facts, no cards, licence
 * open: the card dates from the calendar) and inserted so. The deadlines
 * that existed already, or of which a fact, a card or the licence's end is
 * on record (facts may come before the deadline: the topics are consumed
 * independently), are then settled from the database as before.
 */
export async function openDeadlines(ctx: LinkageContext, tx: SqlQueryable, specs: readonly DeadlineSpec[]): Promise<string[]> {
  if (specs.length === 0) return [];
  const opening = await prepareDeadlines(ctx, tx, specs, 1);
  const { rows } = await tx.query<OpenedDeadline>(opening.sql, opening.params);
  await opening.settleKnown(tx, rows);
  return opening.ids;
}

/** What the insert of prepareDeadlines returns for each deadline it inserted. */
export interface OpenedDeadline {
  readonly deadline_id: string;
  /** A fact, a card or the licence's end was on record: settled from the database afterwards. */
  readonly known: boolean;
}

/**
 * openDeadlines in halves, for a caller that runs the insert inside a
 * statement of its own (a data-modifying WITH: a linkage chunk's pushes and
 * their deadlines in one round trip). `sql` is the insert, its parameters
 * numbered from `firstParam`, returning OpenedDeadline rows; settleKnown
 * then settles what the insert did not (its rows as returned).
 */
export async function prepareDeadlines(
  ctx: LinkageContext,
  tx: SqlQueryable,
  specs: readonly DeadlineSpec[],
  firstParam: number,
): Promise<{
  readonly ids: string[];
  readonly sql: string;
  readonly params: unknown[];
  settleKnown(tx: SqlQueryable, inserted: readonly OpenedDeadline[]): Promise<void>;
}> {
  const ids = specs.map((spec) => deadlineIdOf(spec.kind, spec.subjectRef));
  // One row per id: the first spec's, as the insert keeps it.
  const firsts = new Map<string, DeadlineSpec>();
  specs.forEach((spec, i) => (firsts.has(ids[i]!) ? undefined : firsts.set(ids[i]!, spec)));
  const fresh: Array<{ readonly spec: DeadlineSpec; readonly settled: Settled }> = [];
  for (const [id, spec] of firsts) {
    fresh.push({ spec, settled: await derive(ctx, tx, freshRow(id, spec)) });
  }
  // Each column's array with its SQL type, in the insert's column order.
  const column = <T>(type: string, f: (row: { spec: DeadlineSpec; settled: Settled }) => T) => [type, fresh.map(f)] as const;
  const columns = [
    column("text", (r) => r.settled.deadlineId),
    column("text", (r) => r.spec.kind),
    column("text", (r) => r.spec.subjectRef),
    column("text", (r) => r.spec.caseId),
    column("text", (r) => r.spec.licenceId),
    column("text", (r) => r.spec.subject),
    column("text", (r) => r.spec.responsibleDepartment),
    column("text", (r) => r.spec.start),
    column("int", (r) => r.settled.limit.amount),
    column("text", (r) => r.settled.limit.unit),
    column("text", (r) => r.settled.fixedDue),
    // ISO strings, not Dates: every driver (pg, PGlite) passes text arrays as they are.
    column("timestamptz", (r) => r.spec.openedAt.toISOString()),
    column("text", (r) => r.settled.due),
    column("text", (r) => r.settled.yellow),
    column("text", (r) => r.settled.red),
    column("text", (r) => r.settled.cardsError),
    column("text", (r) => r.settled.status),
    column("timestamptz", (r) => instant(r.settled.metAt)),
    column("text", (r) => r.settled.metBy),
    column("timestamptz", (r) => instant(r.settled.warnedAt)),
    column("timestamptz", (r) => instant(r.settled.breachedAt)),
  ];
  const arrays = columns.map(([type], i) => `$${firstParam + i}::${type}[]`).join(", ");
  const sql = `insert into linkage_deadlines as d (deadline_id, kind, subject_ref, case_id, licence_id, subject, responsible_department, start_date,
       limit_amount, limit_unit, fixed_due, opened_at, due_date, yellow_from, red_from, cards_error, status, met_at, met_by, warned_at, breached_at)
     select * from unnest(${arrays})
     on conflict (deadline_id) do nothing
     returning d.deadline_id, ${KNOWN_FACTS} or ${LICENCE_CLOSED} as known`;
  const params = columns.map(([, values]) => values);
  return {
    ids,
    sql,
    params,
    async settleKnown(tx, inserted) {
      const settledHere = new Set(inserted.filter((r) => !r.known).map((r) => r.deadline_id));
      await settleDeadlines(
        ctx,
        tx,
        [...firsts.keys()].filter((id) => !settledHere.has(id)),
      );
    },
  };
}

/** A deadline row as openDeadlines inserts it before settling: nothing known of it but its spec. */
function freshRow(deadlineId: string, spec: DeadlineSpec): SettleRow {
  return {
    deadline_id: deadlineId,
    kind: spec.kind,
    subject_ref: spec.subjectRef,
    case_id: spec.caseId,
    licence_id: spec.licenceId,
    subject: spec.subject,
    responsible_department: spec.responsibleDepartment,
    start_date: spec.start,
    limit_amount: spec.limit.amount,
    limit_unit: spec.limit.unit,
    fixed_due: spec.fixedDue ?? null,
    due_date: null,
    yellow_from: null,
    red_from: null,
    cards_error: null,
    status: "open",
    opened_at: spec.openedAt,
    met_at: null,
    met_by: null,
    warned_at: null,
    breached_at: null,
    moved_due: null,
    met_fact_at: null,
    met_fact_by: null,
    warned_card: null,
    breached_card: null,
    closed: false,
  };
}

/** Something that happened to a deadline: met (the step was done) or moved (a new due date). Kept even before the deadline is opened. */
export async function deadlineFact(ctx: LinkageContext, tx: SqlQueryable, fact: DeadlineFact): Promise<void> {
  await deadlineFacts(ctx, tx, [fact]);
}

export interface DeadlineFact {
  readonly eventId: string;
  readonly deadlineId: string;
  readonly fact: "met" | "moved";
  readonly at: Date;
  readonly due?: string;
  readonly by: string;
}

/** deadlineFact for several facts: one insert, one settle of the deadlines they touch. */
export async function deadlineFacts(ctx: LinkageContext, tx: SqlQueryable, facts: readonly DeadlineFact[]): Promise<void> {
  if (facts.length === 0) return;
  await tx.query(
    `insert into linkage_deadline_facts (event_id, deadline_id, fact, at, due, by)
     select * from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[])
     on conflict do nothing`,
    [
      facts.map((f) => f.eventId),
      facts.map((f) => f.deadlineId),
      facts.map((f) => f.fact),
      // ISO strings, not Dates: every driver (pg, PGlite) passes text arrays as they are.
      facts.map((f) => f.at.toISOString()),
      facts.map((f) => f.due ?? null),
      facts.map((f) => f.by),
    ],
  );
  await settleDeadlines(ctx, tx, [...new Set(facts.map((f) => f.deadlineId))]);
}

/** A card in the deadline's stream: the timer's own append, or its echo from Kafka (same event id, so once). */
export async function recordCard(
  ctx: LinkageContext,
  tx: SqlQueryable,
  card: { eventId: string; deadlineId: string; card: "WARNED" | "BREACHED"; at: Date },
): Promise<void> {
  await tx.query(`insert into linkage_deadline_cards (event_id, deadline_id, card, at) values ($1, $2, $3, $4) on conflict do nothing`, [
    card.eventId,
    card.deadlineId,
    card.card,
    card.at,
  ]);
  await settleDeadline(ctx, tx, card.deadlineId);
}

interface DeadlineRow {
  deadline_id: string;
  kind: DeadlineKind;
  subject_ref: string;
  case_id: string;
  licence_id: string | null;
  subject: string;
  responsible_department: string;
  start_date: string;
  limit_amount: number;
  limit_unit: Limit["unit"];
  fixed_due: string | null;
  due_date: string | null;
  yellow_from: string | null;
  red_from: string | null;
  cards_error: string | null;
  status: DeadlineStatus;
  opened_at: Date;
  met_at: Date | null;
  met_by: string | null;
  warned_at: Date | null;
  breached_at: Date | null;
}

/**
 * Re-derives a deadline from its facts: the latest move sets the due date
 * (and the limit becomes the calendar days to it), card dates are computed
 * from the loaded calendar, and the status is met > cancelled (the licence
 * ended) > breached > warned > open. Idempotent, and the same whatever order
 * the facts came in.
 */
export async function settleDeadline(ctx: LinkageContext, tx: SqlQueryable, deadlineId: string): Promise<void> {
  await settleDeadlines(ctx, tx, [deadlineId]);
}

type SettleRow = DeadlineRow & {
  moved_due: string | null;
  met_fact_at: Date | null;
  met_fact_by: string | null;
  warned_card: Date | null;
  breached_card: Date | null;
  closed: boolean;
};

/** What settling writes to a deadline row. */
interface Settled {
  readonly deadlineId: string;
  readonly limit: Limit;
  readonly fixedDue: string | null;
  readonly due: string | null;
  readonly yellow: string | null;
  readonly red: string | null;
  readonly cardsError: string | null;
  readonly status: DeadlineStatus;
  readonly metAt: Date | null;
  readonly metBy: string | null;
  readonly warnedAt: Date | null;
  readonly breachedAt: Date | null;
}

/** settleDeadline for several deadlines: one read (rows locked in id order), one write of those that changed. */
export async function settleDeadlines(ctx: LinkageContext, tx: SqlQueryable, deadlineIds: readonly string[]): Promise<void> {
  if (deadlineIds.length === 0) return;
  // One read: the rows (locked), each one's latest move, its first met fact (in the order of the facts), its first cards, and whether its licence ended.
  const { rows } = await tx.query<SettleRow>(
    `select d.*,
       (select due from linkage_deadline_facts f where f.deadline_id = d.deadline_id and f.fact = 'moved' order by f.at desc, f.event_id desc limit 1) as moved_due,
       m.at as met_fact_at, m.by as met_fact_by,
       (select min(at) from linkage_deadline_cards c where c.deadline_id = d.deadline_id and c.card = 'WARNED') as warned_card,
       (select min(at) from linkage_deadline_cards c where c.deadline_id = d.deadline_id and c.card = 'BREACHED') as breached_card,
       ${LICENCE_CLOSED} as closed
     from linkage_deadlines d
     left join lateral (select at, by from linkage_deadline_facts f where f.deadline_id = d.deadline_id and f.fact = 'met' order by f.at, f.event_id limit 1) m on true
     where d.deadline_id = any($1::text[])
     order by d.deadline_id
     for update of d`,
    [deadlineIds],
  );
  const changed: Settled[] = [];
  for (const row of rows) {
    const settled = await settle(ctx, tx, row);
    if (settled) changed.push(settled);
  }
  if (changed.length === 0) return;
  const column = <T>(f: (s: Settled) => T) => changed.map(f);
  await tx.query(
    `update linkage_deadlines d set limit_amount = s.limit_amount, limit_unit = s.limit_unit, fixed_due = s.fixed_due, due_date = s.due_date,
       yellow_from = s.yellow_from, red_from = s.red_from, cards_error = s.cards_error, status = s.status, met_at = s.met_at, met_by = s.met_by,
       warned_at = s.warned_at, breached_at = s.breached_at
     from unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
       $10::timestamptz[], $11::text[], $12::timestamptz[], $13::timestamptz[])
       as s(deadline_id, limit_amount, limit_unit, fixed_due, due_date, yellow_from, red_from, cards_error, status, met_at, met_by, warned_at, breached_at)
     where d.deadline_id = s.deadline_id`,
    [
      column((s) => s.deadlineId),
      column((s) => s.limit.amount),
      column((s) => s.limit.unit),
      column((s) => s.fixedDue),
      column((s) => s.due),
      column((s) => s.yellow),
      column((s) => s.red),
      column((s) => s.cardsError),
      column((s) => s.status),
      column((s) => instant(s.metAt)),
      column((s) => s.metBy),
      column((s) => instant(s.warnedAt)),
      column((s) => instant(s.breachedAt)),
    ],
  );
}

/** Timestamps as ISO text for unnest: every driver (pg, PGlite) passes text arrays as they are. */
const instant = (d: Date | null) => (d === null ? null : new Date(d).toISOString());

/** One deadline re-derived from its facts; undefined when the row says so already (nothing to write). */
async function settle(ctx: LinkageContext, tx: SqlQueryable, row: SettleRow): Promise<Settled | undefined> {
  const settled = await derive(ctx, tx, row);
  const same = (a: Date | string | null, b: Date | string | null) =>
    a === null || b === null ? a === b : new Date(a).getTime() === new Date(b).getTime();
  const unchanged =
    settled.fixedDue === row.fixed_due &&
    settled.limit.amount === Number(row.limit_amount) &&
    settled.limit.unit === row.limit_unit &&
    settled.due === row.due_date &&
    settled.yellow === row.yellow_from &&
    settled.red === row.red_from &&
    settled.cardsError === row.cards_error &&
    settled.status === row.status &&
    same(settled.metAt, row.met_at) &&
    settled.metBy === row.met_by &&
    same(settled.warnedAt, row.warned_at) &&
    same(settled.breachedAt, row.breached_at);
  return unchanged ? undefined : settled; // settled already: nothing to write
}

/** What a deadline row should say, given its facts, cards and licence (the calendar fixes its dates). */
async function derive(ctx: LinkageContext, tx: SqlQueryable, row: SettleRow): Promise<Settled> {
  const deadlineId = row.deadline_id;
  const moved = { due: row.moved_due };
  const met = row.met_fact_at === null ? undefined : { at: row.met_fact_at, by: row.met_fact_by };
  const warned = row.warned_card;
  const breached = row.breached_card;
  const closed = row.closed;

  let limit: Limit = { amount: Number(row.limit_amount), unit: row.limit_unit };
  let fixedDue = row.fixed_due;
  if (moved?.due && moved.due !== fixedDue) {
    fixedDue = moved.due;
    limit = calendarDaysUntil(row.start_date, moved.due);
  }
  let { due_date: due, yellow_from: yellow, red_from: red, cards_error: cardsError } = row;
  const changed = fixedDue !== row.fixed_due || limit.amount !== Number(row.limit_amount) || limit.unit !== row.limit_unit;
  if (changed || due === null) {
    try {
      const dates = await ctx.calendars.compute(tx, (calendar) =>
        deadlineCards(calendar, { start: row.start_date, limit, fixedDue }, ctx.yellowShare),
      );
      [due, yellow, red, cardsError] = [dates.due, dates.yellowFrom, dates.redFrom, null];
    } catch (err) {
      if (!isCalendarMissing(err)) throw err;
      // Never a guess: no dates, no cards, until the year is loaded (the timer retries).
      [due, yellow, red, cardsError] = [fixedDue, null, null, (err as Error).message];
      ctx.logger.error({ deadlineId, err: (err as Error).message }, "deadline: card dates need a calendar year that is not loaded");
    }
  }
  const status: DeadlineStatus = met ? "met" : closed ? "cancelled" : breached ? "breached" : warned ? "warned" : "open";
  return {
    deadlineId,
    limit,
    fixedDue,
    due,
    yellow,
    red,
    cardsError,
    status,
    metAt: met?.at ?? null,
    metBy: met?.by ?? null,
    warnedAt: warned,
    breachedAt: breached,
  };
}

/** All deadlines of a licence (after it was revoked or cancelled, say). */
export async function settleDeadlinesOfLicence(ctx: LinkageContext, tx: SqlQueryable, licenceId: string): Promise<void> {
  const { rows } = await tx.query<{ deadline_id: string }>(
    `select deadline_id from linkage_deadlines where licence_id = $1 order by deadline_id`,
    [licenceId],
  );
  await settleDeadlines(
    ctx,
    tx,
    rows.map((r) => r.deadline_id),
  );
}

export interface TickOutcome {
  /** The day whose cards were looked for: the local date of now minus the grace (cardGraceMs). */
  readonly today: string;
  readonly warned: string[];
  readonly breached: string[];
  /** Deadlines whose card was already in their stream (another timer, or a replay not caught up yet). */
  readonly skipped: string[];
  /** Deadlines left open because a calendar year is not loaded (logged). */
  readonly calendarMissing: string[];
}

/**
 * The durable timer: every open deadline whose yellow date has come gets a
 * DeadlineWarned, every one whose red date has come a DeadlineBreached (a
 * deadline found already red gets only the red card). Each deadline is one
 * transaction: the card is appended to `deadline-<id>` with the expected
 * revision its recorded cards imply, and recorded, together, so a crash
 * mid-tick neither loses nor doubles a card and two ticks give one card.
 */
export async function tickDeadlines(ctx: LinkageContext & { readonly sql: SqlExecutor }, now: Date): Promise<TickOutcome> {
  // The day whose cards are due: today once the grace after midnight has passed (see cardGraceMs).
  const today = localDateOf(new Date(now.getTime() - ctx.cardGraceMs));
  const outcome: TickOutcome = { today, warned: [], breached: [], skipped: [], calendarMissing: [] };

  // Deadlines whose dates could not be computed: try again, the year may be loaded now.
  const pending = await ctx.sql.query<{ deadline_id: string }>(
    `select deadline_id from linkage_deadlines where (due_date is null or yellow_from is null) and status in ('open', 'warned') order by deadline_id`,
  );
  for (const { deadline_id: id } of pending.rows) {
    const ok = await ctx.sql.transaction(async (tx) => {
      await settleDeadline(ctx, tx, id);
      const { rows } = await tx.query(`select 1 from linkage_deadlines where deadline_id = $1 and yellow_from is not null`, [id]);
      return rows.length > 0;
    });
    if (!ok) outcome.calendarMissing.push(id);
  }

  const due = await ctx.sql.query<{ deadline_id: string }>(
    `select deadline_id from linkage_deadlines
     where (status = 'open' and yellow_from <= $1) or (status in ('open', 'warned') and red_from <= $1)
     order by red_from, deadline_id`,
    [today],
  );
  for (const { deadline_id: id } of due.rows) {
    try {
      const result = await ctx.sql.transaction((tx) => issueCard(ctx, tx, id, today, now));
      if (result) outcome[result].push(id);
    } catch (err) {
      ctx.logger.error({ deadlineId: id, err }, "deadline timer: card failed; retried on the next tick");
    }
  }
  if (outcome.warned.length + outcome.breached.length > 0 || outcome.calendarMissing.length > 0) {
    ctx.logger.info({ ...outcome }, "deadline timer: tick");
  }
  return outcome;
}

async function issueCard(
  ctx: LinkageContext,
  tx: SqlQueryable,
  id: string,
  today: string,
  now: Date,
): Promise<"warned" | "breached" | "skipped" | undefined> {
  const { rows } = await tx.query<DeadlineRow>(`select * from linkage_deadlines where deadline_id = $1 for update`, [id]);
  const row = rows[0];
  if (!row || row.yellow_from === null || row.red_from === null || row.due_date === null) return undefined;
  const card =
    (row.status === "open" || row.status === "warned") && row.red_from <= today
      ? ("BREACHED" as const)
      : row.status === "open" && row.yellow_from <= today
        ? ("WARNED" as const)
        : undefined;
  if (!card) return undefined; // another tick got here first

  const { rows: counted } = await tx.query<{ n: number }>(`select count(*)::int as n from linkage_deadline_cards where deadline_id = $1`, [
    id,
  ]);
  const recorded = Number(counted[0]?.n ?? 0);
  const common = {
    deadlineId: id,
    kind: row.kind,
    subjectRef: row.subject_ref,
    caseId: row.case_id,
    responsibleDepartment: row.responsible_department,
    startDate: row.start_date,
    dueDate: row.due_date,
    limit: { amount: Number(row.limit_amount), unit: row.limit_unit },
  };
  const eventId = uuidv7();
  const event =
    card === "WARNED"
      ? ({ id: eventId, type: "DeadlineWarned", data: { ...common, warnedAt: now.getTime() } } as const)
      : ({ id: eventId, type: "DeadlineBreached", data: { ...common, breachedAt: now.getTime() } } as const);
  const emitted = await ctx.emit(tx, deadlineStream(id), [event], recorded === 0 ? "no_stream" : BigInt(recorded - 1), {
    correlationId: `deadline-timer-${today}`,
    causationId: null,
    department: ctx.department,
    caseId: row.case_id,
    subject: row.subject,
  });
  if (!emitted.appended) {
    // The stream holds cards this read model has not seen yet: they arrive through Kafka.
    ctx.logger.warn(
      { deadlineId: id, err: emitted.conflict.message },
      "deadline timer: the card stream is ahead of the read model; waiting for its events",
    );
    return "skipped";
  }
  await recordCard(ctx, tx, { eventId, deadlineId: id, card, at: now });
  return card === "WARNED" ? "warned" : "breached";
}

export interface DeadlineView {
  readonly deadlineId: string;
  readonly kind: DeadlineKind;
  readonly subjectRef: string;
  readonly caseId: string;
  readonly licenceId: string | null;
  readonly responsibleDepartment: string;
  readonly startDate: string;
  readonly limit: Limit;
  readonly dueDate: string | null;
  readonly yellowFrom: string | null;
  readonly redFrom: string | null;
  readonly calendarError: string | null;
  readonly status: DeadlineStatus;
  readonly openedAt: string;
  readonly metAt: string | null;
  readonly metBy: string | null;
  readonly warnedAt: string | null;
  readonly breachedAt: string | null;
}

const iso = (d: Date | null) => (d === null ? null : new Date(d).toISOString());

export function toDeadlineView(r: DeadlineRow): DeadlineView {
  return {
    deadlineId: r.deadline_id,
    kind: r.kind,
    subjectRef: r.subject_ref,
    caseId: r.case_id,
    licenceId: r.licence_id,
    responsibleDepartment: r.responsible_department,
    startDate: r.start_date,
    limit: { amount: Number(r.limit_amount), unit: r.limit_unit },
    dueDate: r.due_date,
    yellowFrom: r.yellow_from,
    redFrom: r.red_from,
    calendarError: r.cards_error,
    status: r.status,
    openedAt: iso(r.opened_at)!,
    metAt: iso(r.met_at),
    metBy: r.met_by,
    warnedAt: iso(r.warned_at),
    breachedAt: iso(r.breached_at),
  };
}

export async function listDeadlines(
  db: SqlQueryable,
  filter: {
    status?: string | undefined;
    kind?: string | undefined;
    department?: string | undefined;
    subjectRef?: string | undefined;
    licenceId?: string | undefined;
    limit: number;
    offset: number;
  },
): Promise<DeadlineView[]> {
  const { rows } = await db.query<DeadlineRow>(
    `select * from linkage_deadlines
     where ($1::text is null or status = $1) and ($2::text is null or kind = $2) and ($3::text is null or responsible_department = $3)
       and ($4::text is null or subject_ref = $4) and ($5::text is null or licence_id = $5)
     order by due_date nulls first, deadline_id limit $6 offset $7`,
    [
      filter.status ?? null,
      filter.kind ?? null,
      filter.department ?? null,
      filter.subjectRef ?? null,
      filter.licenceId ?? null,
      filter.limit,
      filter.offset,
    ],
  );
  return rows.map(toDeadlineView);
}
