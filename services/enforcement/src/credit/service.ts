import type { CommitmentVerified, CreditRecordKind, CreditSeverity, PenaltyImposed } from "@shenguan/contracts";
import { addDays, localDate, localDateOf } from "@shenguan/deadlines";
import { commandHandler, toDomain, type EventStore } from "@shenguan/eventstore";
import { metadataOf, stampCommand, type Clock, type CommandContext } from "@shenguan/service-kit";
import { v7 as uuidv7 } from "uuid";
import type { CreditCommand, PublishCreditRecord } from "./commands.js";
import { creditDecider, type CreditSubject } from "./decider.js";
import { creditStream, type CreditEvent } from "./events.js";
import { standingOf, type CreditStanding } from "./standing.js";

type CommandData<T extends CreditCommand["type"]> = Extract<CreditCommand, { type: T }>["data"];

export interface CreditContext extends CommandContext {
  /** The licence case the record concerns, for the auditor's case history. */
  readonly caseId?: string | null;
}

export interface CreditOutcome {
  readonly uscc: string;
  readonly status: CreditSubject["status"];
  readonly revision: bigint;
  /** Types of the events this command appended; empty for a repeat. */
  readonly events: string[];
}

/**
 * How long the platform keeps a record public (公示期), in days from the
 * decision: a general penalty one year, a serious one or a commitment breach
 * three (the upper bounds of 失信行为纠正后的信用信息修复管理办法, 2023).
 */
export const PUBLICITY_DAYS = { general: 365, serious: 3 * 365 } as const;

/**
 * 信用平台: one stream per subject. Publishes records (from departments, and
 * automatically from false commitments and penalties) and repairs them.
 */
export class CreditService {
  private readonly handle;

  constructor(private readonly deps: { store: EventStore; clock: Clock; creditDepartment: string }) {
    this.handle = commandHandler(deps.store, creditDecider);
  }

  /** The platform's own department code (e.g. XYB-350100). */
  get department(): string {
    return this.deps.creditDepartment;
  }

  async execute<T extends CreditCommand["type"]>(uscc: string, type: T, data: CommandData<T>, ctx: CreditContext): Promise<CreditOutcome> {
    const command = stampCommand<CreditCommand>(this.deps.clock, type, data, ctx.department);
    const metadata = metadataOf(ctx, { caseId: ctx.caseId, subject: uscc });
    const result = await this.handle(creditStream(uscc), command, { metadata });
    return { uscc, status: result.newState.status, revision: result.revision, events: result.newEvents.map((e) => e.type) };
  }

  publish(uscc: string, data: Omit<CommandData<"PublishCreditRecord">, "holderUscc">, ctx: CreditContext): Promise<CreditOutcome> {
    return this.execute(uscc, "PublishCreditRecord", { ...data, holderUscc: uscc }, ctx);
  }

  repair(uscc: string, recordId: string, basis: string, ctx: CreditContext): Promise<CreditOutcome> {
    return this.execute(uscc, "RepairCredit", { recordId, holderUscc: uscc, basis, platformDepartment: this.deps.creditDepartment }, ctx);
  }

  /**
   * Policy: a false commitment (告知承诺核查 truthful=false) becomes a barring
   * COMMITMENT_BREACH record. Returns null when there is nothing to publish
   * (truthful, a holder without a USCC has no credit stream, or the
   * record's public period would already be over).
   */
  async recordCommitmentBreach(v: CommitmentVerified, ctx: { eventId: string; traceparent?: string }): Promise<CreditOutcome | null> {
    if (v.truthful || v.holderUscc === null) return null;
    const subject = await this.subject(v.holderUscc);
    const verifiedOn = localDateOf(new Date(v.verifiedAt));
    return this.automatic(v.holderUscc, ctx, v.caseId, {
      holderName: v.holderName ?? (subject.status === "recorded" ? subject.holderName : v.holderUscc),
      kind: "COMMITMENT_BREACH",
      severity: "SERIOUS",
      barsCommitment: true,
      sourceRef: v.verificationId,
      summary: `告知承诺不实 (licence ${v.licenceId}, verified by ${v.regulator} on ${verifiedOn}): ${v.findings}`,
      publicUntil: addDays(localDate(verifiedOn), PUBLICITY_DAYS.serious),
    });
  }

  /** Policy: every penalty (双公示) becomes a PENALTY record, SERIOUS when the violation was serious. */
  async recordPenalty(p: PenaltyImposed, ctx: { eventId: string; traceparent?: string }): Promise<CreditOutcome | null> {
    if (p.holderUscc === null) return null;
    const severity: CreditSeverity = p.serious ? "SERIOUS" : "GENERAL";
    const fine = p.fineFen !== null ? `, 罚款 ¥${(p.fineFen / 100).toFixed(2)}` : "";
    return this.automatic(p.holderUscc, ctx, p.caseId, {
      holderName: p.holderName,
      kind: "PENALTY",
      severity,
      barsCommitment: p.serious,
      sourceRef: p.penaltyId,
      summary: `行政处罚 ${p.decisionNumber} by ${p.enforcementDepartment} on ${p.decisionDate} (${p.kinds.join(", ")}${fine}): ${p.facts}`,
      publicUntil: addDays(localDate(p.decisionDate), p.serious ? PUBLICITY_DAYS.serious : PUBLICITY_DAYS.general),
    });
  }

  async standing(uscc: string): Promise<CreditStanding> {
    return standingOf(uscc, await this.subject(uscc));
  }

  async subject(uscc: string): Promise<CreditSubject> {
    const events = await this.deps.store.readStream(creditStream(uscc));
    return events.reduce((s, e) => creditDecider.evolve(s, toDomain<CreditEvent>(e)), creditDecider.initialState());
  }

  private async automatic(
    uscc: string,
    ctx: { eventId: string; traceparent?: string },
    caseId: string | null,
    data: Omit<PublishCreditRecord["data"], "recordId" | "holderUscc"> & { kind: CreditRecordKind },
  ): Promise<CreditOutcome | null> {
    // A source so old that its public period is over publishes nothing (rather than a refusal that would dead-letter the event).
    if (data.publicUntil !== null && data.publicUntil <= localDateOf(this.deps.clock.now())) return null;
    return this.publish(uscc, { recordId: uuidv7(), ...data }, {
      department: this.deps.creditDepartment,
      correlationId: ctx.eventId,
      causationId: ctx.eventId,
      caseId,
      ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}),
    });
  }
}
