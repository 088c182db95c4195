/**
 * Batch signatures, as X-Road's security servers sign messages: when many
 * events of one department are to be signed at once, the department signs
 * ONE statement, the Merkle root (RFC 6962 tree, SM3) over the canonical
 * bytes of all of them, and each event carries that signature with its
 * inclusion proof. Every event still proves its origin on its own (leaf →
 * root through its proof, root verified with the department's key), but a
 * burst of n events costs one SM2 signature instead of n, and a verifier
 * that meets the same batch again verifies its signature once.
 *
 * The signed statement is `CONTEXT ‖ uint32be(size) ‖ root`: the context
 * keeps it from ever being read as a canonical event (which is JSON and
 * begins with `{`), and the size is signed with the root because one path can
 * fit trees of more than one size. A batch of one is not a batch: its event
 * gets a plain signature over its canonical bytes.
 */
import { asBytes } from "./bytes.js";
import type { EvidenceSignature } from "./canonical.js";
import { MerkleTree, rootFromInclusion, type InclusionProof } from "./merkle.js";

export const BATCH_SIGNATURE_CONTEXT = Buffer.from("shenguan/signature-batch/v1\n", "ascii");
/** The most events one batch signature covers: proofs stay ≤ 12 hashes. */
export const MAX_SIGNATURE_BATCH = 4096;

/** The bytes a batch signature signs. */
export function batchStatement(root: Uint8Array, size: number): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(size);
  return Buffer.concat([BATCH_SIGNATURE_CONTEXT, length, root]);
}

/** A batch under construction: the statement to sign and each message's proof. */
export interface SignatureBatch {
  readonly statement: Buffer;
  proof(index: number): InclusionProof;
}

/** The Merkle batch over `messages` (canonical event bytes, 2 ≤ n ≤ MAX_SIGNATURE_BATCH). */
export function signatureBatch(messages: readonly Uint8Array[]): SignatureBatch {
  if (messages.length < 2 || messages.length > MAX_SIGNATURE_BATCH)
    throw new RangeError(`a signature batch holds 2..${MAX_SIGNATURE_BATCH} messages, got ${messages.length}`);
  const tree = new MerkleTree(messages);
  return { statement: batchStatement(tree.root, messages.length), proof: (index) => tree.prove(index) };
}

/**
 * What `signature` signs for an event whose canonical bytes are `canonical`:
 * the canonical bytes themselves, or for a batch signature the statement of
 * the root its proof leads to; undefined when the proof cannot be followed.
 */
export function signedMessage(signature: EvidenceSignature, canonical: Uint8Array): Uint8Array | undefined {
  const batch = signature.batch;
  if (batch === undefined) return canonical;
  const root = rootFromInclusion(asBytes(canonical), batch);
  return root === undefined ? undefined : batchStatement(root, batch.size);
}

/** A batch proof read from untrusted storage, checked for shape (not for truth: that is the signature's job). */
export function parseBatchProof(value: unknown): InclusionProof | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  const { index, size, path } = value as Record<string, unknown>;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 2 || size > MAX_SIGNATURE_BATCH) return undefined;
  if (typeof index !== "number" || !Number.isSafeInteger(index) || index < 0 || index >= size) return undefined;
  // ⌈log2(MAX)⌉ siblings at most; each a lowercase hex SM3 hash.
  if (!Array.isArray(path) || path.length > 12 || !path.every((p) => typeof p === "string" && /^[0-9a-f]{64}$/.test(p))) return undefined;
  return { index, size, path: path as string[] };
}
