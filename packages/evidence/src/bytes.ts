/** Byte helpers: every hash and key id crosses JSON as lowercase hex, every signature as base64. */

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

const HEX = /^(?:[0-9a-f]{2})*$/;

/** Lowercase hex only: two spellings of one hash must not both be accepted. */
export function fromHex(hex: string): Buffer | undefined {
  return typeof hex === "string" && HEX.test(hex) ? Buffer.from(hex, "hex") : undefined;
}

export function isHash(value: unknown): value is string {
  return typeof value === "string" && value.length === 64 && HEX.test(value);
}

export function asBytes(value: Uint8Array | string): Uint8Array {
  return typeof value === "string" ? Buffer.from(value, "hex") : value;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Big-endian unsigned integer of exactly `length` bytes. */
export function bigintToBytes(value: bigint, length = 32): Buffer {
  const hex = value.toString(16).padStart(length * 2, "0");
  if (hex.length > length * 2) throw new RangeError(`integer does not fit in ${length} bytes`);
  return Buffer.from(hex, "hex");
}

export function bytesToBigint(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${toHex(bytes)}`);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict base64 (standard alphabet, padded): Node's decoder silently skips junk. */
export function fromBase64(text: string): Buffer | undefined {
  return typeof text === "string" && BASE64.test(text) ? Buffer.from(text, "base64") : undefined;
}
