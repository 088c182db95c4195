import { hash as digest } from "node:crypto";
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

// The bytes a link hashes (prev ‖ canonical event), written in place: grown to the largest event seen.
let linkMessage = Buffer.allocUnsafe(16 * 1024);

/**
 * chainHash as hex, from the predecessor's hash as hex and the event's canonical
 * text (canonicalEventJson) or bytes (canonicalEvent): what a verifier compares
 * with the stored link, with no Buffer per event. `prev` must be a hash (isHash):
 * it is written as hex.
 */
export function chainHashHex(prev: string, canonical: string | Uint8Array): string {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  const room = 32 + (typeof canonical === "string" ? 3 * canonical.length : canonical.length);
  if (linkMessage.length < room) linkMessage = Buffer.allocUnsafe(Math.max(room, 2 * linkMessage.length));
  linkMessage.write(prev, 0, 32, "hex");
  let length = 32;
  if (typeof canonical === "string") length += linkMessage.write(canonical, 32, "utf8");
  else {
    linkMessage.set(canonical, 32);
    length += canonical.length;
  }
  return digest("sm3", linkMessage.subarray(0, length), "hex");
}

/** The chain link of `event` after a predecessor whose chain hash is `prev` (hex). */
export function linkEvent(event: EvidenceEvent, prev: string = GENESIS_HASH): ChainLink {
  const prevBytes = isHash(prev) ? fromHex(prev) : undefined;
  if (prevBytes === undefined) throw new TypeError(`prev ${JSON.stringify(prev)} is not a lowercase hex SM3 hash`);
  return { prev, hash: toHex(chainHash(prevBytes, canonicalEvent(event))) };
}

/** The event's `metadata.evidence.chain` if it is well formed (what a sealer reads: its `hash` is the Merkle leaf). */
export function chainLinkOf(event: EvidenceEvent): ChainLink | undefined {
  return chainLinkFrom((evidenceOf(event) as { chain?: unknown } | null | undefined)?.chain);
}

/** A stored `evidence.chain` value as a chain link, if it is one (a lean read of the log takes only that). */
export function chainLinkFrom(chain: unknown): ChainLink | undefined {
  const c = chain as { prev?: unknown; hash?: unknown } | null | undefined;
  return isHash(c?.prev) && isHash(c?.hash) ? { prev: c.prev, hash: c.hash } : undefined;
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

type Outcome = { readonly ok: true; readonly hash: string } | { readonly ok: false; readonly failure: Omit<EvidenceFailure, "index"> };

/**
 * @internal per-stream chain state of a verifier. Heads are kept as the hex the
 * links store, so an event's checks are string comparisons and one hash,
 * with no Buffer or hex conversion per event.
 */
export class ChainTracker {
  private readonly heads = new Map<string, { revision: bigint; hash: string }>();

  constructor(heads?: ReadonlyMap<string, ChainHead>) {
    // As links store them (lowercase), so that prev compares as text.
    for (const [stream, head] of heads ?? []) this.heads.set(stream, { revision: head.revision, hash: head.hash.toLowerCase() });
  }

  get streams(): number {
    return this.heads.size;
  }

  snapshot(): Map<string, ChainHead> {
    return new Map([...this.heads].map(([stream, head]) => [stream, { revision: head.revision, hash: head.hash }]));
  }

  /** Checks `event`'s place in its stream and its link; `canonical` is canonicalEvent(event). Its chain hash (hex) when it holds. */
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
    const prev = head?.hash ?? GENESIS_HASH;
    if (chain.prev !== prev) {
      return fail(
        { kind: "prev-mismatch", expected: prev, actual: chain.prev },
        (label) => `${label}: link altered, prev is ${chain.prev} but the previous chain hash is ${prev}`,
      );
    }
    const hash = chainHashHex(prev, canonical);
    if (chain.hash !== hash) {
      return fail(
        { kind: "hash-mismatch", expected: hash, actual: chain.hash },
        (label) => `${label}: payload altered, SM3(prev ‖ canonical event) is ${hash} but the chain says ${chain.hash}`,
      );
    }
    if (head === undefined) this.heads.set(event.stream, { revision, hash });
    else {
      head.revision = revision;
      head.hash = hash;
    }
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
