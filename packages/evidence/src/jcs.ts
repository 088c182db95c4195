import { CanonicalFormError } from "./errors.js";

/**
 * RFC 8785 JSON Canonicalization Scheme (JCS) of a JavaScript value.
 *
 * The value is first read the way `JSON.stringify` reads it, so that the
 * canonical form of an object in memory equals the canonical form of the
 * same object after a JSON round trip through the event store:
 * - `toJSON()` is honoured (a `Date` becomes its ISO string);
 * - object properties whose value is `undefined`, a function or a symbol are
 *   omitted; in arrays such values become `null`;
 * - only own enumerable string-keyed properties count.
 * One deliberate difference: a `bigint` (which `JSON.stringify` rejects)
 * becomes its decimal string, e.g. `12n` → `"12"`.
 *
 * Then JCS proper: object members sorted by their names' UTF-16 code units,
 * no whitespace, strings escaped as ECMAScript `JSON.stringify` does, numbers
 * in ECMAScript `Number.prototype.toString` form (`-0` → `0`, `1e21` → `1e+21`).
 * Values outside I-JSON are errors, never silently altered: `NaN`,
 * `±Infinity`, strings with lone surrogates, and cycles.
 */
export function canonicalize(value: unknown): string {
  let out: string | undefined;
  try {
    out = writeFast(value, 0);
  } catch (error) {
    if (!(error instanceof CanonicalFormError) && error !== TOO_DEEP) throw error;
    // The fast writer keeps no paths: write again, naming where the value is not I-JSON.
    out = write(value, "$", new Set());
  }
  if (out === undefined) throw new CanonicalFormError(`$: ${describe(value)} has no JSON form`);
  return out;
}

/** The UTF-8 bytes of {@link canonicalize}. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), "utf8");
}

// A lone surrogate is the only thing `\p{Surrogate}` can match in a `u` regex
// (paired surrogates are read as one astral code point).
const LONE_SURROGATE = /\p{Surrogate}/u;

// String.prototype.isWellFormed (ES2024, V8 ≥ 11.1: Node 20) is much faster than the regex; the regex is the fallback.
const isWellFormed: (s: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === "function"
    ? (s) => (s as string & { isWellFormed(): boolean }).isWellFormed()
    : (s) => !LONE_SURROGATE.test(s);

function writeString(s: string, path: string): string {
  if (!isWellFormed(s)) throw new CanonicalFormError(`${path}: string contains a lone surrogate (not I-JSON)`);
  // Nothing to escape (the common case): skip JSON.stringify's general path.
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

// What JSON.stringify (and so RFC 8785) escapes in a well-formed string: control characters, quote, backslash.
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\u0000-\u001f"\\]/;

// Thrown by the fast writer past this depth: a cycle, or a value deep enough to go the careful way.
const MAX_FAST_DEPTH = 256;
const TOO_DEEP = Symbol("too deep");

/**
 * write() without paths and cycle bookkeeping: the same output, for the
 * events a verifier canonicalizes by the hundred thousand (building a path
 * string for every member cost as much as the rest). It throws on anything
 * that is not I-JSON, and at MAX_FAST_DEPTH, and canonicalize() then runs
 * write() for the exact error.
 */
function writeFast(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case "string":
      if (!isWellFormed(value)) throw new CanonicalFormError("lone surrogate");
      return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
    case "number":
      if (!Number.isFinite(value)) throw new CanonicalFormError("not a JSON number");
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return `"${value.toString()}"`;
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
    case "object": {
      if (value === null) return "null";
      if (depth >= MAX_FAST_DEPTH) throw TOO_DEEP;
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === "function") return writeFast(toJSON.call(value, ""), depth + 1);
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) out += (i === 0 ? "" : ",") + (writeFast(value[i], depth + 1) ?? "null");
        return `${out}]`;
      }
      return writeFastMembers(value as Record<string, unknown>, depth, undefined);
    }
  }
}

/** The object's own enumerable members (but `omit`), sorted, as writeFast writes an object without toJSON. */
function writeFastMembers(record: Record<string, unknown>, depth: number, omit: string | undefined): string {
  let out = "{";
  let first = true;
  for (const key of Object.keys(record).sort()) {
    if (key === omit) continue;
    const member = writeFast(record[key], depth + 1);
    if (member === undefined) continue;
    if (!isWellFormed(key)) throw new CanonicalFormError("lone surrogate");
    out += `${first ? "" : ","}${NEEDS_ESCAPE.test(key) ? JSON.stringify(key) : `"${key}"`}:${member}`;
    first = false;
  }
  return `${out}}`;
}

/**
 * @internal The canonical text of `value` as a member at `depth` of a larger
 * value, or of `record`'s members without `omit` (what an object copied
 * without that member writes): for writers that assemble a known outer
 * object themselves (canonicalEventJson). They throw where canonicalize
 * would fail, without saying where; the caller then canonicalizes the whole
 * value for the exact error.
 */
export const writeCanonicalMember: (value: unknown, depth: number) => string | undefined = writeFast;
export const writeCanonicalMembers: (record: Record<string, unknown>, depth: number, omit: string) => string = writeFastMembers;

function write(value: unknown, path: string, ancestors: Set<object>): string | undefined {
  switch (typeof value) {
    case "string":
      return writeString(value, path);
    case "number":
      if (!Number.isFinite(value)) throw new CanonicalFormError(`${path}: ${value} is not a JSON number`);
      return JSON.stringify(value); // ECMAScript Number::toString, as RFC 8785 §3.2.2.3 requires; -0 → "0"
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return `"${value.toString()}"`;
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
    case "object": {
      if (value === null) return "null";
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === "function") return write(toJSON.call(value, ""), path, ancestors);
      if (ancestors.has(value)) throw new CanonicalFormError(`${path}: cyclic structure`);
      ancestors.add(value);
      try {
        if (Array.isArray(value)) {
          const items = value.map((item: unknown, i) => write(item, `${path}[${i}]`, ancestors) ?? "null");
          return `[${items.join(",")}]`;
        }
        const record = value as Record<string, unknown>;
        const members: string[] = [];
        // Default sort compares UTF-16 code units, exactly what RFC 8785 §3.2.3 asks for.
        for (const key of Object.keys(record).sort()) {
          const member = write(record[key], `${path}.${key}`, ancestors);
          if (member !== undefined) members.push(`${writeString(key, `${path}.${key}`)}:${member}`);
        }
        return `{${members.join(",")}}`;
      } finally {
        ancestors.delete(value);
      }
    }
  }
}

function describe(value: unknown): string {
  return value === undefined ? "undefined" : typeof value;
}
