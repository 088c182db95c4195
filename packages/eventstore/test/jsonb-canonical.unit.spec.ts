import { canonicalize } from "@shenguan/evidence";
import { describe, expect, it } from "vitest";
import { canonicalJsonOfJsonb } from "../src/evidence/jsonb-canonical.js";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * jsonb's text output as PostgreSQL writes it (jsonb_out): keys by length, then bytes (UTF-8);
 * ", " and ": " between items; strings escaped as JSON.stringify does; numbers as their numeric
 * text (here: `number` as JavaScript writes it, or a given numeric text). The int test checks
 * the same against the server itself.
 */
function pgText(value: Json | { readonly numeric: string }): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if ("numeric" in value && typeof value.numeric === "string") return value.numeric;
  if (Array.isArray(value)) return `[${value.map(pgText).join(", ")}]`;
  const keys = Object.keys(value).sort((a, b) => {
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    return x.length - y.length || Buffer.compare(x, y);
  });
  return `{${keys.map((k) => `${JSON.stringify(k)}: ${pgText((value as Record<string, Json>)[k]!)}`).join(", ")}}`;
}

/** A deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const ALPHABET = ["a", "B", "z", "0", " ", "é", "经", "营", "😀", "\ufb33", "\u0080", "\u007f", "/", "'", "\u2028"];
const AWKWARD = ['"', "\\", "\n", "\t", "\u0001", "\u001f", "\b", "\f", "\r"];

function generate(next: () => number, depth: number): Json {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const text = (awkward: boolean) =>
    Array.from({ length: Math.floor(next() * 8) }, () => (awkward && next() < 0.2 ? pick(AWKWARD) : pick(ALPHABET))).join("");
  const r = next();
  if (depth > 3 || r < 0.5) {
    const kind = Math.floor(next() * 7);
    if (kind === 0) return null;
    if (kind === 1) return next() < 0.5;
    if (kind === 2) return Math.floor((next() - 0.5) * 10 ** Math.floor(next() * 18));
    if (kind === 3) return Number(((next() - 0.5) * 10 ** Math.floor(next() * 8)).toPrecision(1 + Math.floor(next() * 16)));
    if (kind === 4) return next() * 10 ** -Math.floor(next() * 9);
    return text(kind === 6);
  }
  if (r < 0.7) return Array.from({ length: Math.floor(next() * 4) }, () => generate(next, depth + 1));
  const object: Record<string, Json> = {};
  for (let i = Math.floor(next() * 6); i > 0; i--) object[text(next() < 0.1)] = generate(next, depth + 1);
  return object;
}

describe("canonicalJsonOfJsonb", () => {
  it("is canonicalize(JSON.parse(text)) for PostgreSQL's text of random values, or leaves them to that", () => {
    const next = random(20_261_122);
    let vouched = 0;
    for (let i = 0; i < 5000; i++) {
      const text = pgText(generate(next, 0));
      const fast = canonicalJsonOfJsonb(text);
      if (fast !== undefined) {
        vouched++;
        expect(fast, text).toBe(canonicalize(JSON.parse(text)));
      }
    }
    // Most values take the fast way (those that do not: escaped keys, awkward numbers).
    expect(vouched).toBeGreaterThan(3000);
  });

  it("writes events' data and metadata as canonicalize does", () => {
    const data = { seq: 4992, caseId: "licence-case-BENCH-4992", findings: "经营场所与许可一致", licenceId: "JY13501020004992", fee: 12.5 };
    const metadata = {
      department: "SPJ-350100",
      causationId: null,
      correlationId: "corr-4992",
      tags: ["a", "b"],
      nested: { z: [], a: {} },
    };
    for (const value of [data, metadata]) expect(canonicalJsonOfJsonb(pgText(value))).toBe(canonicalize(value));
  });

  it.each([
    ["0", "0"],
    ["-12", "-12"],
    ["12.5", "12.5"],
    ["-0.5", "-0.5"],
    ["0.000001", "0.000001"],
    ["123456789012345", "123456789012345"],
    ["0.123456789012345", "0.123456789012345"],
  ])("keeps the number %s (its ECMAScript form is its text)", (text, expected) => {
    expect(canonicalJsonOfJsonb(text)).toBe(expected);
    expect(String(JSON.parse(text))).toBe(expected);
  });

  it.each([
    ["a trailing zero", "1.50"],
    ["a zero fraction", "0.0"],
    ["-0", "-0"],
    ["below 1e-6", "0.0000001"],
    ["16 significant digits", "1234567890123456"],
    ["an exponent", "1e21"],
    ["a leading zero", "012"],
    ["no digits after the point", "1."],
    ["an escaped key", '{"a\\nb": 1}'],
    ["an escape JSON.stringify does not write", '"\\u0041"'],
    ["an uppercase \\u escape", '"\\u001F"'],
    ["a \\u escape that has a short form", '"\\u000a"'],
    ["a raw control character", '"a\u0001b"'],
    ["a lone surrogate", '"\ud800"'],
    ["a repeated key", '{"a": 1, "a": 2}'],
    ["a tab between items", '{"a":\t1}'],
    ["text after the value", "1 2"],
    ["an unclosed object", '{"a": 1'],
    ["nothing", ""],
    ["deep nesting", `${"[".repeat(200)}${"]".repeat(200)}`],
  ])("leaves to the general path: %s", (_name, text) => {
    expect(canonicalJsonOfJsonb(text)).toBeUndefined();
  });

  it("keeps escapes JSON.stringify writes, and sorts keys by UTF-16 code units", () => {
    const value = { "\ufb33": 1, "😀": 2, "€": 3, é: 4, "1": 5, "10": 6, "9": 7, b: 'q"\\/\n\t\u0001\u001f\u007f' };
    expect(canonicalJsonOfJsonb(pgText(value))).toBe(canonicalize(value));
  });
});
