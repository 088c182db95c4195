// 政务服务事项编码 (GB/T 39554.1-2020).
//
// Published base codes (基本编码) differ in length and make-up between
// catalogue versions and provinces (e.g. a 10-char provincial 'XK0010100Y',
// a 12-char '000105001000'), so we accept the common envelope only:
// 8-20 characters of 0-9/A-Z, no separators.
//
// Implementation codes (实施编码) seen in published lists are
// '<implementing agency's 18-char USCC><base code>' with no separators. We
// validate the USCC prefix with the full USCC rules, since that is the part
// other systems join on.
//
// We deliberately do NOT recognise a variant with a 12-digit region segment
// between the USCC and the base code: we found no published example to
// justify it, the region is already implied by the agency, and it would be
// ambiguous — 12 digits + base code is itself a valid (longer) base code.
import type { IdentifierError, IdentifierResult } from "./result.js";
import { charErrors, finish, normalise, quote, unwrap } from "./result.js";
import type { UsccValidator } from "./uscc.js";
import { defaultUsccValidator } from "./uscc.js";

export type ItemCodeRule = "item.length" | "item.alphabet";
export type ImplementationCodeRule =
  "implementation.length" | "implementation.alphabet" | "implementation.agency";

export interface ImplementationCode {
  readonly code: string;
  readonly agencyUscc: string;
  readonly baseCode: string;
}

const BASE_MIN = 8;
const BASE_MAX = 20;
const USCC_LENGTH = 18;
const isCodeChar = (ch: string): boolean => /^[0-9A-Z]$/.test(ch);

/** Base item code: /^[0-9A-Z]{8,20}$/ after trimming and upper-casing. */
export function parseItemCode(
  input: string,
): IdentifierResult<string, ItemCodeRule> {
  const code = normalise(input);
  const errors: IdentifierError<ItemCodeRule>[] = [];
  if (code.length < BASE_MIN || code.length > BASE_MAX) {
    errors.push({
      rule: "item.length",
      message: `item base code must be ${BASE_MIN}-${BASE_MAX} characters, found ${code.length}`,
    });
  }
  errors.push(
    ...charErrors<ItemCodeRule>(code, isCodeChar, (ch, position) => ({
      rule: "item.alphabet",
      message: `item base code character at index ${position} must be 0-9 or A-Z, found ${quote(ch)}`,
      position,
    })),
  );
  return finish(errors, code);
}

export function assertItemCode(input: string, field: string): string {
  return unwrap(parseItemCode(input), field);
}

/**
 * Implementation code: 18-char agency USCC + base code (26-38 chars).
 * Pass `uscc` to apply an operator exception list to the agency code.
 */
export function parseImplementationCode(
  input: string,
  options: { uscc?: UsccValidator } = {},
): IdentifierResult<ImplementationCode, ImplementationCodeRule> {
  const code = normalise(input);
  const min = USCC_LENGTH + BASE_MIN;
  const max = USCC_LENGTH + BASE_MAX;
  const errors: IdentifierError<ImplementationCodeRule>[] = [];
  if (code.length < min || code.length > max) {
    errors.push({
      rule: "implementation.length",
      message: `implementation code must be ${min}-${max} characters (18-char agency USCC + ${BASE_MIN}-${BASE_MAX}-char base code), found ${code.length}`,
    });
  }
  errors.push(
    ...charErrors<ImplementationCodeRule>(code, isCodeChar, (ch, position) => ({
      rule: "implementation.alphabet",
      message: `implementation code character at index ${position} must be 0-9 or A-Z, found ${quote(ch)}`,
      position,
    })),
  );
  if (code.length >= USCC_LENGTH) {
    const agency = (options.uscc ?? defaultUsccValidator).validate(
      code.slice(0, USCC_LENGTH),
    );
    if (!agency.ok) {
      for (const inner of agency.errors) {
        errors.push({
          rule: "implementation.agency",
          message: `implementing agency USCC (index 0-17) is invalid [${inner.rule}]: ${inner.message}`,
          ...(inner.position === undefined ? {} : { position: inner.position }),
        });
      }
    }
  }
  return finish(errors, {
    code,
    agencyUscc: code.slice(0, USCC_LENGTH),
    baseCode: code.slice(USCC_LENGTH),
  });
}

export function assertImplementationCode(
  input: string,
  field: string,
  options: { uscc?: UsccValidator } = {},
): ImplementationCode {
  return unwrap(parseImplementationCode(input, options), field);
}
