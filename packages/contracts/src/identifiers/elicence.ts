// 电子证照标识 (e-licence identifier), GB/T 36904-2018:
//   1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<version>.<check>
// type code [0-9A-Z]{1,30}, issuer = 18-char USCC of the issuing body,
// serial [0-9A-Z]{1,40}, version exactly 3 digits, check one [0-9A-Z].
//
// Check character: ISO 7064 MOD 37,36 over every preceding character of the
// identifier with the '.' separators removed (prefix digits included). The
// dots have to go — they are not in the 0-9A-Z alphabet — so the check guards
// the characters, not the segment boundaries (those are checked structurally).
import type { IdentifierError, IdentifierResult } from "./result.js";
import {
  InvalidIdentifierError,
  finish,
  normalise,
  quote,
  unwrap,
} from "./result.js";
import { mod37_36CheckChar } from "./iso7064.js";
import type { UsccValidator } from "./uscc.js";
import { defaultUsccValidator } from "./uscc.js";

export const ELICENCE_PREFIX = "1.2.156.3005.2";

export type ElicenceRule =
  | "elicence.prefix"
  | "elicence.segments"
  | "elicence.type"
  | "elicence.issuer"
  | "elicence.serial"
  | "elicence.version"
  | "elicence.check";

export interface ElicenceId {
  /** Full normalised identifier. */
  readonly id: string;
  readonly typeCode: string;
  readonly issuerUscc: string;
  readonly serial: string;
  readonly version: string;
  readonly check: string;
}

export interface ElicenceParts {
  readonly typeCode: string;
  readonly issuerUscc: string;
  readonly serial: string;
  /** 3 digits; a number is zero-padded (1 → '001'). */
  readonly version: string | number;
}

interface Options {
  /** Validator for the issuer USCC, e.g. one carrying an exception list. */
  readonly uscc?: UsccValidator;
}

/** Check character for an identifier up to and including its version segment. */
export function computeElicenceCheck(withoutCheck: string): string {
  return mod37_36CheckChar(withoutCheck.replaceAll(".", ""));
}

/** Rules for the four body segments; `at` holds each segment's index in the full id. */
function segmentErrors(
  segments: readonly [
    typeCode: string,
    issuer: string,
    serial: string,
    version: string,
  ],
  at: readonly number[],
  uscc: UsccValidator,
): IdentifierError<ElicenceRule>[] {
  const [typeCode, issuer, serial, version] = segments;
  const errors: IdentifierError<ElicenceRule>[] = [];
  const shape = (
    rule: ElicenceRule,
    value: string,
    pattern: RegExp,
    index: number,
    expected: string,
  ): void => {
    if (!pattern.test(value)) {
      errors.push({
        rule,
        message: `${expected}, found '${value}'`,
        position: at[index] ?? 0,
      });
    }
  };
  shape(
    "elicence.type",
    typeCode,
    /^[0-9A-Z]{1,30}$/,
    0,
    "licence type code must be 1-30 characters of 0-9/A-Z",
  );
  const issuerAt = at[1] ?? 0;
  // The USCC validator trims input; inside an identifier no whitespace is allowed.
  const issuerResult = /\s/.test(issuer) ? undefined : uscc.validate(issuer);
  if (issuerResult === undefined) {
    errors.push({
      rule: "elicence.issuer",
      message: `issuer USCC must not contain whitespace, found '${issuer}'`,
      position: issuerAt,
    });
  } else if (!issuerResult.ok) {
    for (const inner of issuerResult.errors) {
      errors.push({
        rule: "elicence.issuer",
        message: `issuer USCC is invalid [${inner.rule}]: ${inner.message}`,
        position: issuerAt + (inner.position ?? 0),
      });
    }
  }
  shape(
    "elicence.serial",
    serial,
    /^[0-9A-Z]{1,40}$/,
    2,
    "serial must be 1-40 characters of 0-9/A-Z",
  );
  shape(
    "elicence.version",
    version,
    /^[0-9]{3}$/,
    3,
    "version must be exactly 3 digits",
  );
  return errors;
}

/** Start index of each '.'-separated segment in `id`. */
function segmentStarts(segments: readonly string[], from: number): number[] {
  const starts: number[] = [];
  let pos = from;
  for (const s of segments) {
    starts.push(pos);
    pos += s.length + 1;
  }
  return starts;
}

export function parseElicenceId(
  input: string,
  options: Options = {},
): IdentifierResult<ElicenceId, ElicenceRule> {
  const id = normalise(input);
  if (!id.startsWith(`${ELICENCE_PREFIX}.`)) {
    const found = id.slice(0, ELICENCE_PREFIX.length + 1);
    return {
      ok: false,
      errors: [
        {
          rule: "elicence.prefix",
          message: `e-licence identifier must start with '${ELICENCE_PREFIX}.', found '${found}'`,
          position: 0,
        },
      ],
    };
  }
  const segments = id.slice(ELICENCE_PREFIX.length + 1).split(".");
  const [typeCode, issuerUscc, serial, version, check] = segments;
  if (
    segments.length !== 5 ||
    typeCode === undefined ||
    issuerUscc === undefined ||
    serial === undefined ||
    version === undefined ||
    check === undefined
  ) {
    const message = `e-licence identifier must have 5 '.'-separated segments after '${ELICENCE_PREFIX}' (type, issuer USCC, serial, version, check), found ${segments.length}`;
    return { ok: false, errors: [{ rule: "elicence.segments", message }] };
  }
  const at = segmentStarts(segments, ELICENCE_PREFIX.length + 1);
  const errors = segmentErrors(
    [typeCode, issuerUscc, serial, version],
    at,
    options.uscc ?? defaultUsccValidator,
  );

  const body = id.slice(0, id.length - check.length - 1);
  const checkAt = at[4] ?? 0;
  if (!/^[0-9A-Z]$/.test(check)) {
    errors.push({
      rule: "elicence.check",
      message: `check must be one character of 0-9/A-Z, found '${check}'`,
      position: checkAt,
    });
  } else if (/^[0-9A-Z]+$/.test(body.replaceAll(".", ""))) {
    // Computable whenever the body is in the alphabet, so a typo is reported
    // here as well as by the segment rule it breaks.
    const expected = computeElicenceCheck(body);
    if (check !== expected) {
      errors.push({
        rule: "elicence.check",
        message: `check character must be '${expected}' (ISO 7064 MOD 37,36), found ${quote(check)}`,
        position: checkAt,
      });
    }
  }
  return finish(errors, { id, typeCode, issuerUscc, serial, version, check });
}

export function assertElicenceId(
  input: string,
  field: string,
  options: Options = {},
): ElicenceId {
  return unwrap(parseElicenceId(input, options), field);
}

/** Assemble an identifier and its check; throws InvalidIdentifierError (field 'elicenceId' unless given). */
export function buildElicenceId(
  parts: ElicenceParts,
  options: Options & { readonly field?: string } = {},
): string {
  const typeCode = normalise(parts.typeCode);
  const issuer = normalise(parts.issuerUscc);
  const serial = normalise(parts.serial);
  const version =
    typeof parts.version === "number"
      ? String(parts.version).padStart(3, "0")
      : normalise(parts.version);
  const segments = [typeCode, issuer, serial, version] as const;
  const [first, ...rest] = segmentErrors(
    segments,
    segmentStarts(segments, ELICENCE_PREFIX.length + 1),
    options.uscc ?? defaultUsccValidator,
  );
  if (first)
    throw new InvalidIdentifierError(options.field ?? "elicenceId", [
      first,
      ...rest,
    ]);
  const body = [ELICENCE_PREFIX, ...segments].join(".");
  return `${body}.${computeElicenceCheck(body)}`;
}
