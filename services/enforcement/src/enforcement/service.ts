import type { TransferredToEnforcement } from "@shenguan/contracts";
import { commandHandler, toDomain, type EventStore } from "@shenguan/eventstore";
import { metadataOf, stampCommand, type Clock, type CommandContext } from "@shenguan/service-kit";
import type { EnforcementCommand } from "./commands.js";
import { enforcementDecider, type EnforcementCase } from "./decider.js";
import { enforcementCaseStream, type EnforcementEvent } from "./events.js";

type CommandData<T extends EnforcementCommand["type"]> = Extract<EnforcementCommand, { type: T }>["data"];

export type { CommandContext };

export interface EnforcementOutcome {
  readonly enforcementCaseId: string;
  readonly status: EnforcementCase["status"];
  readonly revision: bigint;
  /** Types of the events this command appended; empty for a repeat. */
  readonly events: string[];
}

/**
 * 综合行政执法: turns requests and regulators' transfers into enforcement-case
 * commands, with `now` and the local date filled in here so the decider stays pure.
 */
export class EnforcementService {
  private readonly handle;

  constructor(private readonly deps: { store: EventStore; clock: Clock }) {
    this.handle = commandHandler(deps.store, enforcementDecider);
  }

  async execute<T extends EnforcementCommand["type"]>(enforcementCaseId: string, type: T, data: CommandData<T>, ctx: CommandContext): Promise<EnforcementOutcome> {
    const command = stampCommand<EnforcementCommand>(this.deps.clock, type, data, ctx.department);
    const base = metadataOf(ctx);
    const result = await this.handle(enforcementCaseStream(enforcementCaseId), command, {
      metadata: (state) => ({ ...base, ...keysOf(enforcementCaseId, command, state) }),
    });
    return { enforcementCaseId, status: result.newState.status, revision: result.revision, events: result.newEvents.map((e) => e.type) };
  }

  /**
   * A regulator's 移交执法 from Kafka. The transfer id is the enforcement case
   * id, so a redelivered transfer lands on the same stream and is a no-op.
   */
  openFromTransfer(transfer: TransferredToEnforcement, ctx: { eventId: string; traceparent?: string }): Promise<EnforcementOutcome> {
    return this.execute(
      transfer.transferId,
      "OpenFromTransfer",
      { enforcementCaseId: transfer.transferId, transfer },
      { department: transfer.enforcementDepartment, correlationId: ctx.eventId, causationId: ctx.eventId, ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}) },
    );
  }

  async state(enforcementCaseId: string): Promise<EnforcementCase> {
    const events = await this.deps.store.readStream(enforcementCaseStream(enforcementCaseId));
    return events.reduce((s, e) => enforcementDecider.evolve(s, toDomain<EnforcementEvent>(e)), enforcementDecider.initialState());
  }
}

/**
 * Kafka key: the holder's USCC keeps one subject's events in order; without
 * one, the enforcement case id. The licence case id (when known) joins the
 * events to that licence's history for the auditor.
 */
function keysOf(enforcementCaseId: string, command: EnforcementCommand, state: EnforcementCase): { subject: string; caseId: string } {
  const known =
    command.type === "OpenFromTransfer"
      ? { uscc: command.data.transfer.holderUscc, caseId: command.data.transfer.caseId }
      : command.type === "OpenCase"
        ? { uscc: command.data.holder.uscc, caseId: command.data.caseId }
        : state.status === "none"
          ? { uscc: null, caseId: null }
          : { uscc: state.opened.holderUscc, caseId: state.opened.caseId };
  return { subject: known.uscc ?? enforcementCaseId, caseId: known.caseId ?? enforcementCaseId };
}
