import type { RevocationRequested } from "@shenguan/contracts";
import { commandHandler, toDomain, type EventStore } from "@shenguan/eventstore";
import { metadataOf, stampCommand, type Clock, type CommandContext } from "@shenguan/service-kit";
import type { CommitmentEligibility, LicenceCommand } from "./commands.js";
import { licenceDecider, type LicenceCase } from "./decider.js";
import { licenceCaseStream, type LicenceEvent } from "./events.js";

/** Reads the applicant's 告知承诺 standing from the linkage credit projection (HTTP or in-process). */
export type EligibilityLookup = (applicant: { uscc: string | null; idNumber: string | null }) => Promise<CommitmentEligibility>;

type CommandData<T extends LicenceCommand["type"]> = Extract<LicenceCommand, { type: T }>["data"];
type Outcome = { caseId: string; status: LicenceCase["status"]; revision: bigint; events: string[] };

/**
 * The approval bureau's application service: turns requests and incoming
 * regulator events into licence-case commands, with `now`, the local date and
 * derived deadlines filled in here so the decider stays pure.
 */
export class LicenceService {
  private readonly handle;

  constructor(
    private readonly deps: { store: EventStore; clock: Clock; eligibility: EligibilityLookup },
  ) {
    this.handle = commandHandler(deps.store, licenceDecider);
  }

  async execute<T extends LicenceCommand["type"]>(
    caseId: string,
    type: T,
    data: CommandData<T>,
    ctx: CommandContext,
  ): Promise<Outcome> {
    const command = stampCommand<LicenceCommand>(this.deps.clock, type, data, ctx.department);
    const metadata = metadataOf(ctx, { caseId });
    const result = await this.handle(licenceCaseStream(caseId), command, {
      metadata: (state) => ({ ...metadata, subject: subjectOf(caseId, command, state) }),
    });
    return { caseId, status: result.newState.status, revision: result.revision, events: result.newEvents.map((e) => e.type) };
  }

  /** 受理, with the credit check 告知承诺 requires. */
  async accept(caseId: string, data: Omit<CommandData<"AcceptApplication">, "eligibility">, ctx: CommandContext) {
    const eligibility = data.underCommitment ? await this.deps.eligibility(data.applicant) : null;
    return this.execute(caseId, "AcceptApplication", { ...data, eligibility }, ctx);
  }

  /** A regulator's revocation request from Kafka: opens the decision with its statement period and limit. */
  receiveRevocationRequest(request: RevocationRequested, ctx: { eventId: string; department: string }) {
    const { requestId, regulator, grounds, requestedAt } = request;
    return this.execute(
      request.caseId,
      "ReceiveRevocationRequest",
      { requestId, regulator, grounds, requestedAt },
      { department: ctx.department, correlationId: ctx.eventId, causationId: ctx.eventId },
    );
  }

  async state(caseId: string): Promise<LicenceCase> {
    const events = await this.deps.store.readStream(licenceCaseStream(caseId));
    return events.reduce((s, e) => licenceDecider.evolve(s, toDomain<LicenceEvent>(e)), licenceDecider.initialState());
  }
}

/** Kafka key: the licensee's USCC keeps one licensee's events in order; a natural person's case uses its case id. */
function subjectOf(caseId: string, command: LicenceCommand, state: LicenceCase): string {
  if (command.type === "AcceptApplication") return command.data.applicant.uscc ?? caseId;
  return state.status === "none" ? caseId : (state.application.applicant.uscc ?? caseId);
}
