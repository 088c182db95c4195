import { ConcurrencyError } from "./errors.js";
import type { AppendResult, EventMetadata, EventStore, StoredEvent } from "./port.js";
import type { Decider, DomainEvent } from "./decider.js";

export interface HandleOptions<State, Event extends DomainEvent = DomainEvent> {
  /** Metadata for the new events; a function when it depends on the state (e.g. the Kafka subject). */
  readonly metadata: EventMetadata | ((state: State) => EventMetadata);
  /** Retries after a concurrency conflict: each retry reads the stream again and re-decides. */
  readonly maxRetries?: number;
  /**
   * A stream begun by something that happened elsewhere (the regulators' handoff stream begins with the push
   * linkage published): asked only while the stream does not exist, its events are folded before the command is
   * decided and appended with the command's own, in one append, each with its own metadata. So a refused
   * command, or one that decides nothing, writes nothing; undefined when there is nothing to begin from.
   */
  readonly initial?: () => Promise<InitialEvents<Event> | undefined>;
}

/** What a stream begins with when the command handler creates it (HandleOptions.initial). */
export interface InitialEvents<Event> {
  readonly events: readonly Event[];
  readonly metadata: EventMetadata;
}

export interface HandleResult<Event, State> {
  /** The command's own events (not those of HandleOptions.initial, which `appended` also holds). */
  readonly newEvents: readonly Event[];
  readonly newState: State;
  /** Undefined when the command decided nothing (an idempotent no-op). */
  readonly appended: AppendResult | undefined;
  /** Revision of the stream after the command; -1n for a stream that still does not exist. */
  readonly revision: bigint;
}

/**
 * The one generic command handler: read → fold → decide → append with the
 * expected revision → on a concurrency conflict, read again and re-decide,
 * a bounded number of times. Every service's routes call this.
 */
export function commandHandler<Command, Event extends DomainEvent, State>(store: EventStore, decider: Decider<Command, Event, State>) {
  return async function handle(
    stream: string,
    command: Command,
    options: HandleOptions<State, Event>,
  ): Promise<HandleResult<Event, State>> {
    const maxRetries = options.maxRetries ?? 3;
    for (let attempt = 0; ; attempt++) {
      const history = await store.readStream(stream);
      const revision = history.length === 0 ? -1n : history[history.length - 1]!.revision;
      const initial = history.length === 0 && options.initial ? await options.initial() : undefined;
      const begun = initial?.events ?? [];
      const state = begun.reduce(
        decider.evolve,
        history.reduce((s, e) => decider.evolve(s, toDomain<Event>(e)), decider.initialState()),
      );
      const newEvents = decider.decide(command, state);
      // Nothing decided: the stream stays as it was (not begun either), the state is what the command saw.
      if (newEvents.length === 0) return { newEvents, newState: state, appended: undefined, revision };
      const metadata = typeof options.metadata === "function" ? options.metadata(state) : options.metadata;
      try {
        const appended = await store.append(
          stream,
          [
            ...begun.map((e) => ({ type: e.type, data: e.data, metadata: initial!.metadata })),
            ...newEvents.map((e) => ({ type: e.type, data: e.data, metadata })),
          ],
          revision === -1n ? "no_stream" : revision,
        );
        const newState = newEvents.reduce(decider.evolve, state);
        return { newEvents, newState, appended, revision: appended.nextExpectedRevision };
      } catch (err) {
        if (err instanceof ConcurrencyError && attempt < maxRetries) continue;
        throw err;
      }
    }
  };
}

export function toDomain<Event extends DomainEvent>(e: StoredEvent): Event {
  return { type: e.type, data: e.data } as Event;
}
