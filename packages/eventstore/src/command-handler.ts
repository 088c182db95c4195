import { ConcurrencyError } from "./errors.js";
import type { AppendResult, EventMetadata, EventStore, StoredEvent } from "./port.js";
import type { Decider, DomainEvent } from "./decider.js";

export interface HandleOptions<State> {
  /** Metadata for the new events; a function when it depends on the state (e.g. the Kafka subject). */
  readonly metadata: EventMetadata | ((state: State) => EventMetadata);
  /** Retries after a concurrency conflict: each retry reads the stream again and re-decides. */
  readonly maxRetries?: number;
}

export interface HandleResult<Event, State> {
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
  return async function handle(stream: string, command: Command, options: HandleOptions<State>): Promise<HandleResult<Event, State>> {
    const maxRetries = options.maxRetries ?? 3;
    for (let attempt = 0; ; attempt++) {
      const history = await store.readStream(stream);
      const state = history.reduce((s, e) => decider.evolve(s, toDomain<Event>(e)), decider.initialState());
      const revision = history.length === 0 ? -1n : history[history.length - 1]!.revision;
      const newEvents = decider.decide(command, state);
      if (newEvents.length === 0) return { newEvents, newState: state, appended: undefined, revision };
      const metadata = typeof options.metadata === "function" ? options.metadata(state) : options.metadata;
      try {
        const appended = await store.append(
          stream,
          newEvents.map((e) => ({ type: e.type, data: e.data, metadata })),
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
