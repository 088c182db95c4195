import { createHash } from "node:crypto";

/** SM3 (GB/T 32905-2016) over the concatenation of `parts`, by Node's OpenSSL. */
export function sm3(...parts: readonly Uint8Array[]): Buffer {
  const h = createHash("sm3");
  for (const p of parts) h.update(p);
  return h.digest();
}

/** The hash before the first event of every stream and before the first seal: 32 zero bytes. */
export const GENESIS_HASH = "0".repeat(64);
