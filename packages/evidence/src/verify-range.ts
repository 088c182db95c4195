/**
 * A whole log verified in parts. Sealed blocks are independent for the
 * Merkle roots, and the chain links of a stream cross block boundaries only
 * through each stream's first event in a part: so a run of consecutive
 * sealed blocks (a range) is checked on its own, with each stream's first
 * event taken on trust from its stored link, and the ranges are joined in
 * log order by checking those first events against the previous range's last.
 *
 * A range check says only "everything here verifies" or "something here
 * does not". It never names the failure: verifyLog does, re-reading from the
 * start of the first range that did not verify, resumed with the heads the
 * ranges before it proved (VerifyLogOptions.resume). So what a failure
 * report says, and in which order the checks of one event run, lives in one
 * place, and a range check only has to be sound: when it passes, verifyLog
 * would have passed the same events.
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import { isHash, toHex } from "./bytes.js";
import { canonicalEventJson, type EvidenceEvent } from "./canonical.js";
import { chainHashHex, type ChainHead } from "./chain.js";
import { merkleRoot } from "./merkle.js";
import { parseSeal, verifySeal, type Seal } from "./seal.js";
import { GENESIS_HASH } from "./sm3.js";
import { PreverifiedSignatures, verifyLog, type LoggedEvent, type LogVerification, type VerifyLogOptions } from "./verify-log.js";

/** What a range check needs of a seal: its block's bounds, size and root. */
export interface SealedBlock {
  readonly firstPosition: string;
  readonly lastPosition: string;
  readonly count: number;
  readonly root: string;
}

/** What a range check needs of an event besides its canonical form: its place and its stored chain link. */
export interface RangeLink {
  readonly stream: string;
  /** Decimal text, as in the event's canonical form. */
  readonly revision: string;
  /** As the seals write positions. */
  readonly position: string;
  /** metadata.evidence.chain.prev and .hash as stored (anything but a hash fails the range). */
  readonly prev: unknown;
  readonly hash: unknown;
}

/** An event as a range check reads it whole. */
export interface RangeEvent extends EvidenceEvent, RangeLink {
  readonly revision: string;
}

/** One stream's ends within a range: its first event's revision and stored prev, its last event's revision and hash. */
export interface StreamEnds {
  readonly stream: string;
  readonly firstRevision: string;
  readonly firstPrev: string;
  readonly lastRevision: string;
  readonly lastHash: string;
}

export type RangeCheck =
  | { readonly ok: true; readonly events: number; readonly streams: readonly StreamEnds[] }
  /** `reason` is for logs and tests only: verifyLog re-reads the range to say what failed. */
  | { readonly ok: false; readonly events: number; readonly reason: string };

interface StreamState {
  readonly stream: string;
  readonly firstRevision: string;
  readonly firstPrev: string;
  lastRevision: string;
  /** lastRevision as a number while it is below 2^53 (-1 beyond: then compared as bigints). */
  lastNumber: number;
  lastHash: string;
}

function revisionNumber(revision: string): number {
  return revision.length < 16 ? Number(revision) : -1;
}

/**
 * Checks the events of consecutive sealed blocks, in log order, as verifyLog
 * would after the block before them, except what depends on earlier events:
 * - each event has a canonical form and its stored chain hash is
 *   SM3(stored prev ‖ canonical bytes);
 * - within a stream, revisions follow each other and each prev is the
 *   previous event's chain hash (a stream's first event here is reported in
 *   its StreamEnds for joinRange to check);
 * - the events fill the blocks exactly: each block starts and ends at its
 *   sealed positions, holds its sealed count, and the Merkle root over its
 *   chain hashes is the sealed root.
 * Seal signatures and sequence are not checked here (the caller checks them once).
 */
export class SealedRangeCheck {
  readonly #blocks: readonly SealedBlock[];
  readonly #streams = new Map<string, StreamState>();
  #block = 0;
  #leaves: string[] = [];
  #events = 0;
  #failure: string | undefined;

  constructor(blocks: readonly SealedBlock[]) {
    if (blocks.length === 0) throw new RangeError("a range holds at least one sealed block");
    this.#blocks = blocks;
  }

  get events(): number {
    return this.#events;
  }

  /** Checks the next event; false once the range cannot verify (the rest need not be read). */
  add(event: RangeEvent): boolean {
    if (this.#failure !== undefined) return false;
    let canonical: string;
    try {
      canonical = canonicalEventJson(event);
    } catch (error) {
      return this.reject(event.position, `no canonical form (${(error as Error).message})`);
    }
    return this.addCanonical(event, canonical);
  }

  /**
   * add, for a reader that wrote the event's canonical text itself (canonicalEventJsonOf): `canonical`
   * must be canonicalEventJson of the event `link` describes, whose revision it holds.
   */
  addCanonical(link: RangeLink, canonical: string): boolean {
    if (this.#failure !== undefined) return false;
    const { prev, hash, stream, revision, position } = link;
    const state = this.#streams.get(stream);
    if (state === undefined) {
      if (!isHash(prev)) return this.#fail(`${position}: no well-formed chain link`);
    } else {
      const follows =
        state.lastNumber >= 0 && revision.length < 16
          ? Number(revision) === state.lastNumber + 1
          : BigInt(revision) === BigInt(state.lastRevision) + 1n;
      if (!follows) return this.#fail(`${position}: ${stream} revision ${revision} does not follow ${state.lastRevision}`);
      // The previous hash is a hash: equal to it, prev is one too.
      if (prev !== state.lastHash) return this.#fail(`${position}: ${stream} revision ${revision}: prev is not the previous chain hash`);
    }
    // The computed hash is lowercase hex: equal to it, the stored one is a well-formed hash.
    if (chainHashHex(prev as string, canonical) !== hash) return this.#fail(`${position}: chain hash does not match the event`);
    if (state === undefined) {
      this.#streams.set(stream, {
        stream,
        firstRevision: revision,
        firstPrev: prev as string,
        lastRevision: revision,
        lastNumber: revisionNumber(revision),
        lastHash: hash,
      });
    } else {
      state.lastRevision = revision;
      state.lastNumber = revisionNumber(revision);
      state.lastHash = hash;
    }

    const block = this.#blocks[this.#block];
    if (block === undefined) return this.#fail(`${position}: an event after the range's last block`);
    if (this.#leaves.length === 0 && position !== block.firstPosition)
      return this.#fail(`${position}: the block sealed from ${block.firstPosition} starts elsewhere`);
    this.#leaves.push(hash);
    if (this.#leaves.length === block.count) {
      if (position !== block.lastPosition) return this.#fail(`${position}: the block sealed up to ${block.lastPosition} ends elsewhere`);
      if (toHex(merkleRoot(this.#leaves)) !== block.root)
        return this.#fail(`${position}: the Merkle root of the block is not the sealed one`);
      this.#block++;
      this.#leaves = [];
    }
    this.#events++;
    return true;
  }

  /** The outcome once the range's events are all read. */
  finish(): RangeCheck {
    if (this.#failure === undefined && this.#block < this.#blocks.length)
      this.#fail(`the log ends inside the block sealed from ${this.#blocks[this.#block]!.firstPosition}`);
    if (this.#failure !== undefined) return { ok: false, events: this.#events, reason: this.#failure };
    const streams: StreamEnds[] = [];
    for (const { stream, firstRevision, firstPrev, lastRevision, lastHash } of this.#streams.values())
      streams.push({ stream, firstRevision, firstPrev, lastRevision, lastHash });
    return { ok: true, events: this.#events, streams };
  }

  /** The event at `position` has no canonical form: the range cannot verify. */
  reject(position: string, reason: string): false {
    return this.#fail(`${position}: ${reason}`);
  }

  #fail(reason: string): false {
    this.#failure = reason;
    return false;
  }
}

/**
 * Joins a verified range to the heads of the ranges before it (in log
 * order): each stream's first event in the range must follow that stream's
 * head (revision + 1, prev = its hash) or start the stream (revision 0 after
 * GENESIS). Then verifyLog would have accepted those first events too. On
 * success `heads` moves to the range's ends; on failure it is left as it was
 * and the stream that breaks is returned.
 */
export function joinRange(
  heads: Map<string, ChainHead>,
  streams: readonly StreamEnds[],
): { readonly ok: true } | { readonly ok: false; readonly stream: string } {
  for (const s of streams) {
    const head = heads.get(s.stream);
    const follows =
      head === undefined
        ? s.firstRevision === "0" && s.firstPrev === GENESIS_HASH
        : BigInt(s.firstRevision) === head.revision + 1n && s.firstPrev === head.hash;
    if (!follows) return { ok: false, stream: s.stream };
  }
  for (const s of streams) heads.set(s.stream, { revision: BigInt(s.lastRevision), hash: s.lastHash });
  return { ok: true };
}

/** A run of consecutive sealed blocks, as a RangeChecker reads and checks it. */
export interface LogRange {
  /** Its place among the ranges, from 0. */
  readonly index: number;
  /** The position it starts after: the previous range's last sealed position; undefined for the first range (the log's start). */
  readonly after: string | undefined;
  /** The last sealed position in it: the range is the log's events in (after, last]. */
  readonly last: string;
  readonly blocks: readonly SealedBlock[];
}

/** Checks ranges against the store, on threads of their own (the event store's PostgresRangeChecker): SealedRangeCheck over each range's events. */
export interface RangeChecker {
  /** `onEvents` is told of events checked as they go, for progress. */
  check(range: LogRange, onEvents: (events: number) => void): Promise<RangeCheck>;
  /** Resolves once this thread has no range left to check (absent: the checker leaves this thread free). */
  idle?(): Promise<void>;
  /** Stops checks still running (their promises may reject) and frees the checker. */
  close(): Promise<void>;
}

export interface VerifyInRangesOptions extends Omit<VerifyLogOptions, "seals" | "resume" | "signatures" | "workers" | "verifier"> {
  /** The seals in block order, as stored. */
  readonly seals: readonly unknown[];
  readonly checker: RangeChecker;
  /** How many ranges to cut the sealed blocks into (balanced by event count). */
  readonly ranges: number;
  /** The log after a position (undefined: from its start), as verifyLog reads it. */
  readonly readAfter: (position: string | undefined) => Iterable<LoggedEvent> | AsyncIterable<LoggedEvent>;
}

/**
 * verifyLog with 'sealed-only' signatures, the sealed blocks checked in
 * ranges by `checker` while this thread verifies the seals' signatures and
 * sequence and, once it has no range left to check, the signatures of the
 * unsealed tail (PreverifiedSignatures). The ranges are joined in log order; verifyLog then reads on from
 * the end of the last range that verified and joined, resumed with the heads
 * proven so far: over the unsealed tail when every range verified, or over
 * the first range that did not (and on) to name the first failure, or
 * whose check could not be made. The result is verifyLog's over the whole
 * log, failure included.
 */
export async function verifyLogInRanges(options: VerifyInRangesOptions): Promise<LogVerification> {
  const started = performance.now();
  const { checker, seals: raw, ranges: rangeCount, readAfter, onProgress, ...logOptions } = options;
  const seals: Seal[] = [];
  for (const value of raw) {
    const seal = parseSeal(value);
    if (seal === undefined) break; // verifyLog names it, reading on from the block before
    seals.push(seal);
  }
  const ranges = cutRanges(seals, rangeCount);
  const progressEvery = options.progressEvery ?? 10_000;
  let checkedEvents = 0;
  let checkedBlocks = 0;
  let reported = 0;
  const onEvents = (events: number) => {
    checkedEvents += events;
    if (checkedEvents - reported < progressEvery) return;
    reported = checkedEvents - (checkedEvents % progressEvery);
    onProgress?.({ events: checkedEvents, seals: checkedBlocks, signatures: 0, elapsedMs: performance.now() - started });
  };
  try {
    const checks = ranges.map((range) => {
      const check = checker.check(range, onEvents);
      // Awaited in order below, or abandoned once an earlier range has failed.
      check.then((c) => (checkedBlocks += c.ok ? range.blocks.length : 0)).catch(() => undefined);
      return check;
    });

    // The unsealed tail's signatures, verified once this thread has no range left while others still
    // check theirs (the tail is read again and verified after the last range otherwise, on one thread).
    const tail = new PreverifiedSignatures(options.keys);
    let joined = false;
    const lastSealed = ranges[ranges.length - 1]?.last;
    const prefetching =
      lastSealed === undefined
        ? Promise.resolve()
        : (checker.idle?.() ?? Promise.resolve())
            .then(async () => {
              let events = 0;
              for await (const event of readAfter(lastSealed)) {
                if (joined || events++ >= PREFETCH_LIMIT) break;
                tail.prefetch(event);
                // A few at a time: the ranges' results are taken in meanwhile.
                if (events % 4 === 0) await nextTurn();
              }
            })
            .catch(() => undefined);

    // The seals' signatures and sequence, as verifyLog checks each when its block begins; a few at a
    // time, so that the checker's messages are taken in meanwhile.
    let sealsValid = 0;
    for (let j = 0; j < seals.length; j++) {
      if (!verifySeal(raw[j], { keys: options.busKeys, previous: j === 0 ? null : seals[j - 1]! }).ok) break;
      sealsValid++;
      if (j % 8 === 7) await nextTurn();
    }

    // Join the ranges in order, up to the first that fails, holds a seal that fails, or does not join;
    // or whose check could not be made (a lost connection, a worker gone): verifyLog reads it instead.
    const heads = new Map<string, ChainHead>();
    let resumeAt = ranges.length;
    let index = 0;
    let blocks = 0;
    for (const range of ranges) {
      const check = await checks[range.index]!.catch(() => undefined);
      if (blocks + range.blocks.length > sealsValid || check === undefined || !check.ok || !joinRange(heads, check.streams).ok) {
        resumeAt = range.index;
        break;
      }
      index += check.events;
      blocks += range.blocks.length;
    }
    joined = true;
    await prefetching;
    // Stopped while the rest is read: the workers' threads and connections are not needed for it.
    const closing = checker.close();
    closing.catch(() => undefined);
    const after = resumeAt < ranges.length ? ranges[resumeAt]!.after : ranges[ranges.length - 1]?.last;
    const result = await verifyLog(readAfter(after), {
      ...logOptions,
      ...(onProgress === undefined ? {} : { onProgress }),
      seals: raw.slice(blocks),
      signatures: "sealed-only",
      verifier: tail,
      resume: { index, heads, seals: blocks, previousSeal: blocks === 0 ? null : seals[blocks - 1]! },
    });
    await closing;
    return { ...result, elapsedMs: performance.now() - started };
  } finally {
    await checker.close();
  }
}

/** Unsealed events whose signatures are verified ahead at most: a sealer far behind leaves them to verifyLog. */
const PREFETCH_LIMIT = 10_000;

/** Consecutive blocks cut into `count` ranges of about equal event counts (fewer when there are fewer blocks). */
export function cutRanges(seals: readonly Seal[], count: number): LogRange[] {
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`ranges: must be a positive integer, got ${count}`);
  const total = seals.reduce((sum, s) => sum + s.count, 0);
  const ranges: LogRange[] = [];
  let blocks: SealedBlock[] = [];
  let events = 0;
  let after: string | undefined;
  for (const seal of seals) {
    blocks.push({ firstPosition: seal.firstPosition, lastPosition: seal.lastPosition, count: seal.count, root: seal.root });
    events += seal.count;
    if (events * count >= total * (ranges.length + 1) || seal === seals[seals.length - 1]) {
      ranges.push({ index: ranges.length, after, last: seal.lastPosition, blocks });
      after = seal.lastPosition;
      blocks = [];
    }
  }
  return ranges;
}
