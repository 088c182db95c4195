import { describe, expect, it } from "vitest";
import { generateSigningKey, KeyRing } from "./keys.js";
import { merkleRoot, MerkleTree, proveInclusion } from "./merkle.js";
import {
  chunkRoots,
  parseSeal,
  positionString,
  SEAL_CHUNK_SIZE,
  sealBlock,
  sealBytes,
  sealChunks,
  Sealer,
  sealHash,
  subtreeOverNodes,
  verifySeal,
  verifySealedInclusion,
  type Seal,
} from "./seal.js";
import { GENESIS_HASH, sm3 } from "./sm3.js";

const bus = generateSigningKey("SM2-SM3");
const busKeys = new KeyRing([bus.publicKey]);
const hashes = Array.from({ length: 25 }, (_, i) => sm3(Buffer.from(`event ${i}`)).toString("hex"));
const positions = hashes.map((_, i) => ({ commit: 700n + BigInt(i >> 2), prepare: BigInt(i) }));
const time = new Date(Date.UTC(2026, 2, 2, 10));

function sealAll(blockSize: number): Seal[] {
  const sealer = new Sealer({ signer: bus, blockSize });
  const seals: Seal[] = [];
  hashes.forEach((hash, i) => {
    const seal = sealer.add(positions[i]!, hash, time);
    if (seal) seals.push(seal);
  });
  const last = sealer.flush(time);
  if (last) seals.push(last);
  return seals;
}

describe("block seals", () => {
  const seals = sealAll(10); // blocks of 10, 10, 5

  it("cover consecutive positions, chain to the previous seal and carry the bus signature", () => {
    expect(seals.map((s) => [s.block, s.count, s.firstPosition, s.lastPosition])).toEqual([
      [0, 10, "700/0", "702/9"],
      [1, 10, "702/10", "704/19"],
      [2, 5, "705/20", "706/24"],
    ]);
    expect(seals[0]!.prev).toBe(GENESIS_HASH);
    expect(seals[1]!.prev).toBe(sealHash(seals[0]!));
    expect(seals[1]!.prev).toBe(sm3(sealBytes(seals[0]!)).toString("hex"));
    expect(seals[0]!.root).toBe(new MerkleTree(hashes.slice(0, 10)).root.toString("hex"));
    expect(seals[0]!.signature).toMatchObject({ alg: "SM2-SM3", keyId: bus.keyId });
    expect(bus.publicKey.verify(sealBytes(seals[0]!), Buffer.from(seals[0]!.signature.sig, "base64"))).toBe(true);
    expect(sealBytes(seals[0]!).toString()).toBe(
      `{"block":0,"count":10,"firstPosition":"700/0","format":"shenguan-seal/1","lastPosition":"702/9","prev":"${GENESIS_HASH}","root":"${seals[0]!.root}","time":"2026-03-02T10:00:00.000Z"}`,
    );
  });

  it("verify with leaves, positions and the previous seal", () => {
    seals.forEach((seal, b) => {
      const leaves = hashes.slice(b * 10, b * 10 + seal.count);
      const first = positions[b * 10]!;
      const last = positions[b * 10 + seal.count - 1]!;
      expect(verifySeal(seal, { keys: busKeys, leaves, positions: { first, last }, previous: b === 0 ? null : seals[b - 1]! })).toEqual({
        ok: true,
      });
    });
    // A seal survives JSON storage.
    expect(verifySeal(JSON.parse(JSON.stringify(seals[1])), { keys: busKeys, previous: seals[0]! })).toEqual({ ok: true });
  });

  it("detects a changed seal field, a foreign key, a gap in the sequence, other leaves or range", () => {
    const s = seals[1]!;
    for (const change of [
      { root: hashes[0]! },
      { count: 9 },
      { time: "2026-03-02T10:00:00.001Z" },
      { lastPosition: "704/18" },
      { block: 5 },
    ]) {
      expect(verifySeal({ ...s, ...change }, { keys: busKeys }).ok ? "ok" : "failed").toBe("failed");
      const result = verifySeal({ ...s, ...change }, { keys: busKeys });
      expect(result.ok ? undefined : result.failure.kind).toBe("seal-signature-invalid");
    }
    const forger = generateSigningKey();
    const forged = sealBlock(
      { block: 1, prev: seals[0]!, entries: hashes.slice(10, 20).map((hash, i) => ({ hash, position: positions[10 + i]! })), time },
      forger,
    );
    expect(verifySeal(forged, { keys: busKeys })).toMatchObject({ ok: false, failure: { kind: "seal-signature-invalid", block: 1 } });
    expect(verifySeal(forged, { keys: new KeyRing([forger.publicKey]) }).ok).toBe(true);
    expect(verifySeal(seals[2]!, { keys: busKeys, previous: seals[0]! })).toMatchObject({
      ok: false,
      failure: { kind: "seal-sequence", expected: "1", actual: "2" },
    });
    expect(verifySeal(seals[1]!, { keys: busKeys, previous: null })).toMatchObject({ ok: false, failure: { kind: "seal-sequence" } });
    const otherLeaves = hashes.slice(10, 20).map((h, i) => (i === 3 ? hashes[0]! : h));
    expect(verifySeal(s, { keys: busKeys, leaves: otherLeaves })).toMatchObject({ ok: false, failure: { kind: "seal-root-mismatch" } });
    expect(verifySeal(s, { keys: busKeys, leaves: hashes.slice(10, 19) })).toMatchObject({
      ok: false,
      failure: { kind: "seal-incomplete" },
    });
    expect(verifySeal(s, { keys: busKeys, positions: { first: positions[11]!, last: positions[19]! } })).toMatchObject({
      ok: false,
      failure: { kind: "seal-range-mismatch" },
    });
    expect(verifySeal({ ...s, root: "nothex" }, { keys: busKeys })).toMatchObject({
      ok: false,
      failure: { kind: "seal-sequence", message: "malformed seal" },
    });
    expect(parseSeal({ ...s, signature: { ...s.signature, sig: "!!" } })).toBeUndefined();
  });

  it("prove one event with a seal and an inclusion proof", () => {
    const seal = seals[1]!;
    const block = hashes.slice(10, 20);
    const proof = proveInclusion(block, 6);
    expect(proof.path).toHaveLength(4);
    expect(verifySealedInclusion(seal, hashes[16]!, proof)).toBe(true);
    expect(verifySealedInclusion(seal, hashes[15]!, proof)).toBe(false);
    expect(verifySealedInclusion(seals[0]!, hashes[16]!, proof)).toBe(false);
    expect(verifySealedInclusion(seal, hashes[16]!, { ...proof, size: 11 })).toBe(false);
  });

  it("an Ed25519 bus key works the same; positions may be given as strings", () => {
    const edBus = generateSigningKey("Ed25519");
    const seal = sealBlock({ block: 0, prev: null, entries: [{ position: "1/1", hash: hashes[0]! }] }, edBus);
    expect(
      verifySeal(seal, {
        keys: new KeyRing([edBus.publicKey]),
        leaves: [hashes[0]!],
        positions: { first: "1/1", last: "1/1" },
        previous: null,
      }),
    ).toEqual({ ok: true });
    expect(positionString({ commit: 5n, prepare: 12n })).toBe("5/12");
    expect(() => sealBlock({ block: 0, prev: null, entries: [] }, edBus)).toThrow(RangeError);
  });

  it("record the subtree hashes of aligned chunks, over which the root is the same as over the leaves", () => {
    for (const n of [1, 2, 3, 31, 32, 33, 63, 64, 65, 100, 257, 1000, 1024, 1025]) {
      const leaves = Array.from({ length: n }, (_, i) => sm3(Buffer.from(`leaf ${i}`)));
      for (const size of [2, 8, SEAL_CHUNK_SIZE, 64]) {
        expect(subtreeOverNodes(chunkRoots(leaves, size)).equals(merkleRoot(leaves)), `${n} leaves, chunks of ${size}`).toBe(true);
      }
    }
    const entries = Array.from({ length: 70 }, (_, i) => ({ position: `900/${i}`, hash: sm3(Buffer.from(`e ${i}`)).toString("hex") }));
    const seal = sealBlock({ block: 0, prev: null, entries, time }, bus);
    // The root is what it always was (seals from before chunks still verify), and the chunks are not signed.
    expect(seal.root).toBe(merkleRoot(entries.map((e) => e.hash)).toString("hex"));
    expect(verifySeal(JSON.parse(JSON.stringify(seal)), { keys: busKeys, previous: null, leaves: entries.map((e) => e.hash) })).toEqual({
      ok: true,
    });
    const chunks = sealChunks(JSON.parse(JSON.stringify(seal)));
    expect(chunks).toEqual({ size: SEAL_CHUNK_SIZE, roots: chunkRoots(entries.map((e) => e.hash)).map((r) => r.toString("hex")) });
    expect(chunks!.roots).toHaveLength(3);
    expect(sealBytes(seal).toString()).not.toContain("chunks");
    // Malformed chunks are none at all: the block is then proven whole.
    expect(sealChunks({ ...seal, chunks: { size: 24, roots: chunks!.roots } })).toBeUndefined();
    expect(sealChunks({ ...seal, chunks: { size: SEAL_CHUNK_SIZE, roots: chunks!.roots.slice(1) } })).toBeUndefined();
    expect(sealChunks(parseSeal(seal))).toBeUndefined();
  });
});
