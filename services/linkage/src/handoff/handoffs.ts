import { createHash } from "node:crypto";
import type { HandoffClaimed, HandoffPushed, HandoffUnrouted, LicenceGranted, Limit } from "@shenguan/contracts";
import { localDateOf } from "@shenguan/deadlines";
import {
  headColumnsSql,
  knownHeadOf,
  type AlongsideAppend,
  type ChunkBookkeeping,
  type EventMetadata,
  type ExpectedRevision,
  type KnownHeads,
  type WithQueries,
} from "@shenguan/eventstore";
import { v7 as uuidv7 } from "uuid";
import { isCalendarMissing } from "../calendar/calendars.js";
import {
  FORGET_EMITTED_SQL,
  RECORD_EMITTED_SQL,
  recordEmitted,
  type ContractEvent,
  type EmitAppend,
  type LinkageContext,
} from "../context.js";
import {
  deadlineFacts,
  deadlineIdOf,
  openDeadlines,
  prepareDeadlines,
  type OpenedDeadline,
  settleDeadlines,
  settleDeadlinesOfLicence,
  type DeadlineSpec,
} from "../deadline/deadlines.js";
import { calendarDaysUntil, dueOf, monthsBetween } from "../deadline/limits.js";
import type { SqlQueryable } from "@shenguan/eventstore";
import { lookupRoute, routeKeyOf, ROUTES_VERSION_SQL, type Route } from "../routing/routes.js";

export type HandoffStatus = "granted" | "unrouted" | "held" | "pushed" | "claimed" | "supervising" | "fed_back" | "closed";

/** Deterministic from the licence, so a redelivered grant cannot make a second handoff. */
export const handoffIdOf = (licenceId: string) => `H-${licenceId}`;
export const handoffStream = (handoffId: string) => `handoff-${handoffId}`;
/** handoffStream of a row's handoff_id, in SQL: the two must agree. */
const HANDOFF_STREAM_OF_ROW = `'handoff-' || handoff_id`;

/** Natural persons are matched by a hash of their ID number: the read model keeps no ID numbers. */
export function idNumberHash(idNumber: string): string {
  return createHash("sha256").update(idNumber.trim().toUpperCase()).digest("hex");
}

/** Who caused a push: the grant event (from Kafka) or an operator's request (a route change). */
export interface Trigger {
  readonly correlationId: string;
  readonly causationId: string | null;
  readonly now: Date;
}

/** The grants' facts a handoff row holds: its grant's, the supervision facts of feedback that came first (refreshFromFeedback), none of a push. */
const GRANT_COLUMNS = `handoff_id, licence_id, case_id, holder_name, holder_uscc, holder_id_hash, item_code, item_name, region_code,
       approval_authority, decision_date, under_commitment, subject, first_feedback_at, first_result_at, verified_at`;
/**
 * first_feedback_at, first_result_at and verified_at of the licence `licence`
 * (an SQL expression) from the feedback on record (refreshFromFeedback's
 * facts), each null where `onlyIf` (an SQL condition) does not hold.
 */
const feedbackFactsOf = (licence: string, onlyIf?: string) => {
  const of = `from linkage_feedback f where f.licence_id = ${licence}${onlyIf ? ` and ${onlyIf}` : ""}`;
  return `(select min(at) ${of}), (select min(at) filter (where result) ${of}),
       (select min(at) filter (where event_type = 'CommitmentVerified') ${of})`;
};
/** GRANT_COLUMNS' values for the rows of `g` (GRANTS_SQL's names, or any with its columns). */
const grantValuesOf = (
  g: string,
) => `${g}.handoff_id, ${g}.licence_id, ${g}.case_id, ${g}.holder_name, ${g}.holder_uscc, ${g}.holder_id_hash,
       ${g}.item_code, ${g}.item_name, ${g}.region_code, ${g}.approval_authority, ${g}.decision_date, ${g}.under_commitment, ${g}.subject,
       ${feedbackFactsOf(`${g}.licence_id`)}`;
/** The grants as parameters $1 to $13 (grantParams). */
const GRANTS_SQL = `unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
       $11::text[], $12::boolean[], $13::text[])
       as g(handoff_id, licence_id, case_id, holder_name, holder_uscc, holder_id_hash, item_code, item_name, region_code, approval_authority,
         decision_date, under_commitment, subject)`;
const UPSERT_GRANTS_CONFLICT = `on conflict (handoff_id) do update set licence_id = excluded.licence_id, case_id = excluded.case_id, holder_name = excluded.holder_name,
       holder_uscc = excluded.holder_uscc, holder_id_hash = excluded.holder_id_hash, item_code = excluded.item_code, item_name = excluded.item_name,
       region_code = excluded.region_code, approval_authority = excluded.approval_authority, decision_date = excluded.decision_date,
       under_commitment = excluded.under_commitment, subject = excluded.subject, first_feedback_at = excluded.first_feedback_at,
       first_result_at = excluded.first_result_at, verified_at = excluded.verified_at`;

function grantParams(sorted: readonly LicenceGranted[]): unknown[] {
  const column = <T>(f: (g: LicenceGranted) => T) => sorted.map(f);
  return [
    column((g) => handoffIdOf(g.licenceId)),
    column((g) => g.licenceId),
    column((g) => g.caseId),
    column((g) => g.holder.name),
    column((g) => g.holder.uscc),
    column((g) => holderIdHashOf(g)),
    column((g) => g.itemCode),
    column((g) => g.itemName),
    column((g) => g.regionCode),
    column((g) => g.issuingAuthority),
    column((g) => g.decisionDate),
    column((g) => g.underCommitment),
    column((g) => g.holder.uscc ?? g.caseId),
  ];
}

const holderIdHashOf = (g: LicenceGranted) => (g.holder.idNumber ? idNumberHash(g.holder.idNumber) : null);

/**
 * The grants' facts on their handoff rows, for grants of distinct licences in
 * one statement: what a push needs later, whenever a route appears. With
 * each, the supervision facts of feedback that came first
 * (refreshFromFeedback), and each row as routeHandoff needs it (a row
 * written here is locked, in handoff id order). By handoff id; with
 * them the routes' version the statement saw (RouteCache) and, where the
 * store keeps its events in this database, the handoff streams' heads for
 * emitEach (a statement fewer before the append).
 *
 * `unwrittenIfNew`: rows that do not exist yet are not written (nor
 * locked), only returned as they would be, and listed in `unwritten`: their caller writes
 * each with its push, one row version instead of two (the second, a push's
 * update, moved indexed columns: five index entries again).
 */
export async function recordGrants(
  ctx: LinkageContext,
  tx: SqlQueryable,
  grants: readonly LicenceGranted[],
  options: { readonly unwrittenIfNew?: boolean } = {},
): Promise<{
  readonly rows: Map<string, PendingRow>;
  readonly routesVersion: string | undefined;
  readonly heads: KnownHeads | undefined;
  readonly unwritten: ReadonlySet<string>;
}> {
  if (grants.length === 0) return { rows: new Map(), routesVersion: undefined, heads: undefined, unwritten: new Set() };
  const sorted = [...grants].sort((a, b) => (a.licenceId < b.licenceId ? -1 : a.licenceId > b.licenceId ? 1 : 0));
  // The head columns are there only where ctx.headsInTransaction, and read only then.
  const extra = `${ROUTES_VERSION_SQL} as routes_version${ctx.headsInTransaction ? `, ${headColumnsSql(HANDOFF_STREAM_OF_ROW)}` : ""}`;
  const { rows } = await tx.query<
    PendingRow & { routes_version: string; head_revision: string | null; head_hash: string | null; row_written: boolean }
  >(
    options.unwrittenIfNew
      ? // A row that does not exist is not locked: a writer that creates it meanwhile meets the push's upsert
        // (its update branch keeps what is there), and the push's append expects no stream. Each grant's row
        // is looked for by its key: written as `where exists (…)`, the young table's estimates made it a hash
        // join over a scan of every handoff, once a chunk (~15,000 rows a second in the loop bench, and growing).
        `with g as materialized (select * from ${GRANTS_SQL}),
         upserted as (
           insert into linkage_handoffs (${GRANT_COLUMNS})
           select ${grantValuesOf("g")} from g cross join lateral (select from linkage_handoffs h where h.handoff_id = g.handoff_id limit 1) found
           ${UPSERT_GRANTS_CONFLICT}
           returning ${PENDING_COLUMNS}
         )
         select r.*, ${extra} from (
           select ${PENDING_COLUMNS}, true as row_written from upserted
           union all
           select g.handoff_id, g.licence_id, g.case_id, g.holder_name, g.holder_uscc, g.item_code, g.region_code, g.approval_authority,
             g.decision_date, g.under_commitment, g.subject, null::timestamptz, null::timestamptz, null::text, null::timestamptz, false
           from g where not exists (select from upserted u where u.handoff_id = g.handoff_id)
         ) r`
      : `insert into linkage_handoffs (${GRANT_COLUMNS})
         select ${grantValuesOf("g")} from ${GRANTS_SQL}
         ${UPSERT_GRANTS_CONFLICT}
         returning ${PENDING_COLUMNS}, true as row_written, ${extra}`,
    grantParams(sorted),
  );
  const unwritten = new Set(rows.filter((r) => !r.row_written).map((r) => r.handoff_id));
  // Deadlines an echo opened before its grant: only on rows that exist (the echo's upsert made them).
  await restartVerifications(
    ctx,
    tx,
    sorted.filter((g) => g.underCommitment && !unwritten.has(handoffIdOf(g.licenceId))),
  );
  return {
    rows: new Map(rows.map(({ routes_version: _v, head_revision: _r, head_hash: _h, row_written: _w, ...r }) => [r.handoff_id, r])),
    routesVersion: rows[0]?.routes_version,
    heads: ctx.headsInTransaction ? new Map(rows.map((r) => [handoffStream(r.handoff_id), knownHeadOf(r)])) : undefined,
    unwritten,
  };
}

/**
 * Verification deadlines opened from a push's echo replayed before its grant
 * had to start at the push date; the grant's decision date is the real start
 * (and the limit whole months again). One read for all of `grants`; only
 * the deadlines that moved are written and settled.
 */
async function restartVerifications(ctx: LinkageContext, tx: SqlQueryable, grants: readonly LicenceGranted[]): Promise<void> {
  if (grants.length === 0) return;
  const decisionDates = new Map(grants.map((g) => [deadlineIdOf("COMMITMENT_VERIFICATION", g.licenceId), g.decisionDate]));
  const { rows } = await tx.query<{
    deadline_id: string;
    start_date: string;
    fixed_due: string | null;
    limit_amount: number;
    limit_unit: string;
  }>(
    `select deadline_id, start_date, fixed_due, limit_amount, limit_unit from linkage_deadlines where deadline_id = any($1::text[]) order by deadline_id`,
    [[...decisionDates.keys()]],
  );
  const moved: string[] = [];
  for (const row of rows) {
    const decisionDate = decisionDates.get(row.deadline_id)!;
    if (!row.fixed_due) continue;
    const months = monthsBetween(decisionDate, row.fixed_due);
    const limit: Limit = months ? { amount: months, unit: "MONTHS" } : calendarDaysUntil(decisionDate, row.fixed_due);
    if (row.start_date === decisionDate && Number(row.limit_amount) === limit.amount && row.limit_unit === limit.unit) continue;
    await tx.query(
      `update linkage_deadlines set start_date = $2, limit_amount = $3, limit_unit = $4, due_date = null where deadline_id = $1`,
      [row.deadline_id, decisionDate, limit.amount, limit.unit],
    );
    moved.push(row.deadline_id);
  }
  await settleDeadlines(ctx, tx, moved);
}

const PENDING_COLUMNS = `handoff_id, licence_id, case_id, holder_name, holder_uscc, item_code, region_code, approval_authority, decision_date,
       under_commitment, subject, pushed_at, unrouted_at, held_reason, closed_at`;

export interface PendingRow {
  handoff_id: string;
  licence_id: string;
  case_id: string;
  holder_name: string;
  holder_uscc: string | null;
  item_code: string;
  region_code: string;
  approval_authority: string;
  decision_date: string;
  under_commitment: boolean;
  subject: string;
  pushed_at: Date | null;
  unrouted_at: Date | null;
  held_reason: string | null;
  closed_at: Date | null;
}

export type PushResult = "pushed" | "unrouted" | "held" | "done-before" | "not-pending";

/** A handoff row that can still be pushed: granted, not pushed, not closed. */
function isPending(h: PendingRow | undefined): h is PendingRow & { licence_id: string; case_id: string } {
  return !!h && h.pushed_at === null && h.closed_at === null && h.licence_id !== null && h.case_id !== null;
}

/** A push worked out, ready to append (`append`) and then apply. */
interface PlannedPush {
  readonly handoffId: string;
  readonly append: EmitAppend;
  readonly pushed: HandoffPushed;
  readonly known: { readonly decisionDate: string; readonly subject: string; readonly verificationMonths: number };
  readonly claimed: { readonly event: HandoffClaimed; readonly id: string } | undefined;
}

function metadataOf(ctx: LinkageContext, h: PendingRow & { case_id: string }, trigger: Trigger): EventMetadata {
  return {
    correlationId: trigger.correlationId,
    causationId: trigger.causationId,
    department: ctx.department,
    caseId: h.case_id,
    subject: h.subject,
  };
}

/**
 * The push of a pending handoff along `route`: HandoffPushed (plus
 * HandoffClaimed when the route says 推送即认领) with their due dates, or
 * the reason it must wait when the calendar year is not loaded.
 */
async function planPush(
  ctx: LinkageContext,
  tx: SqlQueryable,
  h: PendingRow & { licence_id: string; case_id: string },
  route: Route,
  trigger: Trigger,
): Promise<PlannedPush | { readonly held: string }> {
  const handoffId = h.handoff_id;
  const pushedOn = localDateOf(trigger.now);
  let claimDue: string;
  let verificationDue: string | null;
  try {
    [claimDue, verificationDue] = await ctx.calendars.compute(tx, (calendar) => [
      dueOf(calendar, pushedOn, route.claimLimit),
      h.under_commitment ? dueOf(calendar, h.decision_date, { amount: route.verificationMonths, unit: "MONTHS" }) : null,
    ]);
  } catch (err) {
    if (!isCalendarMissing(err)) throw err;
    return { held: (err as Error).message };
  }
  const pushed: HandoffPushed = {
    handoffId,
    caseId: h.case_id,
    licenceId: h.licence_id,
    holderName: h.holder_name,
    holderUscc: h.holder_uscc,
    itemCode: h.item_code,
    regionCode: h.region_code,
    regulator: route.regulator,
    pushedAt: trigger.now.getTime(),
    claimLimit: route.claimLimit,
    claimDue,
    autoClaimed: route.pushIsClaim,
    underCommitment: h.under_commitment,
    verificationDue,
    approvalAuthority: h.approval_authority,
  };
  const events: ContractEvent[] = [{ id: uuidv7(), type: "HandoffPushed", data: pushed }];
  const claimed: HandoffClaimed | undefined = route.pushIsClaim
    ? {
        handoffId,
        licenceId: h.licence_id,
        regulator: route.regulator,
        claimedAt: pushed.pushedAt,
        claimDue,
        onTime: true,
        automatic: true,
      }
    : undefined;
  const claimedId = uuidv7();
  if (claimed) events.push({ id: claimedId, type: "HandoffClaimed", data: claimed });
  // The stream is [HandoffUnrouted?, HandoffPushed, HandoffClaimed?]: the row's facts give the expected revision.
  const expected: ExpectedRevision = h.unrouted_at === null ? "no_stream" : 0n;
  return {
    handoffId,
    append: { stream: handoffStream(handoffId), events, expected, metadata: metadataOf(ctx, h, trigger) },
    pushed,
    known: { decisionDate: h.decision_date, subject: h.subject, verificationMonths: route.verificationMonths },
    claimed: claimed ? { event: claimed, id: claimedId } : undefined,
  };
}

/**
 * A planned push whose append went through, on the read model: applyPushed clears held_reason too (a row that exists: its
 * upsert's update branch); a new grant's row (`grantColumnsOf`) is inserted with its push.
 */
async function applyPlannedPushes(
  ctx: LinkageContext,
  tx: SqlQueryable,
  pushes: readonly PlannedPush[],
  emitted: readonly string[] = [],
  grantColumnsOf: (handoffId: string) => PushToApply["grant"] = () => undefined,
): Promise<void> {
  await applyPushedMany(
    ctx,
    tx,
    pushes.map((p) => ({ pushed: p.pushed, known: p.known, grant: grantColumnsOf(p.handoffId) })),
    emitted,
  );
  await applyClaimedMany(
    ctx,
    tx,
    pushes.flatMap((p) => (p.claimed ? [{ claimed: p.claimed.event, eventId: p.claimed.id }] : [])),
  );
}

async function hold(ctx: LinkageContext, tx: SqlQueryable, h: PendingRow, reason: string): Promise<"held"> {
  // Never a guessed deadline: the push waits (listed with the unrouted) until the year is loaded.
  await tx.query(`update linkage_handoffs set held_reason = $2 where handoff_id = $1`, [h.handoff_id, reason]);
  if (h.held_reason !== reason) ctx.logger.error({ handoffId: h.handoff_id, reason }, "handoff: held until the calendar year is loaded");
  return "held";
}

/**
 * The process manager's step: route the handoff and push it (HandoffPushed,
 * plus HandoffClaimed when the route says 推送即认领), or report it unrouted
 * (HandoffUnrouted, once) and leave it waiting. Deadlines count from the push.
 * The handoff stream is [HandoffUnrouted?, HandoffPushed, HandoffClaimed?],
 * so the expected revision of each append follows from the row's facts, and
 * an append finding the stream ahead (a redelivery, a replay) is "done before".
 */
export async function routeHandoff(
  ctx: LinkageContext,
  tx: SqlQueryable,
  handoffId: string,
  trigger: Trigger,
  /** The row as just written and locked in `tx` (recordGrants' without unwrittenIfNew), saving the read. */
  locked?: PendingRow,
): Promise<PushResult> {
  const h =
    locked ??
    (await tx.query<PendingRow>(`select ${PENDING_COLUMNS} from linkage_handoffs where handoff_id = $1 for update`, [handoffId])).rows[0];
  if (!isPending(h)) return "not-pending";
  const route = await lookupRoute(tx, h.item_code, h.region_code);

  if (!route) {
    if (h.unrouted_at !== null) return "unrouted"; // reported already; it waits
    const unrouted: HandoffUnrouted = {
      handoffId,
      caseId: h.case_id,
      licenceId: h.licence_id,
      holderUscc: h.holder_uscc,
      itemCode: h.item_code,
      regionCode: h.region_code,
      reason: `no route in the 审管职责清单 for item ${h.item_code} in region ${h.region_code} or the regions above it`,
      detectedAt: trigger.now.getTime(),
    };
    const emitted = await ctx.emit(
      tx,
      handoffStream(handoffId),
      [{ type: "HandoffUnrouted", data: unrouted }],
      "no_stream",
      metadataOf(ctx, h, trigger),
    );
    if (!emitted.appended) return "done-before";
    await applyUnrouted(tx, unrouted);
    ctx.logger.warn({ handoffId, itemCode: h.item_code, regionCode: h.region_code }, "handoff: no route; waiting in the unrouted queue");
    return "unrouted";
  }

  const plan = await planPush(ctx, tx, h, route, trigger);
  if ("held" in plan) return hold(ctx, tx, h, plan.held);
  const emitted = await ctx.emit(tx, plan.append.stream, plan.append.events, plan.append.expected, plan.append.metadata);
  if (!emitted.appended) return "done-before";
  await applyPlannedPushes(ctx, tx, [plan]);
  return "pushed";
}

/**
 * recordGrants then routeHandoff for each of a consumer chunk's grants
 * (distinct licences), with the statements batched over them: one statement
 * for the rows (it writes only those that exist; a new grant's row is
 * written once, with its push), the routes (one statement for those not
 * cached at the routes' version), the pushes signed together (emitEach), one
 * upsert of the pushed facts and one of their deadlines, and the pushes' one
 * append last. A handoff without a route or waiting for a calendar year
 * takes routeHandoff's own path (unrouted, held), before the pushes, its
 * grant's row written first.
 */
export async function recordAndRouteGrants(
  ctx: LinkageContext,
  tx: SqlQueryable,
  grants: ReadonlyArray<{ readonly grant: LicenceGranted; readonly trigger: Trigger }>,
  /** What the chunk's last statement is to carry, when these grants are the chunk's last step (ChunkTail). */
  tail?: ChunkTail,
): Promise<{ readonly tailCarried: boolean }> {
  // Rows that are new are written with their push (pushesWith), once; those that take another path first.
  const { rows, routesVersion, heads, unwritten } = await recordGrants(
    ctx,
    tx,
    grants.map((g) => g.grant),
    { unwrittenIfNew: true },
  );
  const grantOf = new Map(grants.map(({ grant }) => [handoffIdOf(grant.licenceId), grant]));
  // The grant's insert for rows the first statement left unwritten that no push will write.
  const writeGrantRows = async (handoffIds: readonly string[]): Promise<ReadonlyMap<string, PendingRow>> => {
    const left = handoffIds.filter((id) => unwritten.has(id)).map((id) => grantOf.get(id)!);
    if (left.length === 0) return new Map();
    const { rows: written } = await recordGrants(ctx, tx, left);
    return written;
  };
  const pending = grants.flatMap(({ grant, trigger }) => {
    const h = rows.get(handoffIdOf(grant.licenceId));
    return isPending(h) ? [{ h, trigger }] : [];
  });
  // Most chunks find every route in the cache at the version their grants' statement read: no statement of their own.
  const routes = await ctx.routes.lookup(
    tx,
    pending.map(({ h }) => ({ itemCode: h.item_code, regionCode: h.region_code })),
    routesVersion,
  );
  const plans: PlannedPush[] = [];
  const alone: Array<{ readonly row: PendingRow; readonly trigger: Trigger }> = [];
  for (const { h, trigger } of pending) {
    const route = routes.get(routeKeyOf(h.item_code, h.region_code));
    const plan = route ? await planPush(ctx, tx, h, route, trigger) : undefined;
    if (plan === undefined || "held" in plan) alone.push({ row: h, trigger });
    else plans.push(plan);
  }
  const aloneRows = await writeGrantRows(alone.map(({ row }) => row.handoff_id));
  for (const { row, trigger } of alone) await routeHandoff(ctx, tx, row.handoff_id, trigger, aloneRows.get(row.handoff_id) ?? row);
  // Signed, and the pushes done before (a replay) found, first; the read model next; the append last,
  // as readers of the log wait for `tx` from its first append to its end. The pushes' read model rides
  // in the append's statement, with the chunk's tail when these grants end the chunk.
  const emits = await ctx.emitEach(
    tx,
    plans.map((p) => p.append),
    { callerRecordsEmitted: true, ...(heads ? { heads } : {}) },
  );
  const going = plans.filter((_, i) => emits.outcomes[i]!.appended);
  // Pushed before (a replay): no push to write the row with.
  await writeGrantRows(plans.filter((_, i) => !emits.outcomes[i]!.appended).map((p) => p.handoffId));
  const grantColumnsOf = (handoffId: string) => {
    const g = unwritten.has(handoffId) ? grantOf.get(handoffId) : undefined;
    return g && { holderIdHash: holderIdHashOf(g), itemName: g.itemName, decisionDate: g.decisionDate };
  };
  let carried: ReturnType<typeof withTail>;
  if (going.every((p) => p.claimed === undefined)) {
    const pushes = going.map((p) => ({ pushed: p.pushed, known: p.known, grant: grantColumnsOf(p.handoffId) }));
    carried = withTail(await pushesWith(ctx, tx, pushes, emits.emittedIds), tail);
  } else {
    // 推送即认领: a claim meets the claim deadline its push opens, so the pushes go in first, then the
    // claims; the append carries the tail only.
    await applyPlannedPushes(ctx, tx, going, emits.emittedIds, grantColumnsOf);
    carried = withTail(undefined, tail);
  }
  const appended = await emits.append(carried?.alongside);
  await carried?.settle();
  const moved = plans.filter((_, i) => emits.outcomes[i]!.appended && !appended[i]!.appended);
  if (moved.length > 0) {
    // Another writer pushed them meanwhile: what was written for them above is wrong. The consumer rolls
    // the chunk back and applies its events one at a time, which then find those streams done before.
    throw new Error(`handoff streams moved while their pushes were prepared: ${moved.map((p) => p.handoffId).join(", ")}`);
  }
  return { tailCarried: carried !== undefined && tail !== undefined };
}

/**
 * What a chunk's last statement carries besides its own writes: the
 * consumer's bookkeeping (claimLate) and the linkage_emitted rows of the
 * echoes passed over since the last chunk (EchoMemory.takePassed).
 */
export interface ChunkTail {
  readonly bookkeeping?: ChunkBookkeeping;
  readonly forget: readonly string[];
}

/** The pushes' WITH queries (pushesWith), with the tail's after them, for the append's statement; opened(): the deadlines' rows once it ran. */
function withTail(
  pushes: (WithQueries & { readonly written: readonly string[]; settle(opened: readonly OpenedDeadline[]): Promise<void> }) | undefined,
  tail: ChunkTail | undefined,
): { readonly alongside: AlongsideAppend; settle(): Promise<void> } | undefined {
  // Each part's parameters follow the parts' before it.
  const parts: Array<WithQueries & { readonly written: readonly string[] }> = pushes ? [pushes] : [];
  const next = () => parts.reduce((n, part) => n + part.params.length, 1);
  if (tail && tail.forget.length > 0)
    parts.push({
      with: `forgotten as (${FORGET_EMITTED_SQL(`$${next()}`)} returning event_id)`,
      params: [tail.forget],
      written: ["forgotten"],
    });
  const book = tail?.bookkeeping?.queries(next());
  if (book) parts.push(book);
  if (parts.length === 0) return undefined;
  let opened: OpenedDeadline[] = [];
  const columns = [
    ...(pushes ? [`(select coalesce(json_agg(o), '[]'::json) from ${OPENED} o) as opened`] : []),
    ...(book ? [`(select count(*)::int from ${book.claimed}) as claimed`] : []),
  ];
  const returning = {
    query: `select ${columns.join(", ")}`,
    rows: ([row]: Record<string, unknown>[]) => {
      if (pushes) opened = row!.opened as OpenedDeadline[];
      if (book) tail!.bookkeeping!.ran(Number(row!.claimed));
    },
  };
  return {
    alongside: {
      with: parts.map((part) => part.with).join(", "),
      params: parts.flatMap((part) => part.params),
      written: parts.flatMap((part) => part.written),
      ...(columns.length > 0 ? { returning } : {}),
    },
    settle: async () => {
      if (pushes) await pushes.settle(opened);
    },
  };
}

/** Pushes what waits for a route or a calendar year (optionally only one item's), each as routeHandoff does. */
export async function routeWaiting(
  ctx: LinkageContext,
  tx: SqlQueryable,
  trigger: Trigger,
  filter: { itemCode?: string } = {},
): Promise<Record<PushResult, string[]>> {
  const { rows } = await tx.query<{ handoff_id: string }>(
    `select handoff_id from linkage_handoffs where status in ('unrouted', 'held') and ($1::text is null or item_code = $1) order by unrouted_at nulls last, handoff_id`,
    [filter.itemCode ?? null],
  );
  const out: Record<PushResult, string[]> = { pushed: [], unrouted: [], held: [], "done-before": [], "not-pending": [] };
  for (const r of rows) out[await routeHandoff(ctx, tx, r.handoff_id, trigger)].push(r.handoff_id);
  return out;
}

/** HandoffPushed on the read model (the process manager's own append, or its echo from Kafka): the facts and the deadlines it opens. */
export async function applyPushed(
  ctx: LinkageContext,
  tx: SqlQueryable,
  p: HandoffPushed,
  known: NonNullable<PushToApply["known"]> = {},
): Promise<void> {
  await applyPushedMany(ctx, tx, [{ pushed: p, known }]);
}

/** A push to apply to the read model, with what is known of its handoff row (a push planned from that row knows its decision date and subject). */
interface PushToApply {
  readonly pushed: HandoffPushed;
  readonly known?: { decisionDate?: string; subject?: string; verificationMonths?: number };
  /** The grant's facts a push does not carry, for a row written with its push (recordGrants' `unwrittenIfNew`). */
  readonly grant?: { readonly holderIdHash: string | null; readonly itemName: string; readonly decisionDate: string } | undefined;
}

/**
 * applyPushed for pushes of distinct handoffs: one upsert of their facts, one
 * of their deadlines. `emitted`: ids for linkage_emitted, recorded by the
 * same statement (the process manager's own pushes, prepared by emitEach).
 * When every push comes with what its deadlines need of the handoff row
 * (the process manager's own, planned from that row), the deadlines are
 * inserted by the same statement too: a round trip fewer in the chunk the
 * loop's latency waits on. Echoes take the row's values from the upsert.
 */
export async function applyPushedMany(
  ctx: LinkageContext,
  tx: SqlQueryable,
  pushes: readonly PushToApply[],
  emitted: readonly string[] = [],
): Promise<void> {
  const planned = await pushesWith(ctx, tx, pushes, emitted);
  if (planned === undefined) return;
  const { rows } = await tx.query<OpenedDeadline>(`with ${planned.with} select * from ${OPENED}`, planned.params);
  await planned.settle(rows);
}

/** The deadlines a planned push opened (pushesWith's WITH query): each id, and whether something on record settles it otherwise. */
const OPENED = "opened_deadlines";

/**
 * applyPushedMany's writes. The process manager's own pushes (every one
 * with what its deadlines need of the handoff row) come back unwritten, as
 * WITH queries over $1… for the statement of the chunk's append, the
 * deadlines opened as OPENED, with what to do with those rows after it;
 * anything else (echoes) is written here and comes back undefined.
 */
async function pushesWith(
  ctx: LinkageContext,
  tx: SqlQueryable,
  pushes: readonly PushToApply[],
  emitted: readonly string[],
): Promise<(WithQueries & { readonly written: readonly string[]; settle(opened: readonly OpenedDeadline[]): Promise<void> }) | undefined> {
  if (pushes.length === 0) {
    if (emitted.length > 0) await recordEmitted(tx, emitted);
    return undefined;
  }
  const sorted = [...pushes].sort((a, b) =>
    a.pushed.handoffId < b.pushed.handoffId ? -1 : a.pushed.handoffId > b.pushed.handoffId ? 1 : 0,
  );
  const column = <T>(f: (p: HandoffPushed) => T) => sorted.map(({ pushed }) => f(pushed));
  const params: unknown[] = [
    column((p) => p.handoffId),
    column((p) => p.licenceId),
    column((p) => p.caseId),
    column((p) => p.holderName),
    column((p) => p.holderUscc),
    column((p) => p.itemCode),
    column((p) => p.regionCode),
    column((p) => p.approvalAuthority),
    column((p) => p.underCommitment),
    column((p) => p.holderUscc ?? p.caseId),
    column((p) => p.regulator),
    // ISO strings, not Dates: every driver (pg, PGlite) passes text arrays as they are.
    column((p) => new Date(p.pushedAt).toISOString()),
    column((p) => localDateOf(new Date(p.pushedAt))),
    column((p) => p.claimLimit.amount),
    column((p) => p.claimLimit.unit),
    column((p) => p.claimDue),
    column((p) => p.autoClaimed),
    column((p) => p.verificationDue),
    sorted.map(({ grant }) => grant?.holderIdHash ?? null),
    sorted.map(({ grant }) => grant?.itemName ?? null),
    sorted.map(({ grant }) => grant?.decisionDate ?? null),
    emitted,
  ];
  const planned = sorted.every(({ known }) => known !== undefined && "decisionDate" in known && "subject" in known);
  if (planned) {
    const opening = await prepareDeadlines(
      ctx,
      tx,
      deadlineSpecsOf(sorted, () => undefined),
      params.length + 1,
    );
    return {
      with: `emitted as (${RECORD_EMITTED_SQL("$22")} returning event_id), handoffs as (${UPSERT_PUSHED} returning handoff_id), ${OPENED} as (${opening.sql})`,
      written: ["emitted", "handoffs", OPENED],
      params: [...params, ...opening.params],
      settle: (opened) => opening.settleKnown(tx, opened),
    };
  }
  const { rows } = await tx.query<{ handoff_id: string; decision_date: string | null; subject: string | null }>(
    `with emitted as (${RECORD_EMITTED_SQL("$22")}) ${UPSERT_PUSHED} returning handoff_id, decision_date, subject`,
    params,
  );
  const written = new Map(rows.map((r) => [r.handoff_id, r]));
  await openDeadlines(
    ctx,
    tx,
    deadlineSpecsOf(sorted, (handoffId) => written.get(handoffId)),
  );
  return undefined;
}

/** The deadlines pushes open (claim; commitment verification when under commitment), `row`: what the upsert said of the handoff, if anything. */
function deadlineSpecsOf(
  pushes: ReadonlyArray<{
    readonly pushed: HandoffPushed;
    readonly known?: { decisionDate?: string | null; subject?: string | null; verificationMonths?: number };
  }>,
  rowOf: (handoffId: string) => { readonly decision_date: string | null; readonly subject: string | null } | undefined,
): DeadlineSpec[] {
  const deadlines: DeadlineSpec[] = [];
  for (const { pushed: p, known = {} } of pushes) {
    const row = rowOf(p.handoffId);
    const pushedOn = localDateOf(new Date(p.pushedAt));
    const subject = known.subject ?? row?.subject ?? p.holderUscc ?? p.caseId;
    const openedAt = new Date(p.pushedAt);
    deadlines.push({
      kind: "CLAIM",
      subjectRef: p.handoffId,
      caseId: p.caseId,
      licenceId: p.licenceId,
      subject,
      responsibleDepartment: p.regulator,
      start: pushedOn,
      limit: p.claimLimit,
      fixedDue: p.claimDue,
      openedAt,
    });
    if (p.verificationDue) {
      // Counted from the decision. An echo replayed before its grant knows only
      // the due date: the limit is then the calendar days from the push to it.
      const decisionDate = known.decisionDate ?? row?.decision_date ?? null;
      const start = decisionDate ?? pushedOn;
      const months = known.verificationMonths ?? (decisionDate ? monthsBetween(decisionDate, p.verificationDue) : undefined);
      const limit: Limit = months ? { amount: months, unit: "MONTHS" } : calendarDaysUntil(start, p.verificationDue);
      deadlines.push({
        kind: "COMMITMENT_VERIFICATION",
        subjectRef: p.licenceId,
        caseId: p.caseId,
        licenceId: p.licenceId,
        subject,
        responsibleDepartment: p.regulator,
        start,
        limit,
        fixedDue: p.verificationDue,
        openedAt,
      });
    }
  }
  return deadlines;
}

// The pushes' facts on the read model: $1 to $21 (pushesWith's params); the handoff row exists (its grant) or not yet (an echo
// first, or a grant whose row is written with its push: $19 to $21 are then the grant's facts a push does not carry, and the
// supervision facts of feedback that came first are read as recordGrants reads them; an echo's row gets those from its grant).
const UPSERT_PUSHED = `insert into linkage_handoffs (handoff_id, licence_id, case_id, holder_name, holder_uscc, item_code, region_code, approval_authority, under_commitment,
       subject, regulator, pushed_at, pushed_on, claim_limit_amount, claim_limit_unit, claim_due, auto_claimed, verification_due,
       holder_id_hash, item_name, decision_date, first_feedback_at, first_result_at, verified_at)
     select u.*, ${feedbackFactsOf("u.licence_id", "u.decision_date is not null")}
     from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::boolean[],
       $10::text[], $11::text[], $12::timestamptz[], $13::text[], $14::int[], $15::text[], $16::text[], $17::boolean[], $18::text[],
       $19::text[], $20::text[], $21::text[])
       as u(handoff_id, licence_id, case_id, holder_name, holder_uscc, item_code, region_code, approval_authority, under_commitment,
         subject, regulator, pushed_at, pushed_on, claim_limit_amount, claim_limit_unit, claim_due, auto_claimed, verification_due,
         holder_id_hash, item_name, decision_date)
     on conflict (handoff_id) do update set regulator = excluded.regulator, pushed_at = excluded.pushed_at, pushed_on = excluded.pushed_on,
       claim_limit_amount = excluded.claim_limit_amount, claim_limit_unit = excluded.claim_limit_unit, claim_due = excluded.claim_due,
       auto_claimed = excluded.auto_claimed, verification_due = excluded.verification_due, held_reason = null,
       licence_id = coalesce(linkage_handoffs.licence_id, excluded.licence_id), case_id = coalesce(linkage_handoffs.case_id, excluded.case_id),
       holder_name = coalesce(linkage_handoffs.holder_name, excluded.holder_name), holder_uscc = coalesce(linkage_handoffs.holder_uscc, excluded.holder_uscc),
       item_code = coalesce(linkage_handoffs.item_code, excluded.item_code), region_code = coalesce(linkage_handoffs.region_code, excluded.region_code),
       approval_authority = coalesce(linkage_handoffs.approval_authority, excluded.approval_authority),
       under_commitment = coalesce(linkage_handoffs.under_commitment, excluded.under_commitment), subject = coalesce(linkage_handoffs.subject, excluded.subject),
       holder_id_hash = coalesce(linkage_handoffs.holder_id_hash, excluded.holder_id_hash), item_name = coalesce(linkage_handoffs.item_name, excluded.item_name),
       decision_date = coalesce(linkage_handoffs.decision_date, excluded.decision_date)`;

/** HandoffClaimed (automatic, or the regulator's from the supervision service): the claim facts, and the claim deadline met (`eventId`: the claim event's id, so its echo is the same fact). */
export async function applyClaimed(ctx: LinkageContext, tx: SqlQueryable, c: HandoffClaimed, eventId: string): Promise<void> {
  await applyClaimedMany(ctx, tx, [{ claimed: c, eventId }]);
}

/** applyClaimed for claims of distinct handoffs (a chunk's 推送即认领 pushes): one upsert of the claim facts, one of the deadline facts. */
export async function applyClaimedMany(
  ctx: LinkageContext,
  tx: SqlQueryable,
  claims: ReadonlyArray<{ readonly claimed: HandoffClaimed; readonly eventId: string }>,
): Promise<void> {
  if (claims.length === 0) return;
  const sorted = [...claims].sort((a, b) =>
    a.claimed.handoffId < b.claimed.handoffId ? -1 : a.claimed.handoffId > b.claimed.handoffId ? 1 : 0,
  );
  const column = <T>(f: (c: HandoffClaimed) => T) => sorted.map(({ claimed }) => f(claimed));
  await tx.query(
    `insert into linkage_handoffs (handoff_id, licence_id, regulator, claim_due, claimed_at, claimed_on_time, claim_automatic)
     select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::boolean[], $7::boolean[])
     on conflict (handoff_id) do update set
       claimed_on_time = case when linkage_handoffs.claimed_at is null or excluded.claimed_at < linkage_handoffs.claimed_at
                              then excluded.claimed_on_time else linkage_handoffs.claimed_on_time end,
       claim_automatic = case when linkage_handoffs.claimed_at is null or excluded.claimed_at < linkage_handoffs.claimed_at
                              then excluded.claim_automatic else linkage_handoffs.claim_automatic end,
       claimed_at = least(linkage_handoffs.claimed_at, excluded.claimed_at),
       licence_id = coalesce(linkage_handoffs.licence_id, excluded.licence_id),
       regulator = coalesce(linkage_handoffs.regulator, excluded.regulator),
       claim_due = coalesce(linkage_handoffs.claim_due, excluded.claim_due)`,
    [
      column((c) => c.handoffId),
      column((c) => c.licenceId),
      column((c) => c.regulator),
      column((c) => c.claimDue),
      // ISO strings, not Dates: every driver (pg, PGlite) passes text arrays as they are.
      column((c) => new Date(c.claimedAt).toISOString()),
      column((c) => c.onTime),
      column((c) => c.automatic),
    ],
  );
  await deadlineFacts(
    ctx,
    tx,
    sorted.map(({ claimed: c, eventId }) => ({
      eventId,
      deadlineId: deadlineIdOf("CLAIM", c.handoffId),
      fact: "met" as const,
      at: new Date(c.claimedAt),
      by: c.automatic ? "HandoffClaimed (推送即认领)" : "HandoffClaimed",
    })),
  );
}

export async function applyUnrouted(tx: SqlQueryable, u: HandoffUnrouted): Promise<void> {
  await tx.query(
    `insert into linkage_handoffs (handoff_id, licence_id, case_id, holder_uscc, item_code, region_code, subject, unrouted_at, unrouted_reason)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     on conflict (handoff_id) do update set unrouted_at = least(linkage_handoffs.unrouted_at, excluded.unrouted_at),
       unrouted_reason = coalesce(linkage_handoffs.unrouted_reason, excluded.unrouted_reason),
       licence_id = coalesce(linkage_handoffs.licence_id, excluded.licence_id), case_id = coalesce(linkage_handoffs.case_id, excluded.case_id),
       holder_uscc = coalesce(linkage_handoffs.holder_uscc, excluded.holder_uscc), item_code = coalesce(linkage_handoffs.item_code, excluded.item_code),
       region_code = coalesce(linkage_handoffs.region_code, excluded.region_code), subject = coalesce(linkage_handoffs.subject, excluded.subject)`,
    [
      u.handoffId,
      u.licenceId,
      u.caseId,
      u.holderUscc,
      u.itemCode,
      u.regionCode,
      u.holderUscc ?? u.caseId,
      new Date(u.detectedAt),
      u.reason,
    ],
  );
}

/** 撤销 / 注销: the handoff closes, a waiting push is abandoned, the licence's running deadlines become moot. */
export async function closeLicence(ctx: LinkageContext, tx: SqlQueryable, licenceId: string, at: Date, by: string): Promise<void> {
  await tx.query(
    `update linkage_handoffs set closed_at = coalesce(closed_at, $2), closed_by = coalesce(closed_by, $3) where licence_id = $1`,
    [licenceId, at, by],
  );
  await settleDeadlinesOfLicence(ctx, tx, licenceId);
}

/** The supervision facts of a handoff, from its licence's feedback rows (whenever either arrives first). */
export async function refreshFromFeedback(tx: SqlQueryable, licenceId: string): Promise<void> {
  await tx.query(
    `update linkage_handoffs h set first_feedback_at = f.first_feedback, first_result_at = f.first_result, verified_at = f.verified
     from (select min(at) as first_feedback,
                  min(at) filter (where result) as first_result,
                  min(at) filter (where event_type = 'CommitmentVerified') as verified
           from linkage_feedback where licence_id = $1) f
     where h.licence_id = $1`,
    [licenceId],
  );
}

export interface HandoffView {
  readonly handoffId: string;
  readonly status: HandoffStatus;
  readonly licenceId: string | null;
  readonly caseId: string | null;
  readonly holderName: string | null;
  readonly holderUscc: string | null;
  readonly itemCode: string | null;
  readonly itemName: string | null;
  readonly regionCode: string | null;
  readonly approvalAuthority: string | null;
  readonly decisionDate: string | null;
  readonly underCommitment: boolean | null;
  readonly regulator: string | null;
  readonly pushedAt: string | null;
  readonly claimLimit: Limit | null;
  readonly claimDue: string | null;
  readonly autoClaimed: boolean | null;
  readonly claimedAt: string | null;
  readonly onTime: boolean | null;
  readonly firstFeedbackAt: string | null;
  readonly firstResultAt: string | null;
  readonly verificationDue: string | null;
  readonly verifiedAt: string | null;
  readonly closedAt: string | null;
  readonly closedBy: string | null;
  /** Why it waits: no route (unrouted) or no calendar year (held). */
  readonly waitingReason: string | null;
  readonly unroutedAt: string | null;
}

interface HandoffRow {
  handoff_id: string;
  status: HandoffStatus;
  licence_id: string | null;
  case_id: string | null;
  holder_name: string | null;
  holder_uscc: string | null;
  item_code: string | null;
  item_name: string | null;
  region_code: string | null;
  approval_authority: string | null;
  decision_date: string | null;
  under_commitment: boolean | null;
  regulator: string | null;
  pushed_at: Date | null;
  claim_limit_amount: number | null;
  claim_limit_unit: Limit["unit"] | null;
  claim_due: string | null;
  auto_claimed: boolean | null;
  claimed_at: Date | null;
  claimed_on_time: boolean | null;
  first_feedback_at: Date | null;
  first_result_at: Date | null;
  verification_due: string | null;
  verified_at: Date | null;
  closed_at: Date | null;
  closed_by: string | null;
  held_reason: string | null;
  unrouted_reason: string | null;
  unrouted_at: Date | null;
}

const iso = (d: Date | null) => (d === null ? null : new Date(d).toISOString());

function toView(r: HandoffRow): HandoffView {
  return {
    handoffId: r.handoff_id,
    status: r.status,
    licenceId: r.licence_id,
    caseId: r.case_id,
    holderName: r.holder_name,
    holderUscc: r.holder_uscc,
    itemCode: r.item_code,
    itemName: r.item_name,
    regionCode: r.region_code,
    approvalAuthority: r.approval_authority,
    decisionDate: r.decision_date,
    underCommitment: r.under_commitment,
    regulator: r.regulator,
    pushedAt: iso(r.pushed_at),
    claimLimit:
      r.claim_limit_amount === null || r.claim_limit_unit === null
        ? null
        : { amount: Number(r.claim_limit_amount), unit: r.claim_limit_unit },
    claimDue: r.claim_due,
    autoClaimed: r.auto_claimed,
    claimedAt: iso(r.claimed_at),
    onTime: r.claimed_on_time,
    firstFeedbackAt: iso(r.first_feedback_at),
    firstResultAt: iso(r.first_result_at),
    verificationDue: r.verification_due,
    verifiedAt: iso(r.verified_at),
    closedAt: iso(r.closed_at),
    closedBy: r.closed_by,
    waitingReason: r.pushed_at === null ? (r.held_reason ?? r.unrouted_reason) : null,
    unroutedAt: iso(r.unrouted_at),
  };
}

export async function getHandoff(db: SqlQueryable, handoffId: string): Promise<HandoffView | undefined> {
  const { rows } = await db.query<HandoffRow>(`select * from linkage_handoffs where handoff_id = $1`, [handoffId]);
  return rows[0] && toView(rows[0]);
}

export async function listHandoffs(
  db: SqlQueryable,
  filter: {
    regulator?: string | undefined;
    status?: readonly string[] | undefined;
    itemCode?: string | undefined;
    regionCode?: string | undefined;
    licenceId?: string | undefined;
    limit: number;
    offset: number;
  },
): Promise<HandoffView[]> {
  const { rows } = await db.query<HandoffRow>(
    `select * from linkage_handoffs
     where ($1::text is null or regulator = $1) and ($2::text[] is null or status = any($2::text[])) and ($3::text is null or item_code = $3)
       and ($4::text is null or region_code = $4) and ($5::text is null or licence_id = $5)
     order by coalesce(pushed_at, unrouted_at) desc nulls last, handoff_id limit $6 offset $7`,
    [
      filter.regulator ?? null,
      filter.status ?? null,
      filter.itemCode ?? null,
      filter.regionCode ?? null,
      filter.licenceId ?? null,
      filter.limit,
      filter.offset,
    ],
  );
  return rows.map(toView);
}
