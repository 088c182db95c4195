import { describe, expect, it } from "vitest";
import { canonicalEvent, withEvidence, type EvidenceEvent, type EvidenceSignature } from "./canonical.js";
import { linkEvent, StreamChainer, verifyChain } from "./chain.js";
import { CanonicalFormError } from "./errors.js";
import { generateSigningKey, KeyRing } from "./keys.js";
import { signEvent, verifyEventSignature } from "./sign.js";
import { GENESIS_HASH, sm3 } from "./sm3.js";
import { buildLog, licenceEvent, tamper, type FixtureEvent } from "./testing.js";

const approval = { code: "SPJ-350100", key: generateSigningKey("SM2-SM3") };
const market = { code: "SCJG-350100", key: generateSigningKey("Ed25519") };
const keys = new KeyRing([
  { key: approval.key.publicKey, owner: approval.code },
  { key: market.key.publicKey, owner: market.code },
]);
// 3 streams, 12 events, interleaved; streams 0 and 2 signed with SM2, stream 1 with Ed25519.
const log = buildLog(12, 3, [approval, market]);
type Evidence = { signature: EvidenceSignature; chain: { prev: string; hash: string } };
const evidence = (e: FixtureEvent) => e.metadata.evidence as Evidence;

describe("canonical event bytes", () => {
  const event = licenceEvent("licence-SP-1", 3n, "SPJ-350100", 7);

  it("is RFC 8785 JSON of id, type, stream, revision (string), time (ISO), data and metadata without evidence", () => {
    expect(canonicalEvent(event).toString("utf8")).toBe(
      `{"data":{"caseId":"licence-SP-1","fee":12.5,"holder":{"name":"福州市鼓楼区示范餐饮管理有限公司","uscc":"91350100M000100Y43"},"seq":7,"underCommitment":false},` +
        `"id":"0190a6f2-0007-7000-8000-licenceSP100","metadata":{"causationId":null,"correlationId":"corr-7","department":"SPJ-350100"},` +
        `"revision":"3","stream":"licence-SP-1","time":"2026-03-02T09:00:00.007Z","type":"InspectionRecorded"}`,
    );
  });

  it("is the same before and after a JSON round trip through storage", () => {
    const stored = JSON.parse(JSON.stringify({ ...event, revision: event.revision.toString() })) as EvidenceEvent;
    expect(canonicalEvent(stored)).toEqual(canonicalEvent(event));
    expect(canonicalEvent({ ...event, revision: 3 })).toEqual(canonicalEvent(event));
    expect(canonicalEvent({ ...event, time: "2026-03-02T17:00:00.007+08:00" })).toEqual(canonicalEvent(event));
  });

  it("leaves out metadata.evidence and nothing else", () => {
    const base = canonicalEvent(event);
    expect(canonicalEvent(withEvidence(event, { chain: { prev: GENESIS_HASH, hash: GENESIS_HASH } }))).toEqual(base);
    const changes: Partial<EvidenceEvent>[] = [
      { id: "other" },
      { type: "LicenceRevoked" },
      { stream: "licence-SP-2" },
      { revision: 4n },
      { time: new Date(event.time.getTime() + 1) },
      { data: { ...event.data, fee: 12.51 } },
      { metadata: { ...event.metadata, correlationId: "corr-8" } },
      { metadata: { ...event.metadata, traceparent: "00-x" } },
    ];
    for (const change of changes) expect(canonicalEvent({ ...event, ...change })).not.toEqual(base);
  });

  it("rejects what has no canonical form", () => {
    expect(() => canonicalEvent({ ...event, revision: -1n })).toThrow(CanonicalFormError);
    expect(() => canonicalEvent({ ...event, revision: "01" })).toThrow(CanonicalFormError);
    expect(() => canonicalEvent({ ...event, time: "yesterday" })).toThrow(CanonicalFormError);
    expect(() => canonicalEvent({ ...event, data: { x: NaN } })).toThrow(CanonicalFormError);
  });
});

describe("per-stream hash chain", () => {
  it("hash_n = SM3(hash_{n-1} ‖ canonical(event_n)) from 32 zero bytes", () => {
    const first = log[0]!;
    expect(evidence(first).chain.prev).toBe(GENESIS_HASH);
    expect(evidence(first).chain.hash).toBe(sm3(Buffer.alloc(32), canonicalEvent(first)).toString("hex"));
    const second = log[3]!; // the same stream, revision 1
    expect(second.revision).toBe(1n);
    expect(evidence(second).chain).toEqual(linkEvent(second, evidence(first).chain.hash));
  });

  it("verifies an honest log with every signature", () => {
    const result = verifyChain(log, { keys });
    expect(result).toMatchObject({ ok: true, events: 12, streams: 3 });
    expect(result.heads.get(log[11]!.stream)).toEqual({ revision: 3n, hash: evidence(log[11]!).chain.hash });
    for (const event of log) expect(verifyEventSignature(event, keys)).toEqual({ ok: true });
  });

  it("resumes from verified heads", () => {
    const first = verifyChain(log.slice(0, 6));
    expect(verifyChain(log.slice(6), { heads: first.heads })).toMatchObject({ ok: true, events: 6 });
    expect(verifyChain(log.slice(6)).failure?.kind).toBe("missing-revision");
  });

  it("payload altered → hash mismatch at that revision", () => {
    const altered = tamper(log, 7, (e) => ({ ...e, data: { ...e.data, fee: 0 } }));
    const { failure, events } = verifyChain(altered);
    expect(failure).toMatchObject({ kind: "hash-mismatch", index: 7, stream: log[7]!.stream, revision: "2", eventId: log[7]!.id });
    expect(failure?.message).toMatch(/payload altered/);
    expect(events).toBe(7);
  });

  it("link altered → prev mismatch", () => {
    const altered = tamper(log, 4, (e) => withEvidence(e, { chain: { ...evidence(e).chain, prev: evidence(log[0]!).chain.prev } }));
    expect(verifyChain(altered).failure).toMatchObject({
      kind: "prev-mismatch",
      index: 4,
      revision: "1",
      expected: evidence(log[1]!).chain.hash,
      actual: GENESIS_HASH,
    });
  });

  it("an event removed → missing revision; an event repeated → duplicate revision", () => {
    const removed = log.filter((_, i) => i !== 4);
    expect(verifyChain(removed).failure).toMatchObject({
      kind: "missing-revision",
      index: 6,
      stream: log[4]!.stream,
      expected: "1",
      actual: "2",
    });
    expect(verifyChain(removed).failure?.message).toMatch(/missing revision 1$/);
    const repeated = [...log.slice(0, 5), log[4]!, ...log.slice(5)];
    expect(verifyChain(repeated).failure).toMatchObject({ kind: "duplicate-revision", index: 5 });
  });

  it("a rewritten stream (payload altered, chain recomputed) still fails: signature invalid", () => {
    const rewritten = tamper(log, 5, (e) => ({ ...e, data: { ...e.data, underCommitment: true } }));
    const chainer = new StreamChainer();
    const relinked = rewritten.map((e) => chainer.link(e));
    expect(verifyChain(relinked).ok).toBe(true);
    expect(verifyChain(relinked, { keys }).failure).toMatchObject({ kind: "signature-invalid", index: 5, revision: "1" });
  });

  it("names signature problems: altered signature, unknown key, wrong signer, missing", () => {
    const flip = (sig: string) => {
      const bytes = Buffer.from(sig, "base64");
      bytes[10]! ^= 0x40;
      return bytes.toString("base64");
    };
    for (const index of [0, 1]) {
      // index 0 is SM2, index 1 Ed25519
      const altered = tamper(log, index, (e) =>
        withEvidence(e, { signature: { ...evidence(e).signature, sig: flip(evidence(e).signature.sig) } }),
      );
      expect(verifyChain(altered, { keys }).failure).toMatchObject({ kind: "signature-invalid", index });
    }
    const stranger = generateSigningKey();
    const unknown = tamper(log, 2, (e) => withEvidence(e, { signature: signEvent(e, stranger) }));
    expect(verifyChain(unknown, { keys }).failure).toMatchObject({ kind: "unknown-key", index: 2, actual: stranger.keyId });
    const impostor = tamper(log, 2, (e) => withEvidence(e, { signature: signEvent(e, market.key) }));
    expect(verifyChain(impostor, { keys }).failure).toMatchObject({
      kind: "wrong-signer",
      index: 2,
      expected: market.code,
      actual: approval.code,
    });
    const unsigned = tamper(log, 3, (e) => ({ ...e, metadata: { ...e.metadata, evidence: { chain: evidence(e).chain } } }));
    expect(verifyChain(unsigned, { keys }).failure).toMatchObject({ kind: "missing-signature", index: 3 });
    expect(verifyChain(unsigned).ok).toBe(true);
    const mislabelled = tamper(log, 0, (e) => withEvidence(e, { signature: { ...evidence(e).signature, alg: "Ed25519" } }));
    expect(verifyChain(mislabelled, { keys }).failure).toMatchObject({ kind: "algorithm-mismatch", index: 0 });
  });

  it("an event without a chain link, or with no canonical form, is named", () => {
    const unlinked = tamper(log, 1, (e) => ({ ...e, metadata: { ...e.metadata, evidence: { signature: evidence(e).signature } } }));
    expect(verifyChain(unlinked).failure).toMatchObject({ kind: "missing-chain", index: 1 });
    const broken = tamper(log, 2, (e) => ({ ...e, time: new Date(NaN) }));
    expect(verifyChain(broken).failure).toMatchObject({ kind: "not-canonical", index: 2 });
  });
});
