import { describe, expect, it } from "vitest";
import { withEvidence, type EvidenceSignature } from "./canonical.js";
import { chainLinkOf, StreamChainer } from "./chain.js";
import { generateSigningKey, KeyRing } from "./keys.js";
import { positionString, type Seal } from "./seal.js";
import { buildLog, sealLog, tamper, type FixtureEvent } from "./testing.js";
import { verifyLog, type LogVerification, type VerifyLogOptions, type VerifyProgress } from "./verify-log.js";
import {
  cutRanges,
  joinRange,
  SealedRangeCheck,
  verifyLogInRanges,
  type LogRange,
  type RangeCheck,
  type RangeChecker,
} from "./verify-range.js";

const approval = { code: "SPJ-350100", key: generateSigningKey("SM2-SM3") };
const market = { code: "SCJG-350100", key: generateSigningKey("Ed25519") };
const departments = [approval, market];
const keys = new KeyRing(departments.map((d) => ({ key: d.key.publicKey, owner: d.code })));
const bus = generateSigningKey("SM2-SM3");
const busKeys = new KeyRing([bus.publicKey]);

// 250 events over 9 streams, sealed in blocks of 20: 12 seals, 10 unsealed events at the end.
const log = buildLog(250, 9, departments);
const seals = sealLog(log, bus, 20);

const positionOf = (text: string): [bigint, bigint] => {
  const [commit, prepare] = text.split("/");
  return [BigInt(commit!), BigInt(prepare!)];
};
const after = (a: string, b: string | undefined): boolean => {
  if (b === undefined) return true;
  const [ac, ap] = positionOf(a);
  const [bc, bp] = positionOf(b);
  return ac > bc || (ac === bc && ap > bp);
};

/** Ranges checked on this thread, over an array standing for the store: what the event store's workers do. */
class ArrayRangeChecker implements RangeChecker {
  readonly checked: RangeCheck[] = [];
  closed = false;
  constructor(private readonly events: readonly FixtureEvent[]) {}

  check(range: LogRange, onEvents: (events: number) => void): Promise<RangeCheck> {
    const check = new SealedRangeCheck(range.blocks);
    for (const e of this.events) {
      const position = positionString(e.position);
      if (!after(position, range.after) || after(position, range.last)) continue;
      const chain = (e.metadata.evidence as { chain?: { prev?: unknown; hash?: unknown } } | undefined)?.chain;
      if (!check.add({ ...e, revision: e.revision.toString(), position, prev: chain?.prev, hash: chain?.hash })) break;
    }
    onEvents(check.events);
    const result = check.finish();
    this.checked[range.index] = result;
    return Promise.resolve(result);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

const withoutTime = ({ elapsedMs: _elapsed, ...rest }: LogVerification) => rest;

async function both(events: readonly FixtureEvent[], options: Partial<VerifyLogOptions> & { readonly seals?: readonly unknown[] } = {}) {
  const sealList = options.seals ?? seals;
  const whole = await verifyLog(events, { keys, busKeys, ...options, seals: sealList });
  const checker = new ArrayRangeChecker(events);
  const inRanges = await verifyLogInRanges({
    keys,
    busKeys: options.busKeys ?? busKeys,
    seals: sealList,
    checker,
    ranges: 4,
    readAfter: (position) => events.filter((e) => after(positionString(e.position), position)),
  });
  expect(checker.closed).toBe(true);
  return { whole: withoutTime(whole), inRanges: withoutTime(inRanges), checker };
}

const chainOf = (e: FixtureEvent) => (e.metadata.evidence as { chain: { prev: string; hash: string } }).chain;
const sigOf = (e: FixtureEvent) => (e.metadata.evidence as { signature: EvidenceSignature }).signature;

describe("SealedRangeCheck and verifyLogInRanges", () => {
  it("cuts the blocks into ranges of about equal size that together cover them in order", () => {
    const ranges = cutRanges(seals, 4);
    expect(ranges.map((r) => r.blocks.length)).toEqual([3, 3, 3, 3]);
    expect(ranges[0]!.after).toBeUndefined();
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.after).toBe(ranges[i - 1]!.last);
    expect(ranges[3]!.last).toBe(seals[11]!.lastPosition);
    expect(cutRanges(seals, 50)).toHaveLength(12);
    expect(cutRanges([], 3)).toEqual([]);
  });

  it("an intact log: every range verifies and joins, and the result is verifyLog's", async () => {
    const progress: VerifyProgress[] = [];
    const { whole, inRanges, checker } = await both(log);
    expect(inRanges).toEqual(whole);
    expect(whole).toEqual({ ok: true, events: 250, streams: 9, seals: 12, signatures: 10, unsealedEvents: 10 });
    expect(checker.checked.every((c) => c.ok)).toBe(true);
    const reported = await verifyLogInRanges({
      keys,
      busKeys,
      seals,
      checker: new ArrayRangeChecker(log),
      ranges: 3,
      progressEvery: 50,
      onProgress: (p) => progress.push(p),
      readAfter: (position) => log.filter((e) => after(positionString(e.position), position)),
    });
    expect(reported.ok).toBe(true);
    expect(progress.at(-1)).toMatchObject({ events: 250, seals: 12, signatures: 10 });
  });

  it("each stream's first event in a range is left to the join; its later events are checked in the range", () => {
    const [first, second] = cutRanges(seals, 2) as [LogRange, LogRange];
    const run = (range: LogRange) => new ArrayRangeChecker(log).check(range, () => undefined);
    return Promise.all([run(first), run(second)]).then(([a, b]) => {
      expect(a.ok && b.ok).toBe(true);
      if (!a.ok || !b.ok) return;
      const s = b.streams.find((x) => x.stream === log[130]!.stream)!;
      const lastInFirst = a.streams.find((x) => x.stream === s.stream)!;
      expect(BigInt(s.firstRevision)).toBe(BigInt(lastInFirst.lastRevision) + 1n);
      expect(s.firstPrev).toBe(lastInFirst.lastHash);
    });
  });

  // Each a failure verifyLog names; in ranges, the same failure (kind, event, index, counts) must come out.
  const relink = (events: FixtureEvent[], stream: string) => {
    const chainer = new StreamChainer();
    return events.map((e) => (e.stream === stream ? chainer.link(e) : e));
  };
  const boundary = cutRanges(seals, 4)[2]!.blocks[0]!.firstPosition; // the first event of the third range
  const atBoundary = log.findIndex((e) => positionString(e.position) === boundary);
  const scenarios: [string, () => FixtureEvent[], Partial<VerifyLogOptions> & { seals?: readonly unknown[] }][] = [
    ["a payload altered in the second range", () => tamper(log, 75, (e) => ({ ...e, data: { ...e.data, fee: 0 } })), {}],
    ["a payload altered in the first range", () => tamper(log, 3, (e) => ({ ...e, data: { ...e.data, fee: 0 } })), {}],
    ["a payload altered in the unsealed tail", () => tamper(log, 245, (e) => ({ ...e, data: { ...e.data, fee: 0 } })), {}],
    [
      "a signature altered in the unsealed tail (verified ahead, while ranges are checked)",
      () =>
        tamper(log, 247, (e) => {
          const bytes = Buffer.from(sigOf(e).sig, "base64");
          bytes[bytes.length - 5]! ^= 0x01;
          return withEvidence(e, { signature: { ...sigOf(e), sig: bytes.toString("base64") } });
        }),
      {},
    ],
    [
      "a chain link (prev) broken exactly at a range boundary",
      () => tamper(log, atBoundary, (e) => withEvidence(e, { chain: { ...chainOf(e), prev: "ab".repeat(32) } })),
      {},
    ],
    [
      "a boundary event re-linked after another prev (its own link consistent, not following the range before)",
      () =>
        tamper(log, atBoundary, (e) => {
          const chainer = new StreamChainer(new Map([[e.stream, { revision: e.revision - 1n, hash: "cd".repeat(32) }]]));
          const { evidence: _evidence, ...metadata } = e.metadata;
          return withEvidence(chainer.link({ ...e, metadata } as FixtureEvent), { signature: sigOf(e) });
        }),
      {},
    ],
    [
      "a revision missing across a boundary (the stream's last event before it removed)",
      () => {
        const stream = log[atBoundary]!.stream;
        const before = log.slice(0, atBoundary).findLastIndex((e) => e.stream === stream);
        return log.filter((_, i) => i !== before);
      },
      {},
    ],
    [
      "a stored chain hash altered",
      () => tamper(log, 130, (e) => withEvidence(e, { chain: { ...chainOf(e), hash: "ef".repeat(32) } })),
      {},
    ],
    [
      "a stream re-linked from an altered event (seal root mismatch)",
      () =>
        relink(
          tamper(log, 100, (e) => ({ ...e, data: { ...e.data, fee: 1 } })),
          log[100]!.stream,
        ),
      {},
    ],
    ["the log cut short inside a block", () => log.slice(0, 187), {}],
    ["the log cut short at a block's end, seals left for the missing events", () => log.slice(0, 200), {}],
    ["an event removed inside a block", () => log.filter((_, i) => i !== 95), {}],
    [
      "an event inserted inside a block",
      () => [
        ...log.slice(0, 96),
        { ...log[96]!, id: "0190a6f2-9999-7000-8000-000000000000", position: { commit: log[95]!.position.commit, prepare: 100_000n } },
        ...log.slice(96),
      ],
      {},
    ],
    ["a revision of another event's stream (duplicate revision)", () => tamper(log, 120, (e) => ({ ...e, revision: e.revision - 1n })), {}],
    ["an event's evidence removed", () => tamper(log, 150, (e) => ({ ...e, metadata: { ...e.metadata, evidence: undefined } })), {}],
    ["an event without a canonical form", () => tamper(log, 160, (e) => ({ ...e, data: { ...e.data, fee: Number.NaN } })), {}],
  ];
  const sealChange = (at: number, change: (seal: Seal) => unknown): unknown[] =>
    seals.map((s, i) => (i === at ? change(structuredClone(s)) : s));
  const sealScenarios: [string, unknown[]][] = [
    [
      "a seal's signature altered",
      sealChange(7, (s) => ({ ...s, signature: { ...s.signature, sig: bus.sign(Buffer.from("other")).toString("base64") } })),
    ],
    ["a seal's root altered", sealChange(5, (s) => ({ ...s, root: "00".repeat(32) }))],
    ["a seal missing", seals.filter((_, i) => i !== 4)],
    ["a malformed seal", sealChange(9, () => ({ format: "nonsense" }))],
    ["a seal's range shifted", sealChange(3, (s) => ({ ...s, firstPosition: positionString(log[61]!.position) }))],
  ];

  it.each(scenarios)("%s: the same first failure as verifyLog", async (_name, events, options) => {
    const { whole, inRanges } = await both(events(), options);
    expect(whole.ok).toBe(false);
    expect(inRanges).toEqual(whole);
  });

  it.each(sealScenarios)("%s: the same first failure as verifyLog", async (_name, sealList) => {
    const { whole, inRanges } = await both(log, { seals: sealList });
    expect(whole.ok).toBe(false);
    expect(inRanges).toEqual(whole);
  });

  it("a bus key it does not trust fails at the first seal, as verifyLog does", async () => {
    const { whole, inRanges } = await both(log, { busKeys: new KeyRing([generateSigningKey().publicKey]) });
    expect(whole.failure).toMatchObject({ kind: "seal-signature-invalid", index: 0 });
    expect(inRanges).toEqual(whole);
  });

  it("a range whose check cannot be made is read by verifyLog instead, with the same result", async () => {
    const failing: RangeChecker = {
      check: (range, onEvents) =>
        range.index === 2 ? Promise.reject(new Error("connection lost")) : new ArrayRangeChecker(log).check(range, onEvents),
      close: () => Promise.resolve(),
    };
    const whole = await verifyLog(log, { keys, busKeys, seals });
    const inRanges = await verifyLogInRanges({
      keys,
      busKeys,
      seals,
      checker: failing,
      ranges: 4,
      readAfter: (position) => log.filter((e) => after(positionString(e.position), position)),
    });
    expect(withoutTime(inRanges)).toEqual(withoutTime(whole));
  });

  it("a log without seals is verifyLog's from the start", async () => {
    const { whole, inRanges } = await both(log.slice(0, 30), { seals: [] });
    expect(whole).toMatchObject({ ok: true, events: 30, seals: 0, unsealedEvents: 30 });
    expect(inRanges).toEqual(whole);
  });

  it("stream ends of a verified range name each stream once, and a tampered range says why for logs", async () => {
    const range = cutRanges(seals, 4)[1]!;
    const bad = await new ArrayRangeChecker(tamper(log, 75, (e) => ({ ...e, data: { ...e.data, fee: 0 } }))).check(range, () => undefined);
    expect(bad).toMatchObject({ ok: false, reason: expect.stringContaining("chain hash") });
    const good = await new ArrayRangeChecker(log).check(range, () => undefined);
    expect(good.ok).toBe(true);
    if (good.ok) expect(new Set(good.streams.map((s) => s.stream)).size).toBe(good.streams.length);
  });
});

describe("joinRange", () => {
  const hash = (c: string) => c.repeat(64);
  const ends = (stream: string, firstRevision: string, firstPrev: string, lastRevision: string, lastHash: string) => ({
    stream,
    firstRevision,
    firstPrev,
    lastRevision,
    lastHash,
  });

  it("takes a stream that starts at revision 0 after GENESIS, and one that follows its head; moves the heads", () => {
    const heads = new Map([["a", { revision: 4n, hash: hash("1") }]]);
    expect(joinRange(heads, [ends("a", "5", hash("1"), "9", hash("2")), ends("b", "0", "0".repeat(64), "3", hash("3"))])).toEqual({
      ok: true,
    });
    expect(heads).toEqual(
      new Map([
        ["a", { revision: 9n, hash: hash("2") }],
        ["b", { revision: 3n, hash: hash("3") }],
      ]),
    );
  });

  it.each([
    ["a revision skipped", ends("a", "6", hash("1"), "9", hash("2"))],
    ["a revision repeated", ends("a", "4", hash("1"), "9", hash("2"))],
    ["a prev that is not the head's hash", ends("a", "5", hash("7"), "9", hash("2"))],
    ["a new stream not at revision 0", ends("b", "1", "0".repeat(64), "3", hash("3"))],
    ["a new stream not after GENESIS", ends("b", "0", hash("5"), "3", hash("3"))],
  ])("refuses %s, naming the stream and leaving the heads as they were", (_name, bad) => {
    const heads = new Map([["a", { revision: 4n, hash: hash("1") }]]);
    const before = new Map(heads);
    expect(joinRange(heads, [ends("c", "0", "0".repeat(64), "0", hash("9")), bad])).toEqual({ ok: false, stream: bad.stream });
    expect(heads).toEqual(before);
  });
});

// The leaf of an event is its stored chain hash: a range's Merkle roots use the same leaves verifyLog does.
it("fixture sanity: every event is linked", () => {
  expect(log.every((e) => chainLinkOf(e) !== undefined)).toBe(true);
});
