import { afterAll, describe, expect, it } from "vitest";
import { batchStatement, MAX_SIGNATURE_BATCH, parseBatchProof, signatureBatch, signedMessage } from "./batch.js";
import { canonicalEvent, withEvidence, type EvidenceSignature } from "./canonical.js";
import { generateSigningKey, KeyRing } from "./keys.js";
import { merkleRoot } from "./merkle.js";
import { parseSignature, signEvent, verifyEventSignature } from "./sign.js";
import { SigningPool } from "./signing-pool.js";
import { licenceEvent, sealLog, type FixtureEvent } from "./testing.js";
import { StreamChainer } from "./chain.js";
import { verifyLog } from "./verify-log.js";

const key = generateSigningKey("SM2-SM3");
const other = generateSigningKey("SM2-SM3");
const ring = new KeyRing([
  { key: key.publicKey, owner: "SPJ-350100" },
  { key: other.publicKey, owner: "SCJG-350100" },
]);
const events = Array.from({ length: 5 }, (_, i) => licenceEvent(`licence-SP-350100-2026-00000${i}`, 0n, "SPJ-350100", i));

/** The events signed as one batch, the way the signing pool does it. */
function signedAsBatch(batchOf: typeof events, signer = key) {
  const batch = signatureBatch(batchOf.map((e) => canonicalEvent(e)));
  const sig = Buffer.from(signer.sign(batch.statement)).toString("base64");
  return batchOf.map((e, i) => withEvidence(e, { signature: { alg: signer.alg, keyId: signer.keyId, sig, batch: batch.proof(i) } }));
}

describe("batch signatures", () => {
  const pool = new SigningPool({ size: 2 });
  afterAll(() => pool.close());

  it("sign the statement of the Merkle root over the canonical events, with the size", () => {
    const messages = events.map((e) => canonicalEvent(e));
    const batch = signatureBatch(messages);
    expect(batch.statement).toEqual(batchStatement(merkleRoot(messages), 5));
    expect(batch.statement.subarray(0, 28).toString()).toBe("shenguan/signature-batch/v1\n");
    expect(batch.statement.readUInt32BE(28)).toBe(5);
    // Every event's proof leads to that statement.
    messages.forEach((m, i) =>
      expect(signedMessage({ alg: "SM2-SM3", keyId: key.keyId, sig: "", batch: batch.proof(i) }, m)).toEqual(batch.statement),
    );
    expect(() => signatureBatch(messages.slice(0, 1))).toThrow(RangeError);
  });

  it("verify for every event of the batch, each on its own", () => {
    for (const event of signedAsBatch(events)) expect(verifyEventSignature(event, ring)).toEqual({ ok: true });
  });

  it("fail for an altered event, a proof moved to another event, and another department's key", () => {
    const signed = signedAsBatch(events);
    const altered = { ...signed[2]!, data: { ...signed[2]!.data, fee: 99 } };
    expect(verifyEventSignature(altered, ring)).toMatchObject({
      ok: false,
      failure: { kind: "signature-invalid", message: expect.stringMatching(/batch signature .* \(leaf 2 of 5\)/) },
    });
    // Event 1 presenting event 3's proof: the proof leads elsewhere.
    const moved = withEvidence(signed[1]!, {
      signature: (signed[3]!.metadata as { evidence: { signature: EvidenceSignature } }).evidence.signature,
    });
    expect(verifyEventSignature(moved, ring)).toMatchObject({ ok: false, failure: { kind: "signature-invalid" } });
    // An event outside the batch cannot borrow it.
    const outsider = licenceEvent("licence-SP-350100-2026-000009", 0n, "SPJ-350100", 9);
    const borrowed = withEvidence(outsider, {
      signature: (signed[0]!.metadata as { evidence: { signature: EvidenceSignature } }).evidence.signature,
    });
    expect(verifyEventSignature(borrowed, ring).ok).toBe(false);
    // Signed by the market regulator's key for the approval bureau's events.
    expect(verifyEventSignature(signedAsBatch(events, other)[0]!, ring)).toMatchObject({ ok: false, failure: { kind: "wrong-signer" } });
  });

  it("a statement verified once serves the rest of its batch, and a bad signature is never cached as good", () => {
    const signed = signedAsBatch(events);
    const forged = signed.map((e) => {
      const signature = (e.metadata as { evidence: { signature: EvidenceSignature } }).evidence.signature;
      const bytes = Buffer.from(signature.sig, "base64");
      bytes[bytes.length - 1]! ^= 1;
      return withEvidence(e, { signature: { ...signature, sig: bytes.toString("base64") } });
    });
    for (const event of forged) expect(verifyEventSignature(event, ring).ok).toBe(false);
    for (const event of signed) expect(verifyEventSignature(event, ring).ok).toBe(true);
    for (const event of forged) expect(verifyEventSignature(event, ring).ok).toBe(false);
  });

  it("are read from storage only in shape: size 2..MAX, index below size, at most 12 SM3 siblings", () => {
    const path = ["ab".repeat(32)];
    expect(parseBatchProof({ index: 1, size: 2, path })).toEqual({ index: 1, size: 2, path });
    for (const bad of [
      { index: 2, size: 2, path },
      { index: 0, size: 1, path: [] },
      { index: 0, size: MAX_SIGNATURE_BATCH + 1, path },
      { index: -1, size: 4, path },
      { index: 0, size: 4, path: ["AB".repeat(32)] },
      { index: 0, size: 4, path: Array.from({ length: 13 }, () => path[0]) },
      { index: 0, size: 4 },
      [0, 4, path],
    ]) {
      expect(parseBatchProof(bad)).toBeUndefined();
      expect(parseSignature({ alg: "SM2-SM3", keyId: key.keyId, sig: "AAAA", batch: bad })).toBeUndefined();
    }
  });

  it("come from the pool when one key's jobs wait together, plain signatures when a job is alone", async () => {
    const [alone] = await pool.signCoalesced([{ message: canonicalEvent(events[0]!), signer: key }]);
    expect(alone!.batch).toBeUndefined();
    expect(verifyEventSignature(withEvidence(events[0]!, { signature: alone! }), ring)).toEqual({ ok: true });

    // One call: its jobs of one key share a batch.
    const together = await pool.signCoalesced(events.map((e) => ({ message: canonicalEvent(e), signer: key })));
    expect(new Set(together.map((s) => s.sig)).size).toBe(1);
    together.forEach((s, i) => {
      expect(s.batch).toMatchObject({ index: i, size: 5 });
      expect(verifyEventSignature(withEvidence(events[i]!, { signature: s }), ring)).toEqual({ ok: true });
    });

    // Many calls at once: at most `size` signatures out per key, the rest wait and leave together.
    const many = Array.from({ length: 40 }, (_, i) =>
      licenceEvent(`licence-SP-350100-2026-0001${String(i).padStart(2, "0")}`, 0n, "SPJ-350100", i),
    );
    const results = await Promise.all(many.map((e) => pool.signCoalesced([{ message: canonicalEvent(e), signer: key }])));
    const distinct = new Set(results.map(([s]) => s!.sig));
    expect(distinct.size).toBeLessThanOrEqual(2 + Math.ceil(38 / 2));
    expect(distinct.size).toBeLessThan(40);
    results.forEach(([s], i) => expect(verifyEventSignature(withEvidence(many[i]!, { signature: s! }), ring)).toEqual({ ok: true }));
  });

  it("on a pool of no threads, gather the jobs of one turn of the event loop into one batch", async () => {
    const inline = new SigningPool({ size: 0 });
    const many = Array.from({ length: 12 }, (_, i) =>
      licenceEvent(`licence-SP-350100-2026-0002${String(i).padStart(2, "0")}`, 0n, "SPJ-350100", i),
    );
    const results = await Promise.all(many.map((e) => inline.signCoalesced([{ message: canonicalEvent(e), signer: key }])));
    expect(new Set(results.map(([s]) => s!.sig)).size).toBe(1);
    results.forEach(([s], i) => expect(verifyEventSignature(withEvidence(many[i]!, { signature: s! }), ring)).toEqual({ ok: true }));
    const [alone] = await inline.signCoalesced([{ message: canonicalEvent(many[0]!), signer: key }]);
    expect(alone!.batch).toBeUndefined();
    await inline.close();
  });

  it("on a pool of no threads, gather a busy key's jobs for gatherMs after its last signing, across turns of the event loop", async () => {
    const inline = new SigningPool({ size: 0, gatherMs: 50 });
    const events = Array.from({ length: 3 }, (_, i) => licenceEvent(`licence-SP-350100-2026-0003${i}`, 0n, "SPJ-350100", i));
    const sign = (i: number) => inline.signCoalesced([{ message: canonicalEvent(events[i]!), signer: key }]);
    const [first] = await sign(0); // idle: signed at the next turn
    // Two jobs a few turns apart, both within 50 ms of the first signing: they leave together.
    const second = sign(1);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    const third = sign(2);
    const [[s2], [s3]] = await Promise.all([second, third]);
    expect(first!.batch).toBeUndefined();
    expect(s2!.sig).toBe(s3!.sig);
    expect([s2!.batch, s3!.batch]).toMatchObject([
      { index: 0, size: 2 },
      { index: 1, size: 2 },
    ]);
    await inline.close();
    expect(() => new SigningPool({ size: 0, gatherMs: -1 })).toThrow(/gatherMs/);
  });

  it("leave plain signatures (signEvent) as they were", () => {
    const plain = withEvidence(events[0]!, { signature: signEvent(events[0]!, key) });
    expect(verifyEventSignature(plain, ring)).toEqual({ ok: true });
  });

  it(
    "verify in verifyLog on this thread and on workers, each statement once, and name the first event of a bad batch",
    { timeout: 60_000 },
    async () => {
      // 60 events, 6 streams, signed in batches of 6 consecutive events, chained and positioned as a store would.
      const chainer = new StreamChainer();
      const bare = Array.from({ length: 60 }, (_, n) => ({
        ...licenceEvent(`licence-SP-350100-2026-00000${n % 6}`, BigInt(Math.floor(n / 6)), "SPJ-350100", n),
        position: { commit: 1000n + BigInt(n), prepare: BigInt(n) },
      }));
      const signed: FixtureEvent[] = [];
      for (let at = 0; at < bare.length; at += 6)
        signed.push(...(signedAsBatch(bare.slice(at, at + 6) as typeof events) as FixtureEvent[]));
      const log = signed.map((e) => chainer.link(e));
      const bus = generateSigningKey("SM2-SM3");
      const options = { keys: ring, busKeys: new KeyRing([bus.publicKey]), seals: sealLog(log, bus, 20), signatures: "all" as const };
      for (const workers of [0, 2]) {
        const result = await verifyLog(log, { ...options, workers });
        expect(result).toMatchObject({ ok: true, events: 60, seals: 3, signatures: 10 });
      }
      // The 4th batch (events 18..23) signed with a broken signature: event 18 is named.
      const broken = log.map((e, i) => {
        if (i < 18 || i > 23) return e;
        const signature = (e.metadata as { evidence: { signature: EvidenceSignature } }).evidence.signature;
        const bytes = Buffer.from(signature.sig, "base64");
        bytes[bytes.length - 3]! ^= 1;
        return withEvidence(e, {
          signature: { ...signature, sig: bytes.toString("base64") },
          chain: (e.metadata as { evidence: { chain: never } }).evidence.chain,
        });
      });
      for (const workers of [0, 2]) {
        const result = await verifyLog(broken, { ...options, workers });
        expect(result).toMatchObject({ ok: false, failure: { kind: "signature-invalid", eventId: log[18]!.id, index: 18 } });
      }
    },
  );
});
