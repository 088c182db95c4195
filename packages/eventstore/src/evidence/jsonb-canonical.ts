/**
 * The RFC 8785 form of a jsonb value straight from the text PostgreSQL
 * prints for it, without parsing it into objects: what a log verifier does
 * for every event's data and metadata, where JSON.parse and canonicalize
 * cost more than the hashing (~2.7 µs an event against ~2 µs). PostgreSQL
 * prints jsonb in one fixed form (`{"k": v, "k2": v2}`, keys ordered by
 * length then bytes, strings escaped the way JSON.stringify escapes them),
 * so the canonical form is the same text with the separators' spaces
 * dropped, each object's members sorted by UTF-16 code units, and numbers
 * in ECMAScript form.
 *
 * Only text this reader can vouch for gets through; anything else gives
 * undefined, and the caller parses and canonicalizes (canonicalEventJson):
 * a string with an escape other than JSON.stringify's own (or a control
 * character, or a lone surrogate: PostgreSQL allows neither), a key with an
 * escape (its sort order would need unescaping), a repeated key, a number
 * whose ECMAScript form is not its text (trailing zeros, more than 15
 * significant digits, an exponent, below 1e-6, -0), nesting past MAX_DEPTH,
 * or any other deviation from that form.
 */

const MAX_DEPTH = 128;

/** canonicalize(JSON.parse(jsonb)) for `jsonb` as PostgreSQL prints a jsonb value, or undefined (see the module comment). */
export function canonicalJsonOfJsonb(jsonb: string): string | undefined {
  const reader = new JsonbReader(jsonb);
  const value = reader.value(0);
  return value !== undefined && reader.at === jsonb.length ? value : undefined;
}

// The position lives on an instance rather than in module variables: V8 keeps it in registers
// then, and compiles this several times faster (which each worker thread pays for).
class JsonbReader {
  at = 0;

  constructor(private readonly text: string) {}

  value(depth: number): string | undefined {
    const c = this.text.charCodeAt(this.at);
    if (c === 0x22) return this.string(true);
    if (c === 0x7b) return this.object(depth);
    if (c === 0x5b) return this.array(depth);
    if (c === 0x74) return this.literal("true");
    if (c === 0x66) return this.literal("false");
    if (c === 0x6e) return this.literal("null");
    return this.number();
  }

  private spaces(): void {
    while (this.text.charCodeAt(this.at) === 0x20) this.at++;
  }

  private literal(word: string): string | undefined {
    if (!this.text.startsWith(word, this.at)) return undefined;
    this.at += word.length;
    return word;
  }

  /** The string token at the opening quote, as it stands when it is in JSON.stringify's form; without `escapes`, none allowed. */
  private string(escapes: boolean): string | undefined {
    const text = this.text;
    const start = this.at;
    let at = start + 1;
    for (;;) {
      const c = text.charCodeAt(at);
      if (c === 0x22) {
        this.at = at + 1;
        return text.slice(start, at + 1);
      }
      if (c === 0x5c) {
        if (!escapes) return undefined;
        const e = text.charCodeAt(at + 1);
        if (e === 0x22 || e === 0x5c || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
          at += 2;
          continue;
        }
        // \u00XX, lowercase hex, for the control characters without a short escape: JSON.stringify's choice.
        if (e !== 0x75 || text.charCodeAt(at + 2) !== 0x30 || text.charCodeAt(at + 3) !== 0x30) return undefined;
        const hi = text.charCodeAt(at + 4);
        const lo = text.charCodeAt(at + 5);
        const low = lo >= 0x30 && lo <= 0x39 ? lo - 0x30 : lo >= 0x61 && lo <= 0x66 ? lo - 0x57 : -1;
        if ((hi !== 0x30 && hi !== 0x31) || low < 0) return undefined;
        const code = (hi - 0x30) * 16 + low;
        if (code === 0x08 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d) return undefined;
        at += 6;
        continue;
      }
      // A control character (unescaped), or the end of the text (NaN).
      if (!(c >= 0x20)) return undefined;
      if (c >= 0xd800 && c <= 0xdfff) {
        // Only a high surrogate followed by a low one: a lone surrogate has no canonical form.
        const next = text.charCodeAt(at + 1);
        if (c >= 0xdc00 || !(next >= 0xdc00 && next <= 0xdfff)) return undefined;
        at += 2;
        continue;
      }
      at++;
    }
  }

  /**
   * A number token whose ECMAScript form is its text: -?(0|[1-9]…)(.…[1-9])? with at most 15
   * significant digits (each such decimal is its double's shortest form), not -0, and no smaller
   * than 1e-6 unless 0 (ECMAScript writes those with an exponent).
   */
  private number(): string | undefined {
    const text = this.text;
    const start = this.at;
    let at = start;
    const negative = text.charCodeAt(at) === 0x2d;
    if (negative) at++;
    const intStart = at;
    while (isDigit(text.charCodeAt(at))) at++;
    const intDigits = at - intStart;
    const zeroInt = intDigits === 1 && text.charCodeAt(intStart) === 0x30;
    if (intDigits === 0 || (intDigits > 1 && text.charCodeAt(intStart) === 0x30)) return undefined;
    let significant = zeroInt ? 0 : intDigits;
    if (text.charCodeAt(at) === 0x2e) {
      const fracStart = ++at;
      while (isDigit(text.charCodeAt(at))) at++;
      if (at === fracStart || text.charCodeAt(at - 1) === 0x30) return undefined; // no digits, or trailing zeros
      if (zeroInt) {
        let zeros = 0;
        while (text.charCodeAt(fracStart + zeros) === 0x30) zeros++;
        if (zeros > 5) return undefined;
        significant = at - fracStart - zeros;
      } else significant += at - fracStart;
    } else if (zeroInt && negative) {
      return undefined;
    }
    const c = text.charCodeAt(at);
    if (significant > 15 || c === 0x65 || c === 0x45) return undefined;
    this.at = at;
    return text.slice(start, at);
  }

  private array(depth: number): string | undefined {
    if (depth >= MAX_DEPTH) return undefined;
    this.at++;
    this.spaces();
    if (this.text.charCodeAt(this.at) === 0x5d) {
      this.at++;
      return "[]";
    }
    let out = "[";
    for (;;) {
      const item = this.value(depth + 1);
      if (item === undefined) return undefined;
      out += item;
      this.spaces();
      const c = this.text.charCodeAt(this.at++);
      if (c === 0x5d) return `${out}]`;
      if (c !== 0x2c) return undefined;
      out += ",";
      this.spaces();
    }
  }

  private object(depth: number): string | undefined {
    if (depth >= MAX_DEPTH) return undefined;
    this.at++;
    this.spaces();
    if (this.text.charCodeAt(this.at) === 0x7d) {
      this.at++;
      return "{}";
    }
    // Members kept sorted as they come (insertion sort: objects are small), by key: without escapes,
    // a key is its token's content, compared by UTF-16 code units as RFC 8785 sorts.
    const keys: string[] = [];
    const items: string[] = [];
    for (;;) {
      if (this.text.charCodeAt(this.at) !== 0x22) return undefined;
      const key = this.string(false);
      if (key === undefined) return undefined;
      this.spaces();
      if (this.text.charCodeAt(this.at++) !== 0x3a) return undefined;
      this.spaces();
      const item = this.value(depth + 1);
      if (item === undefined) return undefined;
      let i = keys.length;
      while (i > 0 && after(keys[i - 1]!, key)) {
        keys[i] = keys[i - 1]!;
        items[i] = items[i - 1]!;
        i--;
      }
      // A repeated key: JSON.parse keeps the last one; not PostgreSQL's form.
      if (i > 0 && keys[i - 1] === key) return undefined;
      keys[i] = key;
      items[i] = item;
      this.spaces();
      const c = this.text.charCodeAt(this.at++);
      if (c === 0x7d) break;
      if (c !== 0x2c) return undefined;
      this.spaces();
    }
    let out = `{${keys[0]!}:${items[0]!}`;
    for (let i = 1; i < keys.length; i++) out += `,${keys[i]!}:${items[i]!}`;
    return `${out}}`;
  }
}

/** Whether key token `a` sorts after key token `b` (tokens of keys without escapes: their content between the quotes). */
function after(a: string, b: string): boolean {
  const aEnd = a.length - 1;
  const bEnd = b.length - 1;
  for (let i = 1; ; i++) {
    if (i === aEnd) return false;
    if (i === bEnd) return true;
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d > 0;
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
