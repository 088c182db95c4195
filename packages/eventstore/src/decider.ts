import { ShenguanError } from "@shenguan/contracts";

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

/**
 * A command as deciders see it: what to do, who does it, and when. `now` and
 * its local date come in with the command so the decider never reads a clock.
 */
export interface Command<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
  /** The acting department (for a reaction to another department's event: the department it acts for). */
  readonly department: string;
  readonly now: Date;
  /** `now` as a local (Asia/Shanghai) date, YYYY-MM-DD. */
  readonly today: string;
}

/** Events as deciders see them: a discriminated `{ type, data }`. */
export interface DomainEvent<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
}

/**
 * A decider's refusal: the command is not allowed in the current state
 * (already granted, not the case's regulator, barred by credit …). `code` is
 * stable (`licence.already-granted`) and reaches clients in problem details.
 */
export class DomainRefusal extends ShenguanError {
  constructor(
    readonly code: string,
    message: string,
    /** The command field the refusal is about, when there is one. */
    readonly field?: string,
  ) {
    super(message);
  }
}

/** A refusal because the acting department is not a party to the case (the wrong regulator, another bureau): 403, not 409. */
export class NotPartyRefusal extends DomainRefusal {}

/** Refuses a command: `throw`s so a decider case reads as its rule. */
export function refuse(code: string, message: string, field?: string): never {
  throw new DomainRefusal(code, message, field);
}

/** The `never` guard that ends every switch over a decider's commands or events. */
export function exhaustive(x: never): never {
  throw new Error(`unhandled ${JSON.stringify(x)}`);
}
