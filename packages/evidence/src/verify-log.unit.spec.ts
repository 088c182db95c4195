import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withEvidence, type EvidenceSignature } from "./canonical.js";
import { StreamChainer } from "./chain.js";
import { generateSigningKey, KeyRing } from "./keys.js";
import { InlineSignatureVerifier, SignatureWorkerPool, type SignatureJob } from "./pool.js";
import { sealBlock, type Seal } from "./seal.js";
import { signEvent } from "./sign.js";
import { buildLog, sealLog, tamper, type FixtureEvent } from "./testing.js";
import { verifyLog, type LogVerification, type VerifyLogOptions, type VerifyProgress } from "./verify-log.js";

const approval = { code: "SPJ-350100", key: generateSigningKey("SM2-SM3") };
const market = { code: "SCJG-350100", key: generateSigningKey("SM2-SM3") };
const housing = { code: "ZJJ-350100", key: generateSigningKey("Ed25519") };
const departments = [approval, market, housing];
const keys = new KeyRing(departments.map((d) => ({ key: d.key.publicKey, owner: d.code })));
const bus = generateSigningKey("SM2-SM3");
const busKeys = new KeyRing([bus.publicKey]);

// 240 events over 7 streams; sealed in blocks of 50 → 4 seals, 40 unsealed events at the end.
const log = buildLog(240, 7, departments);
const seals = sealLog(log, bus, 50);
const base: VerifyLogOptions = { keys, busKeys, seals, progressEvery: 50 };

const withoutTime = ({ elapsedMs: _elapsed, ...rest }: LogVerification) => rest;
const sigOf = (e: FixtureEvent) => (e.metadata.evidence as { signature: EvidenceSignature }).signature;
function corruptSignature(e: FixtureEvent): FixtureEvent {
  const bytes = Buffer.from(sigOf(e).sig, "base64");
  bytes[bytes.length - 5]! ^= 0x01;
  return withEvidence(e, { signature: { ...sigOf(e), sig: bytes.toString("base64") } });
}

describe("verifyLog", () => {
  it("verifies chains and seals, and the signatures of the unsealed tail ('sealed-only')", async () => {
    const progress: VerifyProgress[] = [];
    const result = await verifyLog(log, { ...base, onProgress: (p) => progress.push(p) });
    expect(withoutTime(result)).toEqual({ ok: true, events: 240, streams: 7, seals: 4, signatures: 40, unsealedEvents: 40 });
    expect(progress.map((p) => p.events)).toEqual([50, 100, 150, 200, 240]);
    expect(progress.map((p) => p.seals)).toEqual([1, 2, 3, 4, 4]);
  });

  it("verifies every department signature ('all') on this thread and on a worker pool with the same result", async () => {
    const inline = await verifyLog(log, { ...base, signatures: "all", workers: 0 });
    const pooled = await verifyLog(log, { ...base, signatures: "all", workers: 2, batchSize: 16 });
    expect(withoutTime(inline)).toEqual({ ok: true, events: 240, streams: 7, seals: 4, signatures: 240, unsealedEvents: 40 });
    expect(withoutTime(pooled)).toEqual(withoutTime(inline));
  });

  it("reads async iterables of events and seals", async () => {
    async function* slowly<T>(items: readonly T[]) {
      for (const item of items) {
        await Promise.resolve();
        yield item;
      }
    }
    const result = await verifyLog(slowly(log), { ...base, seals: slowly(seals) });
    expect(result).toMatchObject({ ok: true, events: 240, seals: 4 });
  });

  it("reports the FIRST bad signature in log order, the same with and without workers", async () => {
    const altered = tamper(tamper(tamper(log, 203, corruptSignature), 77, corruptSignature), 20, corruptSignature);
    // sealed-only: 20 and 77 are sealed (the seal covers the event, not its signature blob); 203 is in the unsealed tail
    const sealedOnly = await verifyLog(altered, base);
    expect(sealedOnly.failure).toMatchObject({ kind: "signature-invalid", index: 203, eventId: log[203]!.id });
    for (const workers of [0, 2]) {
      const result = await verifyLog(altered, { ...base, signatures: "all", workers, batchSize: 8 });
      expect(withoutTime(result)).toEqual({
        ok: false,
        events: 20,
        streams: 7,
        seals: 0,
        signatures: 20,
        unsealedEvents: 0,
        failure: expect.objectContaining({ kind: "signature-invalid", index: 20, stream: log[20]!.stream, revision: "2" }),
      });
    }
  });

  it("a rewritten event with a recomputed chain breaks the seal; with 'all' its signature", async () => {
    const target = 30;
    const rewritten = tamper(log, target, (e) => ({ ...e, data: { ...e.data, fee: 0 } }));
    // Re-link the whole stream from the rewritten event, as someone with database access would.
    const stream = log[target]!.stream;
    const chainer = new StreamChainer();
    const relinked = rewritten.map((e) => (e.stream === stream ? chainer.link(e) : e));
    const sealedOnly = await verifyLog(relinked, base);
    expect(sealedOnly.failure).toMatchObject({ kind: "seal-root-mismatch", block: 0, index: 49 });
    expect(sealedOnly).toMatchObject({ events: 49, seals: 0 });
    const all = await verifyLog(relinked, { ...base, signatures: "all", workers: 0 });
    expect(all.failure).toMatchObject({ kind: "signature-invalid", index: target });
  });

  it("detects removed events: inside a stream, at the end of a sealed block, a whole sealed block", async () => {
    const gap = await verifyLog(
      log.filter((_, i) => i !== 60),
      base,
    );
    expect(gap.failure).toMatchObject({ kind: "missing-revision", index: 66, stream: log[60]!.stream });
    const cut = await verifyLog(log.slice(0, 180), base);
    expect(cut.failure).toMatchObject({ kind: "seal-incomplete", index: 180, block: 3, expected: "50", actual: "30" });
    expect(cut).toMatchObject({ events: 180, seals: 3 });
    const blockGone = await verifyLog(log.slice(0, 150), base);
    expect(blockGone.failure).toMatchObject({ kind: "seal-incomplete", index: 150, block: 3 });
    // The last event of each stream, removed: no later revision shows the gap, the seal does.
    const lastOfStream = log.slice(0, 200).filter((e, i, all) => !all.slice(i + 1).some((later) => later.stream === e.stream));
    const lastIndex = log.indexOf(lastOfStream[0]!);
    const tailGone = await verifyLog(
      log.slice(0, 200).filter((_, i) => i !== lastIndex),
      { ...base, seals: seals.slice(0, 4) },
    );
    expect(tailGone.failure?.kind).toMatch(/^seal-(range-mismatch|root-mismatch|incomplete)$/);
  });

  it("detects seal problems: a missing seal, a foreign bus key, a range that does not match", async () => {
    const skipped = await verifyLog(log, { ...base, seals: [seals[0]!, seals[2]!, seals[3]!] });
    expect(skipped.failure).toMatchObject({ kind: "seal-sequence", index: 50, block: 2 });
    const forger = generateSigningKey();
    const foreign = await verifyLog(log, { ...base, busKeys: new KeyRing([forger.publicKey]) });
    expect(foreign.failure).toMatchObject({ kind: "seal-signature-invalid", index: 0, block: 0 });
    const shifted: Seal = sealBlock(
      {
        block: 0,
        prev: null,
        entries: log
          .slice(1, 51)
          .map((e) => ({ position: e.position, hash: (e.metadata.evidence as { chain: { hash: string } }).chain.hash })),
      },
      bus,
    );
    const misaligned = await verifyLog(log, { ...base, seals: [shifted] });
    expect(misaligned.failure).toMatchObject({ kind: "seal-range-mismatch", index: 0 });
  });

  it("names unknown keys and wrong signers before any cryptography", async () => {
    const stranger = generateSigningKey();
    const unknown = tamper(log, 210, (e) => withEvidence(e, { signature: signEvent(e, stranger) }));
    expect((await verifyLog(unknown, base)).failure).toMatchObject({ kind: "unknown-key", index: 210 });
    const wrong = tamper(log, 5, (e) => withEvidence(e, { signature: signEvent(e, departments[((5 % 7) + 1) % 3]!.key) }));
    expect((await verifyLog(wrong, { ...base, signatures: "all", workers: 0 })).failure).toMatchObject({ kind: "wrong-signer", index: 5 });
  });
});

describe("SignatureWorkerPool", () => {
  let pool: SignatureWorkerPool;
  beforeAll(async () => {
    pool = await SignatureWorkerPool.start(keys, 2);
  });
  afterAll(async () => {
    await pool.close();
  });

  it("gives the same answers as verifying on this thread", async () => {
    const jobs: SignatureJob[] = departments.flatMap((d, k) =>
      Array.from({ length: 20 }, (_, i) => {
        const message = Buffer.from(`${d.code} message ${i}`);
        const signature = d.key.sign(message);
        if ((i + k) % 7 === 3) signature[signature.length - 3]! ^= 0x10;
        return { message: i % 9 === 4 ? Buffer.from("other") : message, signature, keyId: d.key.keyId };
      }),
    );
    const inline = await new InlineSignatureVerifier(keys).verify(jobs);
    expect(inline.length).toBeGreaterThan(5);
    const halves = await Promise.all([pool.verify(jobs.slice(0, 30)), pool.verify(jobs.slice(30))]);
    expect([...halves[0], ...halves[1].map((i) => i + 30)]).toEqual(inline);
    expect(pool.size).toBe(2);
  });

  it("serves verifyLog when passed in, and stays open for the next run", async () => {
    const inline = await verifyLog(log, { ...base, signatures: "all", workers: 0 });
    for (let run = 0; run < 2; run++)
      expect(withoutTime(await verifyLog(log, { ...base, signatures: "all", verifier: pool }))).toEqual(withoutTime(inline));
  });

  it("refuses a job whose key it does not know", async () => {
    const stranger = generateSigningKey();
    expect(() => pool.verify([{ message: Buffer.from("x"), signature: stranger.sign(Buffer.from("x")), keyId: stranger.keyId }])).toThrow(
      /not in the pool/,
    );
  });
});
