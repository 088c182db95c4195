/**
 * An aggregate is a decider: pure functions, no I/O, no clock, no id
 * generation. `now` and ids come in with the command.
 */
export interface Decider<Command, Event, State> {
  readonly initialState: () => State;
  readonly evolve: (state: State, event: Event) => State;
  /** Returns the events the command causes, or throws a domain error (a refusal). */
  readonly decide: (command: Command, state: State) => readonly Event[];
}

/** Events as deciders see them: a discriminated `{ type, data }`. */
export interface DomainEvent<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
}
