import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { v7 as uuidv7 } from "uuid";
import { ConcurrencyError } from "../src/errors.js";
import {
  comparePositions,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type LogPosition,
  type NewEvent,
  type StoredEvent,
} from "../src/port.js";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const metadata: EventMetadata = { correlationId: "corr-1", causationId: null, department: "SAMR" };

function event(type: string, data: unknown = {}, meta: Partial<EventMetadata> = {}): NewEvent {
  return { type, data, metadata: { ...metadata, ...meta } };
}

function events(n: number, type = "Tested"): NewEvent[] {
  return Array.from({ length: n }, (_, i) => event(type, { i }));
}

async function expectConflict(work: Promise<unknown>, stream: string, expected: ExpectedRevision, actual: bigint | "no_stream") {
  const err: unknown = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConcurrencyError);
  expect(err).toMatchObject({ stream, expected, actual, code: "eventstore.concurrency" });
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function isStrictlyIncreasing(positions: readonly LogPosition[]) {
  return positions.every((p, i) => i === 0 || comparePositions(positions[i - 1]!, p) < 0);
}

/**
 * The behaviour every EventStore adapter must show. Tests use fresh stream
 * names and positions taken during the test, and filter the global log to
 * their own streams, so the suite also runs against a shared server
 * (KurrentDB) whose log already holds other events.
 */
export function describeEventStoreConformance(name: string, makeStore: () => Promise<EventStore>) {
  describe(`EventStore conformance: ${name}`, () => {
    let store: EventStore;
    let prefix: string;
    const streamName = (label: string) => `${prefix}-${label}`;
    const ours = (all: readonly StoredEvent[]) => all.filter((e) => e.stream.startsWith(prefix));

    /** A position at the current end of the log: appends made after it come after it. */
    async function mark(): Promise<LogPosition> {
      return (await store.append(streamName(`mark-${uuidv7()}`), [event("Marked")], "no_stream")).position;
    }

    beforeEach(async () => {
      store = await makeStore();
      prefix = `conf-${uuidv7()}`;
    });
    afterEach(async () => {
      await store.close();
    });

    describe("append", () => {
      it("creates a stream with no_stream and returns the last revision and its position", async () => {
        const result = await store.append(streamName("a"), events(3), "no_stream");
        expect(result.nextExpectedRevision).toBe(2n);
        const read = await store.readStream(streamName("a"));
        expect(read.map((e) => e.revision)).toEqual([0n, 1n, 2n]);
        expect(read[2]!.position).toEqual(result.position);
      });

      it("appends at the exact last revision", async () => {
        const s = streamName("exact");
        const first = await store.append(s, events(2), "no_stream");
        const second = await store.append(s, events(1), first.nextExpectedRevision);
        expect(second.nextExpectedRevision).toBe(2n);
        expect(comparePositions(first.position, second.position)).toBeLessThan(0);
      });

      it("appends with any, whether or not the stream exists", async () => {
        const s = streamName("any");
        expect((await store.append(s, events(1), "any")).nextExpectedRevision).toBe(0n);
        expect((await store.append(s, events(2), "any")).nextExpectedRevision).toBe(2n);
      });

      it("appends with stream_exists to an existing stream", async () => {
        const s = streamName("exists");
        await store.append(s, events(1), "no_stream");
        expect((await store.append(s, events(1), "stream_exists")).nextExpectedRevision).toBe(1n);
      });

      it("rejects no_stream on an existing stream", async () => {
        const s = streamName("c1");
        await store.append(s, events(2), "no_stream");
        await expectConflict(store.append(s, events(1), "no_stream"), s, "no_stream", 1n);
      });

      it("rejects a stale exact revision and leaves the stream unchanged", async () => {
        const s = streamName("c2");
        await store.append(s, events(3), "no_stream");
        await expectConflict(store.append(s, events(1), 1n), s, 1n, 2n);
        expect(await store.readStream(s)).toHaveLength(3);
      });

      it("rejects an exact revision on a missing stream", async () => {
        const s = streamName("c3");
        await expectConflict(store.append(s, events(1), 0n), s, 0n, "no_stream");
        expect(await store.readStream(s)).toEqual([]);
      });

      it("rejects stream_exists on a missing stream", async () => {
        const s = streamName("c4");
        await expectConflict(store.append(s, events(1), "stream_exists"), s, "stream_exists", "no_stream");
      });

      it("lets exactly one of two appends at the same revision win", async () => {
        const s = streamName("race");
        await store.append(s, events(1), "no_stream");
        const outcomes = await Promise.allSettled([store.append(s, events(1), 0n), store.append(s, events(1), 0n)]);
        expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
        const rejected = outcomes.find((o) => o.status === "rejected");
        expect(rejected?.reason).toBeInstanceOf(ConcurrencyError);
        expect(await store.readStream(s)).toHaveLength(2);
      });

      it("treats appending no events as a no-op that still checks the expectation", async () => {
        const s = streamName("empty");
        await store.append(s, [], "no_stream");
        expect(await store.readStream(s)).toEqual([]);
        await store.append(s, events(2), "no_stream");
        expect((await store.append(s, [], 1n)).nextExpectedRevision).toBe(1n);
        await expectConflict(store.append(s, [], 0n), s, 0n, 1n);
        await expectConflict(store.append(s, [], "no_stream"), s, "no_stream", 1n);
        await expectConflict(store.append(streamName("none"), [], "stream_exists"), streamName("none"), "stream_exists", "no_stream");
        expect(await store.readStream(s)).toHaveLength(2);
      });
    });

    describe("readStream", () => {
      let s: string;
      beforeEach(async () => {
        s = streamName("read");
        await store.append(s, events(5), "no_stream");
      });

      it("reads forwards from a revision, up to maxCount", async () => {
        const read = await store.readStream(s, { fromRevision: 1n, maxCount: 3 });
        expect(read.map((e) => e.revision)).toEqual([1n, 2n, 3n]);
        expect(read.map((e) => e.data)).toEqual([{ i: 1 }, { i: 2 }, { i: 3 }]);
      });

      it("reads backwards from the end or from a revision", async () => {
        expect((await store.readStream(s, { direction: "backwards" })).map((e) => e.revision)).toEqual([4n, 3n, 2n, 1n, 0n]);
        const read = await store.readStream(s, { direction: "backwards", fromRevision: 3n, maxCount: 2 });
        expect(read.map((e) => e.revision)).toEqual([3n, 2n]);
      });

      it("reads an empty array for a stream that does not exist", async () => {
        expect(await store.readStream(streamName("missing"))).toEqual([]);
        expect(await store.readStream(streamName("missing"), { direction: "backwards" })).toEqual([]);
      });

      it("gives concurrent readers of whole streams each their own stream, whole and in order, and sees an append made just before", async () => {
        const others = Array.from({ length: 6 }, (_, i) => streamName(`concurrent-${i}`));
        await Promise.all(others.map((o, i) => store.append(o, events(i + 1), "no_stream")));
        const wanted = [s, ...others, s, streamName("missing")];
        const reads = await Promise.all(wanted.map((w) => store.readStream(w)));
        expect(reads.map((r) => r.length)).toEqual([5, 1, 2, 3, 4, 5, 6, 5, 0]);
        reads.forEach((r, i) => expect(r.every((e, rev) => e.stream === wanted[i] && e.revision === BigInt(rev))).toBe(true));
        expect(reads[0]).not.toBe(reads[7]); // one stream asked twice: two arrays, each the caller's own
        await store.append(s, events(1), 4n);
        expect(await store.readStream(s)).toHaveLength(6);
      });
    });

    describe("stored events", () => {
      it("round-trips every field", async () => {
        const s = streamName("fields");
        const meta: EventMetadata = {
          correlationId: "req-42",
          causationId: "cmd-7",
          department: "330100-SAMR",
          traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
          subject: "91330100MA2XXXXX1X",
          caseId: "case-1",
        };
        const data = { licence: { no: "许可-001", items: [1, 2, 3] }, approved: true, note: null };
        const given = uuidv7();
        const before = Date.now();
        const result = await store.append(
          s,
          [
            { type: "LicenceGranted", data, metadata: meta },
            { id: given, ...event("Noted") },
          ],
          "no_stream",
        );
        const [first, second] = await store.readStream(s);
        expect(first!.id).toMatch(UUID_V7);
        expect(second!.id).toBe(given);
        expect(first).toMatchObject({ type: "LicenceGranted", stream: s, revision: 0n, data, metadata: meta });
        expect(second!.position).toEqual(result.position);
        expect(comparePositions(first!.position, second!.position)).toBeLessThan(0);
        expect(typeof first!.position.commit).toBe("bigint");
        expect(first!.time).toBeInstanceOf(Date);
        expect(Math.abs(first!.time.getTime() - before)).toBeLessThan(60_000);
      });
    });

    describe("appender's time", () => {
      it("keeps NewEvent.time as the event's time, to the millisecond, in every read", async () => {
        const s = streamName("time");
        const times = [new Date("2026-03-02T01:02:03.456Z"), new Date("1999-12-31T23:59:59.999Z")];
        const start = await mark();
        const before = Date.now();
        await store.append(
          s,
          [{ ...event("Timed"), time: times[0]! }, { ...event("Timed"), time: times[1]! }, event("Untimed")],
          "no_stream",
        );
        const read = await store.readStream(s);
        expect(read.slice(0, 2).map((e) => e.time.toISOString())).toEqual(times.map((t) => t.toISOString()));
        expect(Math.abs(read[2]!.time.getTime() - before)).toBeLessThan(60_000);
        // The time travels outside metadata: metadata comes back as given.
        expect(read[0]!.metadata).toEqual(metadata);
        const all = ours(await store.readAll({ after: start })).filter((e) => e.stream === s);
        expect(all.map((e) => e.time.getTime())).toEqual(read.map((e) => e.time.getTime()));
        const [backwards] = await store.readStream(s, { direction: "backwards", fromRevision: 1n, maxCount: 1 });
        expect(backwards!.time.toISOString()).toBe("1999-12-31T23:59:59.999Z");
      });
    });

    describe("readAll", () => {
      it("returns events in commit order, exclusive of `after`", async () => {
        const start = await mark();
        const a = await store.append(streamName("x"), events(2), "no_stream");
        await store.append(streamName("y"), events(1), "no_stream");
        await store.append(streamName("x"), events(1), a.nextExpectedRevision);

        const all = ours(await store.readAll({ after: start })).filter((e) => e.type !== "Marked");
        expect(all.map((e) => [e.stream, e.revision])).toEqual([
          [streamName("x"), 0n],
          [streamName("x"), 1n],
          [streamName("y"), 0n],
          [streamName("x"), 2n],
        ]);
        expect(isStrictlyIncreasing(all.map((e) => e.position))).toBe(true);

        const afterSecond = ours(await store.readAll({ after: all[1]!.position }));
        expect(afterSecond.map((e) => e.id)).toEqual(all.slice(2).map((e) => e.id));
      });

      it("pages with maxCount without skipping or repeating", async () => {
        const start = await mark();
        await store.append(streamName("page"), events(7), "no_stream");
        const seen: StoredEvent[] = [];
        let after = start;
        for (;;) {
          const page = await store.readAll({ after, maxCount: 3 });
          expect(page.length).toBeLessThanOrEqual(3);
          if (page.length === 0) break;
          seen.push(...page);
          after = page.at(-1)!.position;
        }
        expect(ours(seen).map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n, 4n, 5n, 6n]);
      });
    });

    describe("readByCorrelationKey", () => {
      it("returns a case's events across streams, by caseId or subject, in log order", async () => {
        const key = `${prefix}-case`;
        await store.append(streamName("licence"), [event("Applied", {}, { caseId: key }), event("Unrelated")], "no_stream");
        await store.append(streamName("inspection"), [event("Inspected", {}, { subject: key })], "no_stream");
        await store.append(streamName("penalty"), [event("Fined", {}, { caseId: key, subject: "other" })], "no_stream");
        await store.append(streamName("other"), [event("Elsewhere", {}, { caseId: `${key}-not` })], "no_stream");

        const history = await store.readByCorrelationKey(key);
        expect(history.map((e) => e.type)).toEqual(["Applied", "Inspected", "Fined"]);
        expect(isStrictlyIncreasing(history.map((e) => e.position))).toBe(true);
      });
    });

    describe("subscribeToAll", () => {
      it("catches up, then receives live appends in order, once each", async () => {
        const start = await mark();
        await store.append(streamName("sub"), events(3), "no_stream");
        const received: StoredEvent[] = [];
        const sub = store.subscribeToAll(
          async (batch) => {
            received.push(...ours(batch).filter((e) => e.type !== "Marked"));
          },
          { after: start, batchSize: 2 },
        );
        await waitFor(() => received.length >= 3, "catch-up");
        await store.append(streamName("sub"), events(2), 2n);
        await store.append(streamName("sub2"), events(1), "no_stream");
        await waitFor(() => received.length >= 6, "live events");
        await sub.close();
        await sub.done;

        expect(received.map((e) => `${e.stream}@${e.revision}`)).toEqual([
          ...[0, 1, 2, 3, 4].map((r) => `${streamName("sub")}@${r}`),
          `${streamName("sub2")}@0`,
        ]);
        expect(isStrictlyIncreasing(received.map((e) => e.position))).toBe(true);
      });

      it("hands over batches no larger than batchSize", async () => {
        const start = await mark();
        await store.append(streamName("batch"), events(5), "no_stream");
        const sizes: number[] = [];
        let count = 0;
        const sub = store.subscribeToAll(
          async (batch) => {
            sizes.push(batch.length);
            count += ours(batch).length;
          },
          { after: start, batchSize: 2 },
        );
        await waitFor(() => count >= 5, "five events");
        await sub.close();
        expect(Math.max(...sizes)).toBeLessThanOrEqual(2);
      });

      it("resumes from a checkpoint without a duplicate", async () => {
        const s = streamName("resume");
        await store.append(s, events(4), "no_stream");
        const [, second] = await store.readStream(s);
        const received: StoredEvent[] = [];
        const sub = store.subscribeToAll(async (batch) => void received.push(...ours(batch)), { after: second!.position });
        await waitFor(() => received.length >= 2, "events after the checkpoint");
        await new Promise((r) => setTimeout(r, 300));
        await sub.close();
        expect(received.map((e) => e.revision)).toEqual([2n, 3n]);
      });

      it("stops on close() and delivers nothing afterwards", async () => {
        const start = await mark();
        let calls = 0;
        const sub = store.subscribeToAll(async (batch) => void (calls += ours(batch).length), { after: start });
        await store.append(streamName("close"), events(1), "no_stream");
        await waitFor(() => calls === 1, "first event");
        await sub.close();
        await expect(sub.done).resolves.toBeUndefined();
        await store.append(streamName("close"), events(1), 0n);
        await new Promise((r) => setTimeout(r, 400));
        expect(calls).toBe(1);
      });

      it("stops when its signal aborts", async () => {
        const controller = new AbortController();
        const sub = store.subscribeToAll(async () => {}, { after: await mark(), signal: controller.signal });
        controller.abort();
        await expect(sub.done).resolves.toBeUndefined();
      });

      it("rejects done with the handler's error", async () => {
        const start = await mark();
        await store.append(streamName("fail"), events(1), "no_stream");
        const failure = new Error("projection broke");
        const sub = store.subscribeToAll(
          async (batch) => {
            if (ours(batch).length > 0) throw failure;
          },
          { after: start },
        );
        await expect(sub.done).rejects.toBe(failure);
      });
    });
  });
}
