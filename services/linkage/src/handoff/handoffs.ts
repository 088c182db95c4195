import { createHash } from "node:crypto";
import type { HandoffClaimed, HandoffPushed, HandoffUnrouted, LicenceGranted, Limit } from "@shenguan/contracts";
import { localDateOf } from "@shenguan/deadlines";
import type { EventMetadata, ExpectedRevision } from "@shenguan/eventstore";
import { v7 as uuidv7 } from "uuid";
import { isCalendarMissing } from "../calendar/calendars.js";
import type { ContractEvent, LinkageContext } from "../context.js";
import { deadlineFact, deadlineIdOf, openDeadline, settleDeadline, settleDeadlinesOfLicence } from "../deadline/deadlines.js";
import { calendarDaysUntil, dueOf, monthsBetween } from "../deadline/limits.js";
import type { SqlQueryable } from "@shenguan/eventstore";
import { lookupRoute } from "../routing/routes.js";

export type HandoffStatus = "granted" | "unrouted" | "held" | "pushed" | "claimed" | "supervising" | "fed_back" | "closed";

/** Deterministic from the licence, so a redelivered grant cannot make a second handoff. */
export const handoffIdOf = (licenceId: string) => `H-${licenceId}`;
export const handoffStream = (handoffId: string) => `handoff-${handoffId}`;

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

/** The grant's facts on the handoff row (creating it); what a push needs later, whenever a route appears. */
export async function recordGrant(ctx: LinkageContext, tx: SqlQueryable, grant: LicenceGranted): Promise<{ handoffId: string; row: PendingRow }> {
  const handoffId = handoffIdOf(grant.licenceId);
  // One statement: the grant's facts, the supervision facts of feedback that came first (refreshFromFeedback),
  // and the row as routeHandoff needs it (the upsert holds its lock).
  const { rows } = await tx.query<PendingRow>(
    `insert into linkage_handoffs (handoff_id, licence_id, case_id, holder_name, holder_uscc, holder_id_hash, item_code, item_name, region_code,
       approval_authority, decision_date, under_commitment, subject, first_feedback_at, first_result_at, verified_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
       (select min(at) from linkage_feedback where licence_id = $2),
       (select min(at) filter (where result) from linkage_feedback where licence_id = $2),
       (select min(at) filter (where event_type = 'CommitmentVerified') from linkage_feedback where licence_id = $2))
     on conflict (handoff_id) do update set licence_id = excluded.licence_id, case_id = excluded.case_id, holder_name = excluded.holder_name,
       holder_uscc = excluded.holder_uscc, holder_id_hash = excluded.holder_id_hash, item_code = excluded.item_code, item_name = excluded.item_name,
       region_code = excluded.region_code, approval_authority = excluded.approval_authority, decision_date = excluded.decision_date,
       under_commitment = excluded.under_commitment, subject = excluded.subject, first_feedback_at = excluded.first_feedback_at,
       first_result_at = excluded.first_result_at, verified_at = excluded.verified_at
     returning ${PENDING_COLUMNS}`,
    [
      handoffId,
      grant.licenceId,
      grant.caseId,
      grant.holder.name,
      grant.holder.uscc,
      grant.holder.idNumber ? idNumberHash(grant.holder.idNumber) : null,
      grant.itemCode,
      grant.itemName,
      grant.regionCode,
      grant.issuingAuthority,
      grant.decisionDate,
      grant.underCommitment,
      grant.holder.uscc ?? grant.caseId,
    ],
  );
  if (grant.underCommitment) await restartVerification(ctx, tx, grant.licenceId, grant.decisionDate);
  return { handoffId, row: rows[0]! };
}

/**
 * A verification deadline opened from a push's echo replayed before its
 * grant had to start at the push date; the grant's decision date is the real
 * start (and the limit whole months again).
 */
async function restartVerification(ctx: LinkageContext, tx: SqlQueryable, licenceId: string, decisionDate: string): Promise<void> {
  const id = deadlineIdOf("COMMITMENT_VERIFICATION", licenceId);
  const { rows } = await tx.query<{ start_date: string; fixed_due: string | null; limit_amount: number; limit_unit: string }>(
    `select start_date, fixed_due, limit_amount, limit_unit from linkage_deadlines where deadline_id = $1`,
    [id],
  );
  const row = rows[0];
  if (!row?.fixed_due) return;
  const months = monthsBetween(decisionDate, row.fixed_due);
  const limit: Limit = months ? { amount: months, unit: "MONTHS" } : calendarDaysUntil(decisionDate, row.fixed_due);
  if (row.start_date === decisionDate && Number(row.limit_amount) === limit.amount && row.limit_unit === limit.unit) return;
  await tx.query(
    `update linkage_deadlines set start_date = $2, limit_amount = $3, limit_unit = $4, due_date = null where deadline_id = $1`,
    [id, decisionDate, limit.amount, limit.unit],
  );
  await settleDeadline(ctx, tx, id);
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
  /** The row as just written and locked in `tx` (recordGrant's), saving the read. */
  locked?: PendingRow,
): Promise<PushResult> {
  const h =
    locked ??
    (await tx.query<PendingRow>(`select ${PENDING_COLUMNS} from linkage_handoffs where handoff_id = $1 for update`, [handoffId])).rows[0];
  if (!h || h.pushed_at !== null || h.closed_at !== null || h.licence_id === null || h.case_id === null) return "not-pending";
  const metadata: EventMetadata = {
    correlationId: trigger.correlationId,
    causationId: trigger.causationId,
    department: ctx.department,
    caseId: h.case_id,
    subject: h.subject,
  };
  const expected: ExpectedRevision = h.unrouted_at === null ? "no_stream" : 0n;
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
    const emitted = await ctx.emit(tx, handoffStream(handoffId), [{ type: "HandoffUnrouted", data: unrouted }], expected, metadata);
    if (!emitted.appended) return "done-before";
    await applyUnrouted(tx, unrouted);
    ctx.logger.warn({ handoffId, itemCode: h.item_code, regionCode: h.region_code }, "handoff: no route; waiting in the unrouted queue");
    return "unrouted";
  }

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
    // Never a guessed deadline: the push waits (listed with the unrouted) until the year is loaded.
    const reason = (err as Error).message;
    await tx.query(`update linkage_handoffs set held_reason = $2 where handoff_id = $1`, [handoffId, reason]);
    if (h.held_reason !== reason) ctx.logger.error({ handoffId, reason }, "handoff: held until the calendar year is loaded");
    return "held";
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
  const emitted = await ctx.emit(tx, handoffStream(handoffId), events, expected, metadata);
  if (!emitted.appended) return "done-before";
  // applyPushed clears held_reason too (the row exists: its upsert's update branch).
  await applyPushed(ctx, tx, pushed, { decisionDate: h.decision_date, subject: h.subject, verificationMonths: route.verificationMonths });
  if (claimed) await applyClaimed(ctx, tx, claimed, claimedId);
  return "pushed";
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
  known: { decisionDate?: string; subject?: string; verificationMonths?: number } = {},
): Promise<void> {
  const pushedOn = localDateOf(new Date(p.pushedAt));
  const { rows } = await tx.query<{ decision_date: string | null; subject: string | null }>(
    `insert into linkage_handoffs (handoff_id, licence_id, case_id, holder_name, holder_uscc, item_code, region_code, approval_authority, under_commitment,
       subject, regulator, pushed_at, pushed_on, claim_limit_amount, claim_limit_unit, claim_due, auto_claimed, verification_due)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
     on conflict (handoff_id) do update set regulator = excluded.regulator, pushed_at = excluded.pushed_at, pushed_on = excluded.pushed_on,
       claim_limit_amount = excluded.claim_limit_amount, claim_limit_unit = excluded.claim_limit_unit, claim_due = excluded.claim_due,
       auto_claimed = excluded.auto_claimed, verification_due = excluded.verification_due, held_reason = null,
       licence_id = coalesce(linkage_handoffs.licence_id, excluded.licence_id), case_id = coalesce(linkage_handoffs.case_id, excluded.case_id),
       holder_name = coalesce(linkage_handoffs.holder_name, excluded.holder_name), holder_uscc = coalesce(linkage_handoffs.holder_uscc, excluded.holder_uscc),
       item_code = coalesce(linkage_handoffs.item_code, excluded.item_code), region_code = coalesce(linkage_handoffs.region_code, excluded.region_code),
       approval_authority = coalesce(linkage_handoffs.approval_authority, excluded.approval_authority),
       under_commitment = coalesce(linkage_handoffs.under_commitment, excluded.under_commitment), subject = coalesce(linkage_handoffs.subject, excluded.subject)
     returning decision_date, subject`,
    [
      p.handoffId,
      p.licenceId,
      p.caseId,
      p.holderName,
      p.holderUscc,
      p.itemCode,
      p.regionCode,
      p.approvalAuthority,
      p.underCommitment,
      p.holderUscc ?? p.caseId,
      p.regulator,
      new Date(p.pushedAt),
      pushedOn,
      p.claimLimit.amount,
      p.claimLimit.unit,
      p.claimDue,
      p.autoClaimed,
      p.verificationDue,
    ],
  );
  const subject = known.subject ?? rows[0]?.subject ?? p.holderUscc ?? p.caseId;
  const openedAt = new Date(p.pushedAt);
  await openDeadline(ctx, tx, {
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
    const decisionDate = known.decisionDate ?? rows[0]?.decision_date ?? null;
    const start = decisionDate ?? pushedOn;
    const months = known.verificationMonths ?? (decisionDate ? monthsBetween(decisionDate, p.verificationDue) : undefined);
    const limit: Limit = months ? { amount: months, unit: "MONTHS" } : calendarDaysUntil(start, p.verificationDue);
    await openDeadline(ctx, tx, {
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

/** HandoffClaimed (automatic, or the regulator's from the supervision service): the claim facts, and the claim deadline met (`eventId`: the claim event's id, so its echo is the same fact). */
export async function applyClaimed(ctx: LinkageContext, tx: SqlQueryable, c: HandoffClaimed, eventId: string): Promise<void> {
  const claimedAt = new Date(c.claimedAt);
  await tx.query(
    `insert into linkage_handoffs (handoff_id, licence_id, regulator, claim_due, claimed_at, claimed_on_time, claim_automatic)
     values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (handoff_id) do update set
       claimed_on_time = case when linkage_handoffs.claimed_at is null or excluded.claimed_at < linkage_handoffs.claimed_at
                              then excluded.claimed_on_time else linkage_handoffs.claimed_on_time end,
       claim_automatic = case when linkage_handoffs.claimed_at is null or excluded.claimed_at < linkage_handoffs.claimed_at
                              then excluded.claim_automatic else linkage_handoffs.claim_automatic end,
       claimed_at = least(linkage_handoffs.claimed_at, excluded.claimed_at),
       licence_id = coalesce(linkage_handoffs.licence_id, excluded.licence_id),
       regulator = coalesce(linkage_handoffs.regulator, excluded.regulator),
       claim_due = coalesce(linkage_handoffs.claim_due, excluded.claim_due)`,
    [c.handoffId, c.licenceId, c.regulator, c.claimDue, claimedAt, c.onTime, c.automatic],
  );
  await deadlineFact(ctx, tx, {
    eventId,
    deadlineId: deadlineIdOf("CLAIM", c.handoffId),
    fact: "met",
    at: claimedAt,
    by: c.automatic ? "HandoffClaimed (推送即认领)" : "HandoffClaimed",
  });
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
