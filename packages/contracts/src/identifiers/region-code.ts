// 行政区划代码, GB/T 2260: 6 digits (province 2 + prefecture 2 + county 2),
// or the 12-digit statistical form that appends township (3) + village (3).
import type { IdentifierResult } from "./result.js";
import { charErrors, finish, normalise, quote, unwrap } from "./result.js";

export type RegionCodeRule =
  "region.length" | "region.digits" | "region.province";

function range(from: number, to: number): string[] {
  return Array.from({ length: to - from + 1 }, (_, i) => String(from + i));
}

/** Province-level prefixes in GB/T 2260 (incl. 71 Taiwan, 81 Hong Kong, 82 Macao). */
export const PROVINCE_PREFIXES: ReadonlySet<string> = new Set([
  ...range(11, 15),
  ...range(21, 23),
  ...range(31, 37),
  ...range(41, 46),
  ...range(50, 54),
  ...range(61, 65),
  "71",
  "81",
  "82",
]);

export function validateRegionCode(
  input: string,
): IdentifierResult<string, RegionCodeRule> {
  const code = normalise(input);
  const errors = charErrors<RegionCodeRule>(
    code,
    (ch) => /^[0-9]$/.test(ch),
    (ch, position) => ({
      rule: "region.digits",
      message: `region code must contain digits only (GB/T 2260), found ${quote(ch)} at index ${position}`,
      position,
    }),
  );
  if (code.length !== 6 && code.length !== 12) {
    errors.push({
      rule: "region.length",
      message: `region code must be 6 or 12 digits (GB/T 2260), found ${code.length} characters`,
    });
  }
  const province = code.slice(0, 2);
  if (/^[0-9]{2}$/.test(province) && !PROVINCE_PREFIXES.has(province)) {
    errors.push({
      rule: "region.province",
      message: `region code must start with a GB/T 2260 province code (11-15, 21-23, 31-37, 41-46, 50-54, 61-65, 71, 81, 82), found '${province}'`,
      position: 0,
    });
  }
  return finish(errors, code);
}

export function assertRegionCode(input: string, field: string): string {
  return unwrap(validateRegionCode(input), field);
}

/**
 * The province-level GB/T 2260 code, e.g. '440305001002' → '440000'. Returned
 * in 6-digit form so it is itself a valid region code (province part = first 2).
 * Throws InvalidIdentifierError for an invalid code.
 */
export function provinceOf(code: string, field = "regionCode"): string {
  return `${assertRegionCode(code, field).slice(0, 2)}0000`;
}

/** 6-digit county-level form: a 12-digit code loses its township/village part. */
export function toSixDigit(code: string, field = "regionCode"): string {
  return assertRegionCode(code, field).slice(0, 6);
}
