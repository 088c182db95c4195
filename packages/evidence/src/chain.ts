import { fromHex, isHash, toHex } from "./bytes.js";
import { canonicalEvent, evidenceOf, revisionString, withEvidence, type ChainLink, type EvidenceEvent } from "./canonical.js";
import { CanonicalFormError } from "./errors.js";
import type { EvidenceFailure } from "./failure.js";
import type { KeyRing } from "./keys.js";
import { eventLabel, verifyEventSignature } from "./sign.js";
import { GENESIS_HASH, sm3 } from "./sm3.js";

/** hash_n = SM3(hash_{n−1} ‖ canonical(event_n)), hash_{−1} = 32 zero bytes. */
export function chainHash(prev: Uint8Array, canonical: Uint8Array): Buffer {
  return sm3(prev, canonical);
}

/** The chain link of `event` after a predecessor whose chain hash is `prev` (hex). */
export function linkEvent(event: EvidenceEvent, prev: string = GENESIS_HASH): ChainLink {
  const prevBytes = isHash(prev) ? fromHex(prev) : undefined;
  if (prevBytes === undefined) throw new TypeError(`prev ${JSON.stringify(prev)} is not a lowercase hex SM3 hash`);
  return { prev, hash: toHex(chainHash(prevBytes, canonicalEvent(event))) };
}

/** The event's `metadata.evidence.chain` if it is well formed (what a sealer reads: its `hash` is the Merkle leaf). */
export function chainLinkOf(event: EvidenceEvent): ChainLink | undefined {
  const chain = (evidenceOf(event) as { chain?: { prev?: unknown; hash?: unknown } } | null | undefined)?.chain;
  return isHash(chain?.prev) && isHash(chain?.hash) ? { prev: chain.prev, hash: chain.hash } : undefined;
}

/** The last verified (or written) event of a stream. */
export interface ChainHead {
  readonly revision: bigint;
  /** Its chain hash, hex. */
  readonly hash: string;
}

/**
 * Links events to their streams' chains as a writer would (the event store,
 * inside the append that fixes revision and time): remembers each stream's head.
 */
export class StreamChainer {
  private readonly heads: Map<string, ChainHead>;

  constructor(heads: ReadonlyMap<string, ChainHead> = new Map()) {
    this.heads = new Map(heads);
  }

  /** The event with `metadata.evidence.chain` set; its revision must follow the stream's head. */
  link<E extends EvidenceEvent>(event: E): E {
    const head = this.heads.get(event.stream);
    const revision = BigInt(revisionString(event.revision));
    const expected = head === undefined ? 0n : head.revision + 1n;
    if (revision !== expected) throw new RangeError(`${event.stream}: revision ${revision} does not follow ${expected - 1n}`);
    const chain = linkEvent(event, head?.hash ?? GENESIS_HASH);
    this.heads.set(event.stream, { revision, hash: chain.hash });
    return withEvidence(event, { chain });
  }

  head(stream: string): ChainHead | undefined {
    return this.heads.get(stream);
  }
}

const GENESIS = Buffer.alloc(32);

type Outcome = { readonly ok: true; readonly hash: Buffer } | { readonly ok: false; readonly failure: Omit<EvidenceFailure, "index"> };

/** @internal per-stream chain state of a verifier. */
export class ChainTracker {
  private readonly heads = new Map<string, { revision: bigint; hash: Buffer }>();

  constructor(heads?: ReadonlyMap<string, ChainHead>) {
    for (const [stream, head] of heads ?? []) this.heads.set(stream, { revision: head.revision, hash: Buffer.from(head.hash, "hex") });
  }

  get streams(): number {
    return this.heads.size;
  }

  snapshot(): Map<string, ChainHead> {
    return new Map([...this.heads].map(([stream, head]) => [stream, { revision: head.revision, hash: toHex(head.hash) }]));
  }

  /** Checks `event`'s place in its stream and its link; `canonical` is canonicalEvent(event). */
  check(event: EvidenceEvent, canonical: Uint8Array): Outcome {
    const revisionText = revisionString(event.revision);
    const revision = BigInt(revisionText);
    const head = this.heads.get(event.stream);
    const expected = head === undefined ? 0n : head.revision + 1n;
    // Failures are rare: their labels are built only when needed.
    const fail = (failure: Pick<EvidenceFailure, "kind" | "expected" | "actual">, says: (label: string) => string): Outcome => ({
      ok: false,
      failure: { ...failure, message: says(eventLabel(event)), eventId: event.id, stream: event.stream, revision: revisionText },
    });
    if (revision > expected) {
      const missing = revision === expected + 1n ? `${expected}` : `${expected}..${revision - 1n}`;
      return fail(
        { kind: "missing-revision", expected: `${expected}`, actual: revisionText },
        (label) => `${label}: stream ${event.stream} is missing revision ${missing}`,
      );
    }
    if (revision < expected) {
      return fail(
        { kind: "duplicate-revision", expected: `${expected}`, actual: revisionText },
        (label) => `${label}: stream ${event.stream} already has revision ${revision} (expected ${expected})`,
      );
    }
    const chain = chainLinkOf(event);
    if (chain === undefined) return fail({ kind: "missing-chain" }, (label) => `${label} has no well-formed chain link`);
    const prev = head?.hash ?? GENESIS;
    const prevHex = toHex(prev);
    if (chain.prev !== prevHex) {
      return fail(
        { kind: "prev-mismatch", expected: prevHex, actual: chain.prev },
        (label) => `${label}: link altered, prev is ${chain.prev} but the previous chain hash is ${prevHex}`,
      );
    }
    const hash = chainHash(prev, canonical);
    const hashHex = toHex(hash);
    if (chain.hash !== hashHex) {
      return fail(
        { kind: "hash-mismatch", expected: hashHex, actual: chain.hash },
        (label) => `${label}: payload altered, SM3(prev ‖ canonical event) is ${hashHex} but the chain says ${chain.hash}`,
      );
    }
    this.heads.set(event.stream, { revision, hash });
    return { ok: true, hash };
  }
}

export interface ChainVerification {
  readonly ok: boolean;
  /** Events verified good (on failure: those before the failing one). */
  readonly events: number;
  readonly streams: number;
  /** Each stream's last good event: resume verification from here. */
  readonly heads: Map<string, ChainHead>;
  /** The first broken link, if any. */
  readonly failure?: EvidenceFailure;
}

export interface VerifyChainOptions {
  /** When given, every event's department signature is verified too (after its chain link). */
  readonly keys?: KeyRing;
  /** Streams already verified up to these heads; other streams must start at revision 0. */
  readonly heads?: ReadonlyMap<string, ChainHead>;
}

/**
 * Verifies the hash chains of the events (one or many streams, each in
 * revision order) and stops at the FIRST broken link: a gap in revisions,
 * a link whose prev is not the previous chain hash, a chain hash that the
 * payload does not produce, or (with `keys`) a missing, unknown or invalid signature.
 */
export function verifyChain(events: Iterable<EvidenceEvent>, options: VerifyChainOptions = {}): ChainVerification {
  const tracker = new ChainTracker(options.heads);
  let index = 0;
  const fail = (failure: Omit<EvidenceFailure, "index">): ChainVerification => ({
    ok: false,
    events: index,
    streams: tracker.streams,
    heads: tracker.snapshot(),
    failure: { ...failure, index },
  });
  for (const event of events) {
    let canonical: Buffer;
    try {
      canonical = canonicalEvent(event);
    } catch (error) {
      if (!(error instanceof CanonicalFormError)) throw error;
      return fail({
        kind: "not-canonical",
        message: `${eventLabel(event)}: ${error.message}`,
        eventId: String(event.id),
        stream: String(event.stream),
      });
    }
    const outcome = tracker.check(event, canonical);
    if (!outcome.ok) return fail(outcome.failure);
    if (options.keys !== undefined) {
      const signature = verifyEventSignature(event, options.keys);
      if (!signature.ok)
        return fail({ eventId: event.id, stream: event.stream, revision: revisionString(event.revision), ...signature.failure });
    }
    index++;
  }
  return { ok: true, events: index, streams: tracker.streams, heads: tracker.snapshot() };
}
