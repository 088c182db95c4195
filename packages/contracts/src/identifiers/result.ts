// Shared result/error shapes for every identifier validator in this folder.
// Validators never throw on bad input: they return a discriminated result so
// callers can collect every failure (forms, batch imports). The assert*
// variants throw InvalidIdentifierError, which services map to HTTP problem
// details — hence the caller-supplied field name.

import { ShenguanError } from "../errors.js";

export interface IdentifierError<R extends string = string> {
  /** Stable machine-readable code, e.g. 'uscc.check-char'. Never reworded. */
  readonly rule: R;
  /** English; names the failed rule and what was expected vs found. */
  readonly message: string;
  /** 0-based index into the normalised (trimmed, upper-cased) input. */
  readonly position?: number;
}

export type NonEmpty<T> = readonly [T, ...T[]];

export interface IdentifierOk<T> {
  readonly ok: true;
  readonly value: T;
}

export interface IdentifierFailure<R extends string = string> {
  readonly ok: false;
  readonly errors: NonEmpty<IdentifierError<R>>;
}

export type IdentifierResult<T, R extends string = string> =
  IdentifierOk<T> | IdentifierFailure<R>;

/** Part of the project's one error hierarchy: services map it to a 400 problem naming `field` and `rule`. */
export class InvalidIdentifierError extends ShenguanError {
  readonly code = "identifier.invalid";
  /** Rule of the first failure; all failures are in `errors`. */
  readonly rule: string;
  /** Caller's name for the offending input, e.g. 'applicant.uscc'. */
  readonly field: string;
  readonly errors: NonEmpty<IdentifierError>;

  constructor(field: string, errors: NonEmpty<IdentifierError>) {
    super(`${field}: ${errors.map((e) => e.message).join("; ")}`);
    this.field = field;
    this.rule = errors[0].rule;
    this.errors = errors;
  }
}

/** Ok when no errors were collected, otherwise a failure carrying them all. */
export function finish<T, R extends string>(
  errors: readonly IdentifierError<R>[],
  value: T,
): IdentifierResult<T, R> {
  const [first, ...rest] = errors;
  return first === undefined
    ? { ok: true, value }
    : { ok: false, errors: [first, ...rest] };
}

export function unwrap<T>(result: IdentifierResult<T>, field: string): T {
  if (result.ok) return result.value;
  throw new InvalidIdentifierError(field, result.errors);
}

/** All identifiers here are case-insensitive in practice and often pasted with stray spaces. */
export function normalise(input: string): string {
  return input.trim().toUpperCase();
}

/** Quote a character for a message; invisible ones are shown as U+XXXX. */
export function quote(ch: string): string {
  return /^[\x21-\x7e]$/.test(ch)
    ? `'${ch}'`
    : `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
}

// Garbage input (a pasted paragraph) must not yield thousands of errors.
const MAX_CHAR_ERRORS = 5;

/** One error per offending character (capped), positions shifted by `offset`. */
export function charErrors<R extends string>(
  text: string,
  isValid: (ch: string) => boolean,
  make: (ch: string, position: number) => IdentifierError<R>,
  offset = 0,
): IdentifierError<R>[] {
  const errors: IdentifierError<R>[] = [];
  for (let i = 0; i < text.length && errors.length < MAX_CHAR_ERRORS; i++) {
    const ch = text.charAt(i);
    if (!isValid(ch)) errors.push(make(ch, offset + i));
  }
  return errors;
}
