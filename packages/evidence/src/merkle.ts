/**
 * RFC 6962 (Certificate Transparency) Merkle trees with SM3:
 * leaf hash = SM3(0x00 ‖ leaf), node hash = SM3(0x01 ‖ left ‖ right), the
 * tree of n leaves splits at the largest power of two below n, so that a
 * leaf can never be passed off as an inner node or the reverse. The leaves of
 * a block are the chain hashes of its events, in log order.
 */
import { asBytes, bytesEqual, isHash, toHex } from "./bytes.js";
import { sm3, sm3Into } from "./sm3.js";

const LEAF = Buffer.of(0x00);
const NODE = Buffer.of(0x01);

export function leafHash(leaf: Uint8Array | string): Buffer {
  return sm3(LEAF, asBytes(leaf));
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return sm3(NODE, left, right);
}

/**
 * Merkle tree hash of the leaves (SM3 of nothing for no leaves, as RFC 6962 says).
 * The tree MerkleTree builds, level by level in one buffer without keeping
 * the levels: a verifier computes one root per sealed block, three SM3
 * compressions per event, and one Buffer per node cost as much as hashing it.
 */
export function merkleRoot(leaves: readonly (Uint8Array | string)[]): Buffer {
  const n = leaves.length;
  if (n === 0) return sm3();
  const nodes = Buffer.allocUnsafe(32 * n);
  const message = Buffer.allocUnsafe(192);
  for (let i = 0; i < n; i++) {
    const leaf = leaves[i]!;
    // A chain hash (32 bytes, or its 64 hex digits) is hashed in place; anything else as leafHash hashes it.
    if (typeof leaf === "string" ? leaf.length === 64 && message.write(leaf, 1, "hex") === 32 : leaf.length === 32) {
      message[0] = 0x00;
      if (typeof leaf !== "string") message.set(leaf, 1);
      sm3Into(message, 33, nodes, 32 * i);
    } else {
      nodes.set(leafHash(leaf), 32 * i);
    }
  }
  for (let width = n; width > 1;) {
    const pairs = width >>> 1;
    for (let k = 0; k < pairs; k++) {
      message[0] = 0x01;
      nodes.copy(message, 1, 64 * k, 64 * k + 64);
      sm3Into(message, 65, nodes, 32 * k);
    }
    // An unpaired last node is carried up unchanged.
    if (width & 1) nodes.copy(nodes, 32 * pairs, 32 * (width - 1), 32 * width);
    width = pairs + (width & 1);
  }
  return Buffer.from(nodes.subarray(0, 32));
}

/** An audit path (RFC 6962 §2.1.1): the sibling hashes from the leaf up, hex. */
export interface InclusionProof {
  /** 0-based index of the leaf in its block. */
  readonly index: number;
  /** Number of leaves in the block: must be the sealed count (the seal binds root and count together). */
  readonly size: number;
  readonly path: readonly string[];
}

/**
 * A block's tree, kept level by level so that each proof costs O(log n).
 * Built bottom-up, an unpaired last node is carried up unchanged: the same
 * tree as RFC 6962's split at the largest power of two below n.
 */
export class MerkleTree {
  private readonly levels: Buffer[][];

  constructor(leaves: readonly (Uint8Array | string)[]) {
    if (leaves.length === 0) throw new RangeError("a Merkle tree needs at least one leaf");
    let level: Buffer[] = leaves.map(leafHash);
    this.levels = [level];
    while (level.length > 1) {
      const next: Buffer[] = [];
      for (let i = 0; i + 1 < level.length; i += 2) next.push(nodeHash(level[i]!, level[i + 1]!));
      if (level.length % 2 === 1) next.push(level[level.length - 1]!);
      level = next;
      this.levels.push(level);
    }
  }

  get size(): number {
    return this.levels[0]!.length;
  }

  get root(): Buffer {
    return this.levels[this.levels.length - 1]![0]!;
  }

  prove(index: number): InclusionProof {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.size)
      throw new RangeError(`leaf index ${index} outside a block of ${this.size}`);
    const path: string[] = [];
    let at = index;
    for (const level of this.levels.slice(0, -1)) {
      const sibling = level[at ^ 1];
      if (sibling !== undefined) path.push(toHex(sibling));
      at >>= 1;
    }
    return { index, size: this.size, path };
  }
}

/** The proof that leaf `index` of `leaves` (a block's chain hashes) is in merkleRoot(leaves). For many proofs, build a MerkleTree once. */
export function proveInclusion(leaves: readonly (Uint8Array | string)[], index: number): InclusionProof {
  if (!Number.isSafeInteger(index) || index < 0 || index >= leaves.length)
    throw new RangeError(`leaf index ${index} outside a block of ${leaves.length}`);
  return new MerkleTree(leaves).prove(index);
}

/**
 * RFC 9162 §2.1.3.2: does `proof` take `leaf` (a chain hash) to `root`?
 * This proves inclusion in the tree of `proof.size` leaves with that root;
 * the size must come from the same signed statement as the root (use
 * verifySealedInclusion with a seal), as a path can fit more than one size.
 */
export function verifyInclusion(root: Uint8Array | string, leaf: Uint8Array | string, proof: InclusionProof): boolean {
  const computed = rootFromInclusion(leaf, proof);
  return computed !== undefined && bytesEqual(computed, asBytes(root));
}

/**
 * The root that `proof` takes `leaf` to (RFC 9162 §2.1.3.2), or undefined
 * when the proof is malformed or does not fit a tree of `proof.size` leaves.
 */
export function rootFromInclusion(leaf: Uint8Array | string, proof: InclusionProof): Buffer | undefined {
  const { index, size, path } = proof;
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return undefined;
  if (!Array.isArray(path) || !path.every(isHash)) return undefined;
  let fn = index;
  let sn = size - 1;
  let r = leafHash(leaf);
  for (const p of path) {
    if (sn === 0) return undefined;
    const sibling = Buffer.from(p, "hex");
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(sibling, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, sibling);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : undefined;
}
