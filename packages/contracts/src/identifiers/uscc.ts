// 统一社会信用代码 (USCC), GB 32100-2015.
//
// Layout (0-based index): 0 registration authority, 1 organisation type,
// 2-7 region code (GB/T 2260), 8-16 organisation code (GB 11714: 8 body
// chars + its own check at 16), 17 check character (mod 31).
import { readFile } from "node:fs/promises";
import type {
  IdentifierError,
  IdentifierFailure,
  IdentifierOk,
} from "./result.js";
import {
  InvalidIdentifierError,
  charErrors,
  finish,
  normalise,
  quote,
  unwrap,
} from "./result.js";

/** Code alphabet; a character's value is its index. No I, O, S, V, Z. */
export const USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_VALUE = new Map([...USCC_ALPHABET].map((ch, i) => [ch, i] as const));
const USCC_WEIGHTS = [
  1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
] as const;
const ORG_CODE_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2] as const;

export type UsccRule =
  | "uscc.length"
  | "uscc.whitespace"
  | "uscc.alphabet"
  | "uscc.region"
  | "uscc.org-code-check"
  | "uscc.check-char";

/** `exception: true` marks a code that fails the algorithm but is on the operator's exception list. */
export type UsccResult =
  | (IdentifierOk<string> & { readonly exception?: true })
  | IdentifierFailure<UsccRule>;

export interface UsccValidator {
  validate(input: string): UsccResult;
  /** Returns the normalised code or throws InvalidIdentifierError tagged with `field`. */
  assert(input: string, field: string): string;
  readonly exceptions: ReadonlySet<string>;
}

/** Check character (index 17) for the first 17 characters. */
export function computeUsccCheckChar(first17: string): string {
  if (first17.length !== 17)
    throw new RangeError(`expected 17 characters, got ${first17.length}`);
  let sum = 0;
  USCC_WEIGHTS.forEach((weight, i) => {
    const value = USCC_VALUE.get(first17.charAt(i));
    if (value === undefined)
      throw new RangeError(
        `${quote(first17.charAt(i))} is not in the USCC alphabet`,
      );
    sum += value * weight;
  });
  return USCC_ALPHABET.charAt((31 - (sum % 31)) % 31);
}

// GB 11714 values digits 0-9 and the full Latin alphabet A=10..Z=35 — NOT the
// USCC alphabet index. The GB 32100 example 91350100M000100Y43 happens to pass
// either way, but real codes with letters in the body (e.g. 91440300MA5…)
// only pass with the GB 11714 values.
function orgCodeValue(ch: string): number | undefined {
  if (/^[0-9]$/.test(ch)) return Number(ch);
  if (/^[A-Z]$/.test(ch)) return ch.charCodeAt(0) - 55;
  return undefined;
}

/** GB 11714 organisation-code check character for its 8 body characters. */
export function computeOrgCodeCheckChar(body8: string): string {
  if (body8.length !== 8)
    throw new RangeError(`expected 8 characters, got ${body8.length}`);
  let sum = 0;
  ORG_CODE_WEIGHTS.forEach((weight, i) => {
    const value = orgCodeValue(body8.charAt(i));
    if (value === undefined)
      throw new RangeError(
        `${quote(body8.charAt(i))} is not an organisation-code character`,
      );
    sum += value * weight;
  });
  const check = 11 - (sum % 11);
  return check === 10 ? "X" : check === 11 ? "0" : String(check);
}

/** Length and character-set rules: the minimum even exception-listed codes must meet. */
function shapeErrors(code: string): IdentifierError<UsccRule>[] {
  const errors: IdentifierError<UsccRule>[] = [];
  if (code.length !== 18) {
    errors.push({
      rule: "uscc.length",
      message: `USCC must be 18 characters (GB 32100-2015), found ${code.length}`,
    });
  }
  errors.push(
    ...charErrors<UsccRule>(
      code,
      (ch) => !/\s/.test(ch),
      (ch, position) => ({
        rule: "uscc.whitespace",
        message: `USCC must not contain whitespace, found ${quote(ch)} at index ${position}`,
        position,
      }),
    ),
    ...charErrors<UsccRule>(
      code,
      (ch) => /\s/.test(ch) || USCC_VALUE.has(ch),
      (ch, position) => ({
        rule: "uscc.alphabet",
        message: `USCC character at index ${position} must be a digit or one of ABCDEFGHJKLMNPQRTUWXY (GB 32100-2015 excludes I, O, S, V, Z), found ${quote(ch)}`,
        position,
      }),
    ),
  );
  return errors;
}

/** Algorithmic rules; only meaningful once the shape is right. Each failure is reported. */
function algorithmErrors(code: string): IdentifierError<UsccRule>[] {
  const errors: IdentifierError<UsccRule>[] = [];
  // Digits only, not the province set: central-level codes use region 100000
  // (e.g. Bank of China 911000001000013428), which is not a GB/T 2260 code.
  const region = code.slice(2, 8);
  const badRegion = region.search(/\D/);
  if (badRegion !== -1) {
    errors.push({
      rule: "uscc.region",
      message: `region code (index 2-7) must be 6 digits (GB/T 2260), found '${region}'`,
      position: 2 + badRegion,
    });
  }
  const orgExpected = computeOrgCodeCheckChar(code.slice(8, 16));
  if (code.charAt(16) !== orgExpected) {
    errors.push({
      rule: "uscc.org-code-check",
      message: `organisation code check character (index 16) must be '${orgExpected}' (GB 11714 mod-11), found '${code.charAt(16)}'`,
      position: 16,
    });
  }
  const expected = computeUsccCheckChar(code.slice(0, 17));
  if (code.charAt(17) !== expected) {
    errors.push({
      rule: "uscc.check-char",
      message: `check character must be '${expected}' (GB 32100-2015 mod-31), found '${code.charAt(17)}'`,
      position: 17,
    });
  }
  return errors;
}

/** Normalise and shape-check one exception entry; throws so bad config fails at startup. */
function exceptionEntry(raw: string, field: string): string {
  const code = normalise(raw);
  const [first, ...rest] = shapeErrors(code);
  if (first) throw new InvalidIdentifierError(field, [first, ...rest]);
  return code;
}

/**
 * Validator with an operator-maintained exception list: some pilot-era codes
 * fail the check algorithms yet are legally issued. Listed codes must still be
 * 18 characters from the USCC alphabet.
 */
export function createUsccValidator(
  options: { exceptions?: Iterable<string> } = {},
): UsccValidator {
  const exceptions = new Set<string>();
  let i = 0;
  for (const raw of options.exceptions ?? [])
    exceptions.add(exceptionEntry(raw, `exceptions[${i++}]`));

  const validate = (input: string): UsccResult => {
    const code = normalise(input);
    const shape = shapeErrors(code);
    if (shape.length > 0) return finish(shape, code);
    const errors = algorithmErrors(code);
    if (errors.length > 0 && exceptions.has(code))
      return { ok: true, value: code, exception: true };
    return finish(errors, code);
  };
  return {
    validate,
    assert: (input, field) => unwrap(validate(input), field),
    exceptions,
  };
}

/**
 * Parse exception-list file content: one code per line, `#` starts a comment,
 * blank lines ignored. Throws InvalidIdentifierError naming the line on a
 * malformed entry (a silently ignored typo would never match anything).
 */
export function parseUsccExceptionList(content: string): string[] {
  return content
    .split(/\r?\n/)
    .map((line, i) => ({
      text: line.replace(/#.*/, ""),
      field: `USCC exception list line ${i + 1}`,
    }))
    .filter(({ text }) => text.trim() !== "")
    .map(({ text, field }) => exceptionEntry(text, field));
}

/** Thin node:fs wrapper around parseUsccExceptionList. */
export async function readUsccExceptionListFile(
  path: string | URL,
): Promise<string[]> {
  return parseUsccExceptionList(await readFile(path, "utf8"));
}

/** Validator with an empty exception list. */
export const defaultUsccValidator: UsccValidator = createUsccValidator();

export function validateUscc(input: string): UsccResult {
  return defaultUsccValidator.validate(input);
}

export function assertUscc(input: string, field: string): string {
  return defaultUsccValidator.assert(input, field);
}
