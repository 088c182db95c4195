import { parseBatchProof, signedMessage } from "./batch.js";
import { fromBase64 } from "./bytes.js";
import { canonicalEvent, evidenceOf, type EvidenceEvent, type EvidenceSignature, type SignatureAlgorithm } from "./canonical.js";
import type { EvidenceFailure } from "./failure.js";
import { SIGNATURE_ALGORITHMS, type KeyRing, type Signer } from "./keys.js";

/** A department signs the canonical bytes of its event (see canonicalEvent). */
export function signEvent(event: EvidenceEvent, signer: Signer): EvidenceSignature {
  return signBytes(canonicalEvent(event), signer);
}

export function signBytes(bytes: Uint8Array, signer: Signer): EvidenceSignature {
  return { alg: signer.alg, keyId: signer.keyId, sig: Buffer.from(signer.sign(bytes)).toString("base64") };
}

/** A signature read from untrusted storage, checked for shape. */
export function parseSignature(value: unknown): EvidenceSignature | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const { alg, keyId, sig } = value as Record<string, unknown>;
  if (!SIGNATURE_ALGORITHMS.includes(alg as SignatureAlgorithm)) return undefined;
  if (typeof keyId !== "string" || !/^[0-9a-f]{32}$/.test(keyId)) return undefined;
  if (typeof sig !== "string" || fromBase64(sig) === undefined) return undefined;
  const batchField = (value as Record<string, unknown>).batch;
  if (batchField === undefined) return { alg: alg as SignatureAlgorithm, keyId, sig };
  const batch = parseBatchProof(batchField);
  return batch === undefined ? undefined : { alg: alg as SignatureAlgorithm, keyId, sig, batch };
}

export type SignatureCheck = { readonly ok: true } | { readonly ok: false; readonly failure: Omit<EvidenceFailure, "index"> };

/**
 * Everything about a signature that needs no cryptography: present, well
 * formed, key known, algorithm and owner consistent. Returns the key to
 * verify with, or the failure.
 */
export function precheckSignature(
  signature: unknown,
  keys: KeyRing,
  where: { readonly department?: unknown; readonly label: string },
):
  | { readonly ok: true; readonly signature: EvidenceSignature; readonly bytes: Buffer }
  | { readonly ok: false; readonly failure: Omit<EvidenceFailure, "index"> } {
  const parsed = parseSignature(signature);
  if (parsed === undefined)
    return { ok: false, failure: { kind: "missing-signature", message: `${where.label} has no well-formed signature` } };
  const entry = keys.get(parsed.keyId);
  if (entry === undefined)
    return {
      ok: false,
      failure: { kind: "unknown-key", message: `${where.label} is signed by unknown key ${parsed.keyId}`, actual: parsed.keyId },
    };
  if (entry.key.alg !== parsed.alg) {
    return {
      ok: false,
      failure: {
        kind: "algorithm-mismatch",
        message: `${where.label}: key ${parsed.keyId} is ${entry.key.alg}, the signature claims ${parsed.alg}`,
        expected: entry.key.alg,
        actual: parsed.alg,
      },
    };
  }
  if (entry.owner !== undefined && where.department !== undefined && entry.owner !== where.department) {
    return {
      ok: false,
      failure: {
        kind: "wrong-signer",
        message: `${where.label} of department ${String(where.department)} is signed by key ${parsed.keyId} of ${entry.owner}`,
        expected: entry.owner,
        actual: String(where.department),
      },
    };
  }
  return { ok: true, signature: parsed, bytes: fromBase64(parsed.sig)! };
}

export function eventLabel(event: EvidenceEvent): string {
  return `event ${String(event.id)} (${String(event.stream)}@${String(event.revision)})`;
}

function departmentOf(event: EvidenceEvent): unknown {
  return (event.metadata as Record<string, unknown>).department;
}

/**
 * Batch statements already verified in this process: a batch signature
 * covers many events, and verifying it once is enough for all of them. Only
 * successes are kept, keyed by everything that was verified (key id,
 * signature, statement); bounded, oldest forgotten first.
 */
const verifiedStatements = new Map<string, true>();
const VERIFIED_STATEMENTS_MAX = 4096;

function verifyCached(
  key: { verify(message: Uint8Array, signature: Uint8Array): boolean },
  keyId: string,
  sig: string,
  message: Uint8Array,
  bytes: Uint8Array,
): boolean {
  const cacheKey = `${keyId}|${sig}|${Buffer.from(message).toString("base64")}`;
  if (verifiedStatements.has(cacheKey)) return true;
  if (!key.verify(message, bytes)) return false;
  if (verifiedStatements.size >= VERIFIED_STATEMENTS_MAX) verifiedStatements.delete(verifiedStatements.keys().next().value!);
  verifiedStatements.set(cacheKey, true);
  return true;
}

/** Verify the signature in `metadata.evidence.signature` (or the one given) against the key ring. */
export function verifyEventSignature(
  event: EvidenceEvent,
  keys: KeyRing,
  signature: unknown = (evidenceOf(event) as { signature?: unknown } | undefined)?.signature,
): SignatureCheck {
  const label = eventLabel(event);
  const pre = precheckSignature(signature, keys, { department: departmentOf(event), label });
  if (!pre.ok) return pre;
  const key = keys.get(pre.signature.keyId)!.key;
  const message = signedMessage(pre.signature, canonicalEvent(event));
  const batch = pre.signature.batch;
  const good =
    message !== undefined &&
    (batch === undefined ? key.verify(message, pre.bytes) : verifyCached(key, pre.signature.keyId, pre.signature.sig, message, pre.bytes));
  if (good) return { ok: true };
  return {
    ok: false,
    failure: {
      kind: "signature-invalid",
      message:
        batch === undefined
          ? `${label}: ${pre.signature.alg} signature by key ${pre.signature.keyId} does not verify`
          : `${label}: ${pre.signature.alg} batch signature by key ${pre.signature.keyId} does not verify for this event (leaf ${batch.index} of ${batch.size})`,
    },
  };
}

/** @internal */
export { departmentOf };
