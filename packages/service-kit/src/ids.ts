import { createHash } from "node:crypto";

/**
 * An id that follows from the department's idempotency key: a UUIDv8 (RFC
 * 9562, custom) of SHA-256(department, key, purpose). A retry that takes over
 * a key whose first attempt died (see IdempotencyKeys) then makes the same
 * inspection, penalty or record id, so the decider sees a repeat, not a
 * second record. `purpose` keeps the ids of one request's records apart.
 */
export function idFromKey(department: string, idempotencyKey: string, purpose: string): string {
  const h = createHash("sha256").update(JSON.stringify([department, idempotencyKey, purpose])).digest();
  h[6] = (h[6]! & 0x0f) | 0x80; // version 8
  h[8] = (h[8]! & 0x3f) | 0x80; // variant 10
  const hex = h.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
