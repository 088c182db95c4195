import { families, topicOf, type LicenceGranted } from "@shenguan/contracts";
import { localDateOf } from "@shenguan/deadlines";
import { contextOf, FORGET_EMITTED_SQL, ownEchoes, type EchoMemory, type LinkageSetup } from "./context.js";
import { recordCommitmentBreach, recordCreditRecord, recordCreditRepair } from "./credit/credit.js";
import { deadlineFact, deadlineIdOf, openDeadline, recordCard, REVOCATION_DECISION_LIMIT } from "./deadline/deadlines.js";
import { calendarDaysUntil } from "./deadline/limits.js";
import { appendsInTransaction, type ChunkBookkeeping, type ConsumedEvent, type SqlQueryable } from "@shenguan/eventstore";
import { feedbackOf, recordFeedback } from "./feedback/feedback.js";
import {
  applyClaimed,
  applyPushed,
  applyUnrouted,
  closeLicence,
  recordAndRouteGrants,
  type ChunkTail,
  type Trigger,
} from "./handoff/handoffs.js";

/** The consumer's name in consumer_offsets / consumer_inbox: what a rebuild resets. */
export const LINKAGE_PROJECTION = "linkage";

/**
 * The topics the linkage consumer subscribes to: every family's (approval,
 * linkage, supervision, enforcement, credit), its own included: the echoes
 * of its events and the regulators' HandoffClaimed arrive there.
 */
export function linkageTopicsOf(prefix?: string): string[] {
  return families.map((f) => (prefix ? topicOf(f, prefix) : topicOf(f)));
}

export const linkageTopics: readonly string[] = linkageTopicsOf();

/** The events this service appends (and applies at once): their echoes may be skipped. */
const OWN_EVENTS: ReadonlySet<string> = new Set([
  "HandoffPushed",
  "HandoffClaimed",
  "HandoffUnrouted",
  "DeadlineWarned",
  "DeadlineBreached",
]);

/**
 * runProjectionConsumer's `handle` (one event), with `handleChunk` (a
 * chunk of one partition's events, in order) attached: both apply the same
 * events to the same effect, the chunk with its statements batched.
 */
export type LinkageHandler = ((event: ConsumedEvent, tx: SqlQueryable) => Promise<void>) & {
  /** With `bookkeeping` (the consumer's claimLate), the chunk's last append carries the claims and the offset. */
  readonly handleChunk: (events: readonly ConsumedEvent[], tx: SqlQueryable, bookkeeping?: ChunkBookkeeping) => Promise<void>;
  /** The echoes of what this process emitted, for the consumer to pass over (ProjectionConsumerOptions.passOver). */
  readonly passOver: EchoMemory;
  /**
   * Whether the consumer may hand chunks over before their claims
   * (ProjectionConsumerOptions.claimLate): only where the store appends in the
   * chunk's transaction, as a chunk that rolls back must take its pushes back.
   */
  readonly claimLate: boolean;
};

/**
 * The linkage projection and process manager: what runProjectionConsumer
 * calls for each event (or chunk of events), inside the transaction that
 * also stores the offset. Every branch is idempotent (a redelivery or a
 * replay changes nothing twice), and the events it emits go into the same
 * transaction.
 */
export function createLinkageProjection(setup: LinkageSetup): LinkageHandler {
  const ctx = contextOf(setup);
  const triggerOf = (event: ConsumedEvent): Trigger => ({ correlationId: event.ce.id, causationId: event.ce.id, now: ctx.clock.now() });

  // Every branch may append (a push, a card) in `tx` after writing the read
  // model; readers of the log wait for `tx` only from that append on.
  async function handle(event: ConsumedEvent, tx: SqlQueryable): Promise<void> {
    if (OWN_EVENTS.has(event.name) && (await ownEchoes(tx, [event.ce.id])).size > 0) return;
    await apply(event, tx);
  }

  /**
   * The chunk in order, with the statements that need no order batched: the
   * echoes of this service's own events found in one statement (the echo of
   * an append cannot arrive in the chunk that appends it), and each run of
   * grants of distinct licences recorded and pushed together
   * (recordAndRouteGrants). Any other event ends the run before it is
   * applied, as does a second grant of a licence in the run: per licence,
   * what happens follows the order of the events.
   */
  async function handleChunk(events: readonly ConsumedEvent[], tx: SqlQueryable, bookkeeping?: ChunkBookkeeping): Promise<void> {
    const own = events.filter((e) => OWN_EVENTS.has(e.name)).map((e) => e.ce.id);
    // Without echoes of its own in the chunk, nothing waits for the rows of those passed over: they go with the last statement.
    const echoes = own.length > 0 ? await ownEchoes(tx, own, ctx.echoes) : new Set<string>();
    const tail: ChunkTail = { forget: own.length > 0 ? [] : ctx.echoes.takePassed(), ...(bookkeeping ? { bookkeeping } : {}) };
    let grants: Array<{ grant: LicenceGranted; trigger: Trigger }> = [];
    const licences = new Set<string>();
    let tailCarried = false;
    const flush = async (last = false) => {
      if (grants.length === 0) return;
      ({ tailCarried } = await recordAndRouteGrants(ctx, tx, grants, last ? tail : undefined));
      grants = [];
      licences.clear();
    };
    for (const event of events) {
      if (echoes.has(event.ce.id)) continue;
      if (event.name === "LicenceGranted") {
        if (licences.has(event.payload.licenceId)) await flush();
        licences.add(event.payload.licenceId);
        grants.push({ grant: event.payload, trigger: triggerOf(event) });
        continue;
      }
      await flush();
      await apply(event, tx);
    }
    await flush(true);
    // A chunk that does not end with pushes to append: the tail in a statement of its own (the bookkeeping, the consumer's).
    if (!tailCarried && tail.forget.length > 0) await tx.query(FORGET_EMITTED_SQL("$1"), [tail.forget]);
  }

  async function apply(event: ConsumedEvent, tx: SqlQueryable): Promise<void> {
    const id = event.ce.id;
    const time = new Date(event.ce.time);
    switch (event.name) {
      // ---- approval: the loop starts and ends here
      case "LicenceGranted":
        await recordAndRouteGrants(ctx, tx, [{ grant: event.payload, trigger: triggerOf(event) }]);
        return;
      case "LicenceRevoked": {
        const p = event.payload;
        if (p.answersRequestId) {
          await deadlineFact(ctx, tx, {
            eventId: id,
            deadlineId: deadlineIdOf("REVOCATION_DECISION", p.answersRequestId),
            fact: "met",
            at: time,
            by: "LicenceRevoked",
          });
        }
        await closeLicence(ctx, tx, p.licenceId, time, "LicenceRevoked");
        return;
      }
      case "LicenceCancelled":
        await closeLicence(ctx, tx, event.payload.licenceId, time, "LicenceCancelled");
        return;
      case "RevocationDecisionExtended": {
        const p = event.payload;
        await deadlineFact(ctx, tx, {
          eventId: id,
          deadlineId: deadlineIdOf("REVOCATION_DECISION", p.requestId),
          fact: "moved",
          at: new Date(p.extendedAt),
          due: p.decisionDue,
          by: "RevocationDecisionExtended",
        });
        return;
      }
      case "RevocationRequestDeclined":
        await deadlineFact(ctx, tx, {
          eventId: id,
          deadlineId: deadlineIdOf("REVOCATION_DECISION", event.payload.requestId),
          fact: "met",
          at: time,
          by: "RevocationRequestDeclined",
        });
        return;
      case "ApplicationAccepted":
      case "LicenceDenied":
      case "LicenceChanged":
      case "LicenceRenewed":
        return; // nothing to route or watch

      // ---- linkage: the echoes of this service's events, and the regulators' claims
      case "HandoffPushed":
        await applyPushed(ctx, tx, event.payload);
        return;
      case "HandoffClaimed":
        await applyClaimed(ctx, tx, event.payload, id);
        return;
      case "HandoffUnrouted":
        await applyUnrouted(tx, event.payload);
        return;
      case "DeadlineWarned":
        await recordCard(ctx, tx, {
          eventId: id,
          deadlineId: event.payload.deadlineId,
          card: "WARNED",
          at: new Date(event.payload.warnedAt),
        });
        return;
      case "DeadlineBreached":
        await recordCard(ctx, tx, {
          eventId: id,
          deadlineId: event.payload.deadlineId,
          card: "BREACHED",
          at: new Date(event.payload.breachedAt),
        });
        return;

      // ---- supervision: results flow back to approval, some open or meet deadlines
      case "InspectionRecorded":
        await recordFeedback(tx, feedbackOf.inspection(event.payload, id, time));
        return;
      case "RectificationOrdered": {
        const p = event.payload;
        await recordFeedback(tx, feedbackOf.rectificationOrdered(p, id));
        const start = localDateOf(new Date(p.orderedAt));
        await openDeadline(ctx, tx, {
          kind: "RECTIFICATION",
          subjectRef: p.rectificationId,
          caseId: p.caseId,
          licenceId: p.licenceId,
          subject: event.ce.subject,
          responsibleDepartment: p.regulator,
          start,
          limit: calendarDaysUntil(start, p.dueDate),
          fixedDue: p.dueDate,
          openedAt: new Date(p.orderedAt),
        });
        return;
      }
      case "RectificationCompleted": {
        const p = event.payload;
        await recordFeedback(tx, feedbackOf.rectificationCompleted(p, id));
        await deadlineFact(ctx, tx, {
          eventId: id,
          deadlineId: deadlineIdOf("RECTIFICATION", p.rectificationId),
          fact: "met",
          at: new Date(p.completedAt),
          by: "RectificationCompleted",
        });
        return;
      }
      case "CommitmentVerified": {
        const p = event.payload;
        await recordFeedback(tx, feedbackOf.commitmentVerified(p, id));
        await recordCommitmentBreach(tx, p);
        await deadlineFact(ctx, tx, {
          eventId: id,
          deadlineId: deadlineIdOf("COMMITMENT_VERIFICATION", p.licenceId),
          fact: "met",
          at: new Date(p.verifiedAt),
          by: "CommitmentVerified",
        });
        return;
      }
      case "TransferredToEnforcement":
        await recordFeedback(tx, feedbackOf.transferred(event.payload, id));
        return;
      case "RevocationRequested": {
        const p = event.payload;
        await recordFeedback(tx, feedbackOf.revocationRequested(p, id));
        await openDeadline(ctx, tx, {
          kind: "REVOCATION_DECISION",
          subjectRef: p.requestId,
          caseId: p.caseId,
          licenceId: p.licenceId,
          subject: event.ce.subject,
          responsibleDepartment: p.approvalAuthority,
          start: localDateOf(new Date(p.requestedAt)),
          limit: REVOCATION_DECISION_LIMIT,
          openedAt: new Date(p.requestedAt),
        });
        return;
      }

      // ---- enforcement and credit
      case "PenaltyImposed":
        await recordFeedback(tx, feedbackOf.penalty(event.payload, id, time));
        return;
      case "EnforcementConcluded":
        await recordFeedback(tx, feedbackOf.enforcementConcluded(event.payload, id));
        return;
      case "CreditRecordPublished":
        await recordCreditRecord(tx, event.payload);
        await recordFeedback(tx, feedbackOf.creditRecord(event.payload, id));
        return;
      case "CreditRepaired":
        await recordCreditRepair(tx, event.payload);
        await recordFeedback(tx, feedbackOf.creditRepaired(event.payload, id));
        return;
      default: {
        const unhandled: never = event;
        throw new Error(`linkage projection: no branch for ${(unhandled as ConsumedEvent).name}`);
      }
    }
  }

  return Object.assign(handle, { handleChunk, passOver: ctx.echoes, claimLate: appendsInTransaction(ctx.store) });
}
