import { describe, expect, it } from "vitest";
import { leafHash, MerkleTree, merkleRoot, nodeHash, proveInclusion, verifyInclusion, type InclusionProof } from "./merkle.js";
import { sm3 } from "./sm3.js";

// RFC 6962 §2.1 written as the RFC writes it (recursive), as the reference.
function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
function mth(d: readonly Buffer[]): Buffer {
  if (d.length === 0) return sm3();
  if (d.length === 1) return sm3(Buffer.of(0), d[0]!);
  const k = largestPowerOfTwoBelow(d.length);
  return sm3(Buffer.of(1), mth(d.slice(0, k)), mth(d.slice(k)));
}
function path(m: number, d: readonly Buffer[]): Buffer[] {
  if (d.length === 1) return [];
  const k = largestPowerOfTwoBelow(d.length);
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
}

const leavesOf = (n: number) => Array.from({ length: n }, (_, i) => sm3(Buffer.from(`chain hash ${i}`)));

describe("SM3 Merkle tree (RFC 6962 shape)", () => {
  it("prefixes leaves with 0x00 and nodes with 0x01", () => {
    const [a, b] = leavesOf(2) as [Buffer, Buffer];
    expect(leafHash(a)).toEqual(sm3(Buffer.of(0), a));
    expect(merkleRoot([a])).toEqual(sm3(Buffer.of(0), a));
    expect(merkleRoot([a, b])).toEqual(sm3(Buffer.of(1), leafHash(a), leafHash(b)));
    expect(merkleRoot([])).toEqual(sm3());
  });

  it.each([1, 2, 3, 7, 1000])("%i leaves: root and every inclusion proof match the RFC's definition and verify", (n) => {
    const leaves = leavesOf(n);
    const root = merkleRoot(leaves);
    expect(root).toEqual(mth(leaves));
    const tree = new MerkleTree(leaves);
    expect(tree.root).toEqual(root);
    for (let i = 0; i < n; i++) {
      const proof = tree.prove(i);
      if (n < 100 || i % 97 === 0 || i >= n - 3) {
        expect(proof.path).toEqual(path(i, leaves).map((h) => h.toString("hex")));
        expect(proveInclusion(leaves, i)).toEqual(proof);
      }
      expect(proof.path.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
      expect(verifyInclusion(root, leaves[i]!, proof)).toBe(true);
      expect(verifyInclusion(root.toString("hex"), leaves[i]!.toString("hex"), proof)).toBe(true);
    }
  });

  it("merkleRoot over hex leaves, and leaves that are not chain hashes, is the root MerkleTree builds", () => {
    for (const n of [1, 2, 5, 33, 64, 65, 1000]) {
      const hex = leavesOf(n).map((h) => h.toString("hex"));
      expect(merkleRoot(hex), `${n} hex leaves`).toEqual(new MerkleTree(hex).root);
      expect(merkleRoot(hex), `${n} hex leaves`).toEqual(mth(leavesOf(n)));
    }
    // Hex read as Buffer.from reads it (up to the first bad digit), uppercase, short and long byte leaves.
    const odd: (string | Uint8Array)[] = [
      "zz".repeat(32),
      "AB".repeat(32),
      "ab".repeat(31) + "x1",
      "abcd",
      Buffer.alloc(31, 1),
      Buffer.alloc(40, 2),
      "",
    ];
    expect(merkleRoot(odd)).toEqual(new MerkleTree(odd).root);
  });

  it.each([2, 3, 7, 1000])("%i leaves: forged proofs fail", (n) => {
    const leaves = leavesOf(n);
    const root = merkleRoot(leaves);
    const i = n - 1 > 1 ? n - 2 : 0;
    const proof = proveInclusion(leaves, i);
    const forged: InclusionProof[] = [
      { ...proof, path: proof.path.map((h, j) => (j === 0 ? `${h.slice(0, 63)}${h[63] === "0" ? "1" : "0"}` : h)) },
      { ...proof, index: (i + 1) % n },
      { ...proof, path: proof.path.slice(1) },
      { ...proof, path: [...proof.path, proof.path[0]!] },
      { ...proof, path: [...proof.path].reverse() },
      { ...proof, index: -1 },
      { ...proof, index: n },
      { ...proof, path: [...proof.path.slice(0, -1), "zz".repeat(32)] },
    ];
    for (const f of forged) if (JSON.stringify(f) !== JSON.stringify(proof)) expect(verifyInclusion(root, leaves[i]!, f)).toBe(false);
    expect(verifyInclusion(root, leaves[(i + 1) % n]!, proof)).toBe(false); // another leaf
    expect(verifyInclusion(merkleRoot(leavesOf(n + 1)), leaves[i]!, proof)).toBe(false); // another tree
  });

  it("an inner node cannot be passed off as a leaf (second preimage)", () => {
    const leaves = leavesOf(4);
    const root = merkleRoot(leaves);
    const n01 = nodeHash(leafHash(leaves[0]!), leafHash(leaves[1]!));
    const n23 = nodeHash(leafHash(leaves[2]!), leafHash(leaves[3]!));
    expect(nodeHash(n01, n23)).toEqual(root);
    expect(verifyInclusion(root, n01, { index: 0, size: 2, path: [n23.toString("hex")] })).toBe(false);
  });

  it("binds the size only through the signed statement: a path may fit another tree size with the same root", () => {
    // Three leaves: the path of leaf 1 is [L0, L2], which also computes the same root when read as a tree of 4.
    // Hence seals sign count and root together and verifySealedInclusion checks proof.size === seal.count.
    const leaves = leavesOf(3);
    const proof = proveInclusion(leaves, 1);
    expect(verifyInclusion(merkleRoot(leaves), leaves[1]!, { ...proof, size: 4 })).toBe(true);
  });

  it("refuses to prove a leaf outside the block", () => {
    expect(() => proveInclusion(leavesOf(3), 3)).toThrow(RangeError);
  });
});
