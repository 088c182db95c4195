import { hash } from "node:crypto";

/**
 * SM3 (GB/T 32905-2016) over the concatenation of `parts`.
 *
 * Short messages (Merkle leaves and nodes: one or two 64-byte blocks) are
 * hashed in JavaScript: a verifier hashes two of them per event, and for so
 * little input Node's createHash spends more on setting up an OpenSSL context
 * than on hashing (≈1.7× slower for a 33-byte leaf). Longer ones (chain links
 * over an event's canonical bytes) go to OpenSSL in one call (crypto.hash),
 * whose per-byte speed wins past a couple of blocks. Both give the same
 * digest (sm3.unit.spec.ts checks one against the other at every length).
 */
export function sm3(...parts: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const p of parts) total += p.length;
  if (total > JS_LIMIT) return hash("sm3", parts.length === 1 ? parts[0]! : Buffer.concat(parts, total), "buffer");
  return sm3Js(parts, total);
}

/** The hash before the first event of every stream and before the first seal: 32 zero bytes. */
export const GENESIS_HASH = "0".repeat(64);

/** Longest message hashed in JavaScript (a Merkle node is 65 bytes); above it OpenSSL's speed per byte wins. */
const JS_LIMIT = 128;

const IV = Int32Array.of(0x7380166f, 0x4914b2b9, 0x172442d7, 0xda8a0600, 0xa96f30bc, 0x163138aa, 0xe38dee4d, 0xb0fb0e4e);
/** T_j <<< (j mod 32), the round constants. */
const T = new Int32Array(64);
for (let j = 0; j < 64; j++) {
  const t = j < 16 ? 0x79cc4519 : 0x7a879d8a;
  const r = j % 32;
  T[j] = r === 0 ? t : (t << r) | (t >>> (32 - r));
}
// Scratch state: hashing is synchronous, so one set per thread suffices.
const W = new Int32Array(68);
const V = new Int32Array(8);

function compress(b: Uint8Array, o: number): void {
  for (let i = 0; i < 16; i++, o += 4) W[i] = (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
  for (let j = 16; j < 68; j++) {
    const w3 = W[j - 3]!;
    let x = W[j - 16]! ^ W[j - 9]! ^ ((w3 << 15) | (w3 >>> 17));
    x = x ^ ((x << 15) | (x >>> 17)) ^ ((x << 23) | (x >>> 9));
    const w13 = W[j - 13]!;
    W[j] = x ^ ((w13 << 7) | (w13 >>> 25)) ^ W[j - 6]!;
  }
  let a = V[0]!;
  let bb = V[1]!;
  let c = V[2]!;
  let d = V[3]!;
  let e = V[4]!;
  let f = V[5]!;
  let g = V[6]!;
  let h = V[7]!;
  // Rounds 0–15 and 16–63 differ only in FF and GG: two loops, no test per round.
  for (let j = 0; j < 16; j++) {
    const a12 = (a << 12) | (a >>> 20);
    const s = (a12 + e + T[j]!) | 0;
    const ss1 = (s << 7) | (s >>> 25);
    const w = W[j]!;
    const tt1 = ((a ^ bb ^ c) + d + (ss1 ^ a12) + (w ^ W[j + 4]!)) | 0;
    const tt2 = ((e ^ f ^ g) + h + ss1 + w) | 0;
    d = c;
    c = (bb << 9) | (bb >>> 23);
    bb = a;
    a = tt1;
    h = g;
    g = (f << 19) | (f >>> 13);
    f = e;
    e = tt2 ^ ((tt2 << 9) | (tt2 >>> 23)) ^ ((tt2 << 17) | (tt2 >>> 15));
  }
  for (let j = 16; j < 64; j++) {
    const a12 = (a << 12) | (a >>> 20);
    const s = (a12 + e + T[j]!) | 0;
    const ss1 = (s << 7) | (s >>> 25);
    const w = W[j]!;
    const tt1 = (((a & bb) | (a & c) | (bb & c)) + d + (ss1 ^ a12) + (w ^ W[j + 4]!)) | 0;
    const tt2 = (((e & f) | (~e & g)) + h + ss1 + w) | 0;
    d = c;
    c = (bb << 9) | (bb >>> 23);
    bb = a;
    a = tt1;
    h = g;
    g = (f << 19) | (f >>> 13);
    f = e;
    e = tt2 ^ ((tt2 << 9) | (tt2 >>> 23)) ^ ((tt2 << 17) | (tt2 >>> 15));
  }
  V[0]! ^= a;
  V[1]! ^= bb;
  V[2]! ^= c;
  V[3]! ^= d;
  V[4]! ^= e;
  V[5]! ^= f;
  V[6]! ^= g;
  V[7]! ^= h;
}

// Room for the longest message hashed in JavaScript and its padding (at most 72 more bytes).
const MESSAGE = new Uint8Array(JS_LIMIT + 72);

function sm3Js(parts: readonly Uint8Array[], total: number): Buffer {
  let at = 0;
  for (const p of parts) {
    MESSAGE.set(p, at);
    at += p.length;
  }
  const out = Buffer.allocUnsafe(32);
  digestPadded(MESSAGE, total, out, 0);
  return out;
}

/**
 * @internal SM3 of message[0, length) (length ≤ 128) into out[at, at + 32),
 * allocating nothing: for Merkle trees, whose every node is a 33- or 65-byte
 * message. The message buffer is padded in place, so it needs room up to the
 * next multiple of 64 past length + 8, and its bytes after length are clobbered.
 */
export function sm3Into(message: Uint8Array, length: number, out: Uint8Array, at: number): void {
  if (length > JS_LIMIT) throw new RangeError(`sm3Into hashes at most ${JS_LIMIT} bytes, got ${length}`);
  digestPadded(message, length, out, at);
}

function digestPadded(message: Uint8Array, length: number, out: Uint8Array, at: number): void {
  // Padding to whole blocks: 0x80, zeros, the length in bits as 64-bit big-endian (its high half 0 here).
  const end = (((length + 8) >>> 6) + 1) << 6;
  message[length] = 0x80;
  message.fill(0, length + 1, end - 4);
  const bits = length * 8;
  message[end - 4] = bits >>> 24;
  message[end - 3] = bits >>> 16;
  message[end - 2] = bits >>> 8;
  message[end - 1] = bits;
  V.set(IV);
  for (let o = 0; o < end; o += 64) compress(message, o);
  for (let i = 0; i < 8; i++) {
    const v = V[i]!;
    out[at++] = v >>> 24;
    out[at++] = v >>> 16;
    out[at++] = v >>> 8;
    out[at++] = v;
  }
}
