import type { HandoffPushed } from "@shenguan/contracts";
import { commandHandler, toDomain, type EventStore, type InitialEvents, type StoredEvent } from "@shenguan/eventstore";
import { metadataOf, stampCommand, type Clock, type CommandContext } from "@shenguan/service-kit";
import type { HandoffCommand } from "./commands.js";
import { handoffDecider, type HandoffState } from "./decider.js";
import { handoffStream, licenceEndStream, type HandoffEvent, type LicenceEndEvent } from "./events.js";
import type { ReceivedPush } from "../inbox/projection.js";

type CommandData<T extends HandoffCommand["type"]> = Extract<HandoffCommand, { type: T }>["data"];
/** Every command but ReceiveHandoff, which only begins a stream (SupervisionService.begin). */
type ExecutedCommand = Exclude<HandoffCommand["type"], "ReceiveHandoff">;

export type { CommandContext };

/** A push the regulators' inbox received, with the id of the event that carried it (the inbox's pushOf). */
export type PushLookup = (handoffId: string) => Promise<ReceivedPush | undefined>;

/** The metadata's case and subject for events about a handoff. */
const aboutHandoff = (h: HandoffPushed) => ({ caseId: h.caseId, subject: h.holderUscc ?? h.caseId });

/** The commands a regulator sends: the first of them begins the handoff's stream from its push. */
const REGULATOR_COMMANDS: ReadonlySet<HandoffCommand["type"]> = new Set([
  "ClaimHandoff",
  "RecordInspection",
  "OrderRectification",
  "CompleteRectification",
  "VerifyCommitment",
  "TransferToEnforcement",
  "RequestRevocation",
]);

export interface Outcome {
  readonly handoffId: string;
  readonly status: HandoffState["status"];
  readonly revision: bigint;
  readonly events: string[];
}

/**
 * The regulators' application service: turns requests and incoming approval
 * events into handoff commands, with `now` and the local date filled in here
 * so the decider stays pure.
 *
 * A handoff's stream begins when its regulator first acts on it, not when the
 * push arrives: the push is linkage's event, already in the log, and the
 * regulators' inbox (a read model of the pushes) is what a regulator acts
 * from. The first command's append begins the stream with HandoffReceived,
 * the push as the inbox received it (caused by the push's event), then the
 * command's own events; a refused command writes nothing. Recording the
 * receipt when the push arrived cost every grant a reactor's reads and a
 * third append, for a copy of an event the log already held
 * (docs/throughput.md, session 15).
 */
export class SupervisionService {
  private readonly handle;

  constructor(private readonly deps: { store: EventStore; clock: Clock; pushes: PushLookup }) {
    this.handle = commandHandler(deps.store, handoffDecider);
  }

  get store(): EventStore {
    return this.deps.store;
  }

  async execute<T extends ExecutedCommand>(handoffId: string, type: T, data: CommandData<T>, ctx: CommandContext): Promise<Outcome> {
    const command = stampCommand<HandoffCommand>(this.deps.clock, type, data, ctx.department);
    let begun: Begun | undefined;
    const result = await this.handle(handoffStream(handoffId), command, {
      // Events are decided only for a handoff received, its stream begun here or before.
      metadata: (state) => metadataOf(ctx, state.status !== "none" ? aboutHandoff(state.handoff) : {}),
      ...(REGULATOR_COMMANDS.has(type) ? { initial: async () => (begun = await this.begin(handoffId)) } : {}),
    });
    const outcome = { handoffId, status: result.newState.status, revision: result.revision, events: result.newEvents.map((e) => e.type) };
    if (begun && !begun.closed && result.appended) {
      // The licence may have ended between this stream's beginning (which found no end) and its append, and the
      // approval topic's consumer, closing the handoffs of the licence, found no stream yet: look again now it exists.
      const end = await this.licenceEnd(begun.push.licenceId);
      if (end) {
        const ctx = { department: begun.push.regulator, correlationId: end.eventId, causationId: end.eventId };
        await this.execute(handoffId, "NoteLicenceEnded", { ...end.data, answersRequestId: null }, ctx);
      }
    }
    return outcome;
  }

  /** The handoff as it stands: its stream folded, or, before its regulator first acted, as its first command would begin it. */
  async state(handoffId: string): Promise<HandoffState> {
    const events = await this.deps.store.readStream(handoffStream(handoffId));
    const begun = events.length === 0 ? ((await this.begin(handoffId))?.events ?? []) : [];
    return begun.reduce(
      handoffDecider.evolve,
      events.reduce((s, e) => handoffDecider.evolve(s, toDomain<HandoffEvent>(e)), handoffDecider.initialState()),
    );
  }

  /** Whether the regulators' inbox has the handoff's push (a handoff with no events yet may still be known). */
  async known(handoffId: string): Promise<boolean> {
    return (await this.deps.pushes(handoffId)) !== undefined;
  }

  /**
   * What a handoff's stream begins with: HandoffReceived, the push as the inbox received it, in the regulator's
   * name and caused by the push's event; and HandoffClosed after it when the licence ended before (the approval
   * and linkage topics are consumed independently). Undefined while the inbox has no push for it.
   */
  private async begin(handoffId: string): Promise<Begun | undefined> {
    const received = await this.deps.pushes(handoffId);
    if (!received) return undefined;
    const { push, eventId } = received;
    const ctx = { department: push.regulator, correlationId: eventId ?? handoffId, causationId: eventId };
    const receive = stampCommand<HandoffCommand>(this.deps.clock, "ReceiveHandoff", { handoff: push }, push.regulator);
    const events: HandoffEvent[] = [...handoffDecider.decide(receive, handoffDecider.initialState())];
    const end = await this.licenceEnd(push.licenceId);
    if (end) {
      const state = events.reduce(handoffDecider.evolve, handoffDecider.initialState());
      const note = stampCommand<HandoffCommand>(
        this.deps.clock,
        "NoteLicenceEnded",
        { ...end.data, answersRequestId: null },
        push.regulator,
      );
      events.push(...handoffDecider.decide(note, state));
    }
    const metadata = metadataOf(ctx, aboutHandoff(push));
    return { events, metadata, push, closed: end !== undefined };
  }

  /** How the licence ended, if the approval bureau's cancellation or revocation was noted (one event at most: a whole-stream read). */
  private async licenceEnd(licenceId: string) {
    const [noted] = await this.deps.store.readStream(licenceEndStream(licenceId));
    if (!noted) return undefined;
    const { licenceId: _l, caseId: _c, ...data } = toDomain<LicenceEndEvent>(noted).data;
    return { data, eventId: noted.id };
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

interface Begun extends InitialEvents<HandoffEvent> {
  readonly events: HandoffEvent[];
  readonly push: HandoffPushed;
  /** The licence had ended: the stream begins closed. */
  readonly closed: boolean;
}
