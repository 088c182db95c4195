import type { HandoffPushed } from "@shenguan/contracts";
import { commandHandler, toDomain, type EventStore, type StoredEvent } from "@shenguan/eventstore";
import { metadataOf, stampCommand, type Clock, type CommandContext } from "@shenguan/service-kit";
import type { HandoffCommand } from "./commands.js";
import { handoffDecider, type HandoffState } from "./decider.js";
import { handoffStream, type HandoffEvent } from "./events.js";

type CommandData<T extends HandoffCommand["type"]> = Extract<HandoffCommand, { type: T }>["data"];

export type { CommandContext };

export interface Outcome {
  readonly handoffId: string;
  readonly status: HandoffState["status"];
  readonly revision: bigint;
  readonly events: string[];
}

/**
 * The regulators' application service: turns requests and incoming linkage
 * and approval events into handoff commands, with `now` and the local date
 * filled in here so the decider stays pure.
 */
export class SupervisionService {
  private readonly handle;

  constructor(private readonly deps: { store: EventStore; clock: Clock }) {
    this.handle = commandHandler(deps.store, handoffDecider);
  }

  get store(): EventStore {
    return this.deps.store;
  }

  async execute<T extends HandoffCommand["type"]>(handoffId: string, type: T, data: CommandData<T>, ctx: CommandContext): Promise<Outcome> {
    const command = stampCommand<HandoffCommand>(this.deps.clock, type, data, ctx.department);
    const result = await this.handle(handoffStream(handoffId), command, {
      metadata: (state) => {
        // Before the first event the push itself says which case and licensee this is.
        const h = state.status !== "none" ? state.handoff : command.type === "ReceiveHandoff" ? command.data.handoff : undefined;
        return metadataOf(ctx, h ? { caseId: h.caseId, subject: h.holderUscc ?? h.caseId } : {});
      },
    });
    return { handoffId, status: result.newState.status, revision: result.revision, events: result.newEvents.map((e) => e.type) };
  }

  async state(handoffId: string): Promise<HandoffState> {
    const events = await this.deps.store.readStream(handoffStream(handoffId));
    return events.reduce((s, e) => handoffDecider.evolve(s, toDomain<HandoffEvent>(e)), handoffDecider.initialState());
  }

  events(handoffId: string): Promise<StoredEvent[]> {
    return this.deps.store.readStream(handoffStream(handoffId));
  }

  /** The handoffs this service received for a licence, found through the case's history (every handoff event carries its caseId). */
  async handoffsOfLicence(caseId: string, licenceId: string): Promise<{ handoffId: string; regulator: string }[]> {
    const history = await this.deps.store.readByCorrelationKey(caseId);
    return history
      .filter((e): e is StoredEvent<"HandoffReceived", HandoffPushed> => e.type === "HandoffReceived")
      .filter((e) => e.data.licenceId === licenceId && e.stream === handoffStream(e.data.handoffId))
      .map((e) => ({ handoffId: e.data.handoffId, regulator: e.data.regulator }));
  }
}
