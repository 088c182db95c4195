/**
 * Block seals. The bus cuts its global log into blocks of consecutive
 * positions and signs, per block, the RFC 6962 Merkle root (SM3) over the
 * events' chain hashes, chained to the previous seal. An auditor then proves a
 * whole range with one signature per block and hashing, and proves one event
 * with an inclusion proof.
 */
import { bytesEqual, isHash, toHex } from "./bytes.js";
import { timeString, type EvidenceSignature } from "./canonical.js";
import type { EvidenceFailure } from "./failure.js";
import { canonicalBytes } from "./jcs.js";
import type { KeyRing, Signer } from "./keys.js";
import { leafHash, merkleRoot, nodeHash, verifyInclusion, type InclusionProof } from "./merkle.js";
import { parseSignature, precheckSignature, signBytes } from "./sign.js";
import { GENESIS_HASH, sm3 } from "./sm3.js";

export const SEAL_FORMAT = "shenguan-seal/1";

/** A global log position: the event store's `commit/prepare` string, or the LogPosition object it formats. */
export type PositionLike = string | { readonly commit: bigint; readonly prepare: bigint };

export function positionString(position: PositionLike): string {
  if (typeof position === "string") {
    if (position.length === 0) throw new TypeError("empty log position");
    return position;
  }
  return `${position.commit}/${position.prepare}`;
}

/** What the bus signs: the canonical JSON (RFC 8785) of these fields. */
export interface SealBody {
  readonly format: typeof SEAL_FORMAT;
  /** 0-based block number. */
  readonly block: number;
  readonly firstPosition: string;
  readonly lastPosition: string;
  /** Events in the block (≥ 1). */
  readonly count: number;
  /** Merkle root (hex) over the events' chain hashes, in log order. */
  readonly root: string;
  /** sealHash of the previous block's seal; GENESIS_HASH for block 0. */
  readonly prev: string;
  /** When the bus sealed the block (ISO, UTC, ms). */
  readonly time: string;
}

export interface Seal extends SealBody {
  readonly signature: EvidenceSignature;
}

/** Leaves per chunk whose subtree hash a new seal records beside its root. */
export const SEAL_CHUNK_SIZE = 32;

/**
 * Intermediate nodes of a block's Merkle tree, recorded in the LogSealed
 * event next to the signed body (not signed, and needing no signature): the
 * subtree hashes of the block's aligned chunks of `size` leaves, the last
 * chunk possibly shorter. Each chunk is a subtree of the RFC 6962 tree (its
 * splits are at powers of two), so the seal's root is the tree over these
 * hashes; proving one leaf then takes one chunk (`size` leaves) and the
 * chunk hashes instead of the whole block. Forged nodes cannot pass: they
 * must hash up to the signed root. Seals without them (older ones) are
 * proven over the whole block.
 */
export interface SealChunks {
  readonly size: number;
  /** Hex, in leaf order: ceil(count / size) of them. */
  readonly roots: readonly string[];
}

/** The subtree hash of each aligned chunk of `size` leaves (chain hashes, in block order). */
export function chunkRoots(leaves: readonly (Uint8Array | string)[], size: number = SEAL_CHUNK_SIZE): Buffer[] {
  const roots: Buffer[] = [];
  for (let at = 0; at < leaves.length; at += size) roots.push(subtreeOverNodes(leaves.slice(at, at + size).map(leafHash)));
  return roots;
}

/**
 * The tree hash over consecutive subtree hashes, combined bottom-up as
 * MerkleTree combines its levels (pairs, an unpaired last node carried up):
 * over chunkRoots(leaves) it is merkleRoot(leaves).
 */
export function subtreeOverNodes(nodes: readonly Buffer[]): Buffer {
  if (nodes.length === 0) throw new RangeError("no nodes to combine");
  let level = nodes;
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(nodeHash(level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    level = next;
  }
  return level[0]!;
}

/** The chunk hashes a stored seal records, if it has well-formed ones for its count. */
export function sealChunks(value: unknown): SealChunks | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const { count, chunks } = value as { count?: unknown; chunks?: { size?: unknown; roots?: unknown } };
  if (chunks === null || typeof chunks !== "object" || !Number.isSafeInteger(count)) return undefined;
  const { size, roots } = chunks;
  // A power of two: only then is every aligned chunk a subtree of the block's tree.
  if (!Number.isSafeInteger(size) || (size as number) < 2 || ((size as number) & ((size as number) - 1)) !== 0) return undefined;
  if (!Array.isArray(roots) || roots.length !== Math.ceil((count as number) / (size as number)) || !roots.every(isHash)) return undefined;
  return { size: size as number, roots: roots as string[] };
}

export function sealBody(seal: SealBody): SealBody {
  const { format, block, firstPosition, lastPosition, count, root, prev, time } = seal;
  return { format, block, firstPosition, lastPosition, count, root, prev, time };
}

/** The bytes the bus signs. */
export function sealBytes(seal: SealBody): Buffer {
  return canonicalBytes(sealBody(seal));
}

/** SM3 of the seal's canonical body (signature excluded), hex: the next seal's `prev`. */
export function sealHash(seal: SealBody): string {
  return toHex(sm3(sealBytes(seal)));
}

export interface BlockEntry {
  readonly position: PositionLike;
  /** The event's chain hash. */
  readonly hash: Uint8Array | string;
}

export interface SealBlockInput {
  readonly block: number;
  /** The previous seal, or its sealHash; null for block 0. */
  readonly prev: Seal | string | null;
  readonly entries: readonly BlockEntry[];
  readonly time?: Date | string;
}

export function sealBlock(input: SealBlockInput, signer: Signer): Seal {
  const { block, entries } = input;
  if (!Number.isSafeInteger(block) || block < 0) throw new RangeError(`block ${block} is not a non-negative integer`);
  if (entries.length === 0) throw new RangeError("a block holds at least one event");
  const prev = input.prev === null ? GENESIS_HASH : typeof input.prev === "string" ? input.prev : sealHash(input.prev);
  if (!isHash(prev)) throw new TypeError(`prev ${JSON.stringify(prev)} is not a lowercase hex SM3 hash`);
  const chunks = chunkRoots(entries.map((e) => e.hash));
  const body: SealBody = {
    format: SEAL_FORMAT,
    block,
    firstPosition: positionString(entries[0]!.position),
    lastPosition: positionString(entries[entries.length - 1]!.position),
    count: entries.length,
    root: toHex(subtreeOverNodes(chunks)),
    prev,
    time: timeString(input.time ?? new Date()),
  };
  // The chunk hashes ride beside the signed body: a Seal with `chunks` (see SealChunks).
  const seal: Seal & { readonly chunks: SealChunks } = {
    ...body,
    signature: signBytes(sealBytes(body), signer),
    chunks: { size: SEAL_CHUNK_SIZE, roots: chunks.map(toHex) },
  };
  return seal;
}

/** Cuts a stream of (position, chain hash) into sealed blocks of `blockSize` events. */
export class Sealer {
  private readonly signer: Signer;
  private readonly blockSize: number;
  private block: number;
  private prev: string;
  private entries: BlockEntry[] = [];

  constructor(options: { readonly signer: Signer; readonly blockSize: number; readonly after?: Seal | null }) {
    if (!Number.isSafeInteger(options.blockSize) || options.blockSize < 1) throw new RangeError("blockSize must be a positive integer");
    this.signer = options.signer;
    this.blockSize = options.blockSize;
    this.block = options.after ? options.after.block + 1 : 0;
    this.prev = options.after ? sealHash(options.after) : GENESIS_HASH;
  }

  /** Events waiting for the next seal. */
  get pending(): number {
    return this.entries.length;
  }

  /** Adds an event; returns the block's seal when the block is full. */
  add(position: PositionLike, hash: Uint8Array | string, time?: Date | string): Seal | undefined {
    this.entries.push({ position, hash });
    return this.entries.length >= this.blockSize ? this.flush(time) : undefined;
  }

  /** Seals the pending events now (a partial block, e.g. on a timer); undefined when none are pending. */
  flush(time?: Date | string): Seal | undefined {
    if (this.entries.length === 0) return undefined;
    const seal = sealBlock(
      time === undefined
        ? { block: this.block, prev: this.prev, entries: this.entries }
        : { block: this.block, prev: this.prev, entries: this.entries, time },
      this.signer,
    );
    this.block++;
    this.prev = sealHash(seal);
    this.entries = [];
    return seal;
  }
}

/** A seal read from untrusted storage, checked for shape. */
export function parseSeal(value: unknown): Seal | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const v = value as Record<string, unknown>;
  const signature = parseSignature(v.signature);
  if (v.format !== SEAL_FORMAT || signature === undefined) return undefined;
  if (!Number.isSafeInteger(v.block) || (v.block as number) < 0 || !Number.isSafeInteger(v.count) || (v.count as number) < 1)
    return undefined;
  if (typeof v.firstPosition !== "string" || typeof v.lastPosition !== "string" || typeof v.time !== "string") return undefined;
  if (!isHash(v.root) || !isHash(v.prev)) return undefined;
  return { ...sealBody(v as unknown as SealBody), signature };
}

export type SealCheck = { readonly ok: true } | { readonly ok: false; readonly failure: EvidenceFailure };

export interface VerifySealOptions {
  /** The bus's public keys. */
  readonly keys: KeyRing;
  /** The block's leaves (its events' chain hashes, in order): checks count and Merkle root. */
  readonly leaves?: readonly (Uint8Array | string)[];
  /** The positions of the block's first and last events. */
  readonly positions?: { readonly first: PositionLike; readonly last: PositionLike };
  /** The previous seal (null: this must be block 0): checks block number and prev hash. */
  readonly previous?: Seal | null;
}

/** Verifies the bus signature of a seal and, as far as the options allow, its sequence and contents. */
export function verifySeal(seal: unknown, options: VerifySealOptions): SealCheck {
  const parsed = parseSeal(seal);
  if (parsed === undefined) return { ok: false, failure: { kind: "seal-sequence", message: "malformed seal" } };
  const block = parsed.block;
  const label = `seal of block ${block}`;
  const fail = (failure: Omit<EvidenceFailure, "block">): SealCheck => ({ ok: false, failure: { ...failure, block } });
  if (options.previous !== undefined) {
    const expectedBlock = options.previous === null ? 0 : options.previous.block + 1;
    const expectedPrev = options.previous === null ? GENESIS_HASH : sealHash(options.previous);
    if (block !== expectedBlock)
      return fail({
        kind: "seal-sequence",
        message: `${label}: expected block ${expectedBlock}`,
        expected: `${expectedBlock}`,
        actual: `${block}`,
      });
    if (parsed.prev !== expectedPrev)
      return fail({
        kind: "seal-sequence",
        message: `${label}: prev ${parsed.prev} is not the previous seal's hash ${expectedPrev}`,
        expected: expectedPrev,
        actual: parsed.prev,
      });
  }
  const pre = precheckSignature(parsed.signature, options.keys, { label });
  if (!pre.ok) return fail({ ...pre.failure, kind: "seal-signature-invalid" });
  if (!options.keys.get(parsed.signature.keyId)!.key.verify(sealBytes(parsed), pre.bytes)) {
    return fail({ kind: "seal-signature-invalid", message: `${label}: bus signature by key ${parsed.signature.keyId} does not verify` });
  }
  if (options.positions !== undefined) {
    const first = positionString(options.positions.first);
    const last = positionString(options.positions.last);
    if (first !== parsed.firstPosition)
      return fail({
        kind: "seal-range-mismatch",
        message: `${label} starts at ${parsed.firstPosition}, the block's first event is at ${first}`,
        expected: parsed.firstPosition,
        actual: first,
        position: first,
      });
    if (last !== parsed.lastPosition)
      return fail({
        kind: "seal-range-mismatch",
        message: `${label} ends at ${parsed.lastPosition}, the block's last event is at ${last}`,
        expected: parsed.lastPosition,
        actual: last,
        position: last,
      });
  }
  if (options.leaves !== undefined) {
    if (options.leaves.length !== parsed.count) {
      return fail({
        kind: "seal-incomplete",
        message: `${label} covers ${parsed.count} events, the block has ${options.leaves.length}`,
        expected: `${parsed.count}`,
        actual: `${options.leaves.length}`,
      });
    }
    const root = merkleRoot(options.leaves);
    if (!bytesEqual(root, Buffer.from(parsed.root, "hex"))) {
      return fail({
        kind: "seal-root-mismatch",
        message: `${label}: Merkle root of the block's chain hashes is ${toHex(root)}, the seal says ${parsed.root}`,
        expected: parsed.root,
        actual: toHex(root),
      });
    }
  }
  return { ok: true };
}

/**
 * Is `leaf` (an event's chain hash) at `proof.index` of the block this seal
 * covers? Checks the proof against the sealed root and count; verify the
 * seal itself (verifySeal) before trusting the answer.
 */
export function verifySealedInclusion(seal: SealBody, leaf: Uint8Array | string, proof: InclusionProof): boolean {
  return proof.size === seal.count && verifyInclusion(seal.root, leaf, proof);
}
