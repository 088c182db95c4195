import os from "node:os";
import { canonicalEvent, evidenceOf, revisionString, type EvidenceEvent, type EvidenceSignature } from "./canonical.js";
import { ChainTracker, type ChainHead } from "./chain.js";
import { CanonicalFormError } from "./errors.js";
import type { EvidenceFailure } from "./failure.js";
import type { KeyRing } from "./keys.js";
import { merkleRoot } from "./merkle.js";
import { InlineSignatureVerifier, SignatureWorkerPool, type SignatureJob, type SignatureVerifier } from "./pool.js";
import { parseSeal, positionString, verifySeal, type PositionLike, type Seal } from "./seal.js";
import { departmentOf, eventLabel, precheckSignature } from "./sign.js";
import { toHex } from "./bytes.js";
import { signedMessage } from "./batch.js";

/** An event of the global log, in log order. */
export interface LoggedEvent extends EvidenceEvent {
  readonly position: PositionLike;
}

export interface VerifyProgress {
  readonly events: number;
  readonly seals: number;
  /** Department signatures verified so far (finished, not merely queued). */
  readonly signatures: number;
  readonly elapsedMs: number;
}

export interface VerifyLogOptions {
  /** Department keys (with their owners, to check that each event is signed by its own department). */
  readonly keys: KeyRing;
  /** The bus's seal keys. */
  readonly busKeys: KeyRing;
  /** The seals in block order; block 0 starts at the first event. */
  readonly seals?: Iterable<unknown> | AsyncIterable<unknown>;
  /**
   * 'sealed-only' (default): department signatures are verified only for events
   * after the last seal; sealed events are proven by chain + seal.
   * 'all': every department signature is verified too, over a worker pool.
   */
  readonly signatures?: "all" | "sealed-only";
  /** Worker threads for signature verification; 0 verifies on this thread. Default: os.cpus().length for 'all', 0 otherwise. */
  readonly workers?: number;
  /** A verifier to use instead of starting one (e.g. a SignatureWorkerPool kept across runs); it is not closed. */
  readonly verifier?: SignatureVerifier;
  /** Signatures per message to a worker (default 256). */
  readonly batchSize?: number;
  readonly onProgress?: (progress: VerifyProgress) => void;
  /** Events between progress reports (default 10 000); a last report always comes at the end. */
  readonly progressEvery?: number;
  /**
   * Continue a verification that proved the log up to the end of a sealed
   * block (by other means: verifying it in ranges, see verify-range.ts): the
   * events and seals given are those after that point, and counts, indexes
   * and the result are those of a verification of the whole log.
   */
  readonly resume?: LogResumePoint;
}

/** Where a verification of a log's first blocks left off: what verifyLog would know at that point. */
export interface LogResumePoint {
  /** Events before this point: the index of the next one. */
  readonly index: number;
  /** Each stream's head after those events. */
  readonly heads: ReadonlyMap<string, ChainHead>;
  /** Seals verified before this point (the blocks those events fill exactly). */
  readonly seals: number;
  /** The last of them (null when none): the next seal must follow it. */
  readonly previousSeal: Seal | null;
}

export interface LogVerification {
  readonly ok: boolean;
  /** Events verified good (on failure: those before the failing one). */
  readonly events: number;
  readonly streams: number;
  /** Seals verified (signature, sequence, range, Merkle root). */
  readonly seals: number;
  /** Department signatures verified. */
  readonly signatures: number;
  /** Events after the last seal. */
  readonly unsealedEvents: number;
  readonly elapsedMs: number;
  readonly failure?: EvidenceFailure;
}

async function* asAsync<T>(source: Iterable<T> | AsyncIterable<T>): AsyncGenerator<T> {
  yield* source;
}

interface Found {
  readonly failure: EvidenceFailure;
  /** Signatures verified before the failing event. */
  readonly signaturesBefore: number;
  /** Ties at one index: a signature failure (rank 0) is found before the block-end checks (rank 1) on one thread. */
  readonly rank: number;
}

function earlier(a: Found | undefined, b: Found): Found {
  if (a === undefined) return b;
  const ai = a.failure.index!;
  const bi = b.failure.index!;
  return bi < ai || (bi === ai && b.rank < a.rank) ? b : a;
}

/**
 * Verifies a log: each stream's hash chain, the block seals over the global
 * order, and department signatures (all of them, or only those no seal
 * covers). Stops at the first failure in log order and reports it; the
 * result is the same whether signatures are checked on this thread or on workers.
 */
export async function verifyLog(
  events: Iterable<LoggedEvent> | AsyncIterable<LoggedEvent>,
  options: VerifyLogOptions,
): Promise<LogVerification> {
  const started = performance.now();
  const mode = options.signatures ?? "sealed-only";
  const workers = options.workers ?? (mode === "all" ? os.cpus().length : 0);
  const batchSize = options.batchSize ?? 256;
  const progressEvery = options.progressEvery ?? 10_000;
  const ownVerifier = options.verifier === undefined;
  const verifier: SignatureVerifier =
    options.verifier ?? (workers > 0 ? await SignatureWorkerPool.start(options.keys, workers) : new InlineSignatureVerifier(options.keys));

  const resume = options.resume;
  const tracker = new ChainTracker(resume?.heads);
  const streamsBefore = tracker.streams;
  const sealsBefore = resume?.seals ?? 0;
  const seals = asAsync(options.seals ?? [])[Symbol.asyncIterator]();
  let sealsDone = false;
  let previousSeal: Seal | null = resume?.previousSeal ?? null;
  let block: { seal: Seal; leaves: string[] } | undefined;
  const sealEnds: number[] = []; // index of the last event of each verified block
  let firstUnsealed: number | undefined;

  let found: Found | undefined;
  let index = resume?.index ?? 0;
  let dispatched = 0;
  let verified = 0;
  let jobs: SignatureJob[] = [];
  let jobIndexes: number[] = [];
  let jobWheres: Omit<EvidenceFailure, "kind" | "message" | "index">[] = [];
  let jobLabels: string[] = [];
  const streamStarts: number[] = []; // index of each stream's first event
  const inFlight = new Set<Promise<void>>();
  /** Batch signature statements already sent for verification (recent ones: a batch's events lie close together in the log). */
  const batchStatements = new Set<string>();

  const progress = () =>
    options.onProgress?.({
      events: index,
      seals: sealsBefore + sealEnds.length,
      signatures: verified,
      elapsedMs: performance.now() - started,
    });
  const flush = () => {
    if (jobs.length === 0) return;
    const batch = jobs;
    const indexes = jobIndexes;
    const wheres = jobWheres;
    const labels = jobLabels;
    const signaturesBefore = dispatched - batch.length;
    jobs = [];
    jobIndexes = [];
    jobWheres = [];
    jobLabels = [];
    const done = verifier.verify(batch).then((failed) => {
      verified += batch.length;
      const first = failed[0];
      if (first === undefined) return;
      const at = indexes[first]!;
      found = earlier(found, {
        failure: {
          ...wheres[first]!,
          kind: "signature-invalid",
          message: `${labels[first]!}: ${batch[first]!.keyId} signature does not verify`,
          index: at,
        },
        signaturesBefore: signaturesBefore + first,
        rank: 0,
      });
    });
    const tracked: Promise<void> = done.finally(() => inFlight.delete(tracked));
    tracked.catch(() => undefined); // surfaced by the awaits below; never unhandled
    inFlight.add(tracked);
  };

  const fail = (failure: Omit<EvidenceFailure, "index">) => {
    found = earlier(found, { failure: { ...failure, index }, signaturesBefore: dispatched, rank: 1 });
  };

  try {
    for await (const event of asAsync(events)) {
      if (found !== undefined && found.failure.index! < index) break;
      let canonical: Buffer;
      try {
        canonical = canonicalEvent(event);
      } catch (error) {
        if (!(error instanceof CanonicalFormError)) throw error;
        fail({
          kind: "not-canonical",
          message: `${eventLabel(event)}: ${error.message}`,
          eventId: String(event.id),
          stream: String(event.stream),
        });
        break;
      }
      const position = positionString(event.position);
      const where = { eventId: event.id, stream: event.stream, revision: revisionString(event.revision), position };
      const streamsKnown = tracker.streams;
      const linked = tracker.check(event, canonical);
      if (tracker.streams > streamsKnown) streamStarts.push(index);
      if (!linked.ok) {
        fail({ ...linked.failure, position });
        break;
      }

      // Which seal covers this event, if any.
      if (block === undefined && !sealsDone) {
        const next = await seals.next();
        if (next.done === true) {
          sealsDone = true;
        } else {
          const check = verifySeal(next.value, { keys: options.busKeys, previous: previousSeal });
          if (!check.ok) {
            fail({ ...check.failure, position });
            break;
          }
          block = { seal: parseSeal(next.value)!, leaves: [] };
        }
      }
      if (block === undefined) firstUnsealed ??= index;

      // The department signature: checked now without cryptography, verified in a batch.
      if (mode === "all" || block === undefined) {
        const label = eventLabel(event);
        const signed = signatureJobOf(event, canonical, options.keys, label);
        if (!signed.ok) {
          fail({ ...where, ...signed.failure });
          break;
        }
        const { job, signature } = signed;
        // A batch signature covers many neighbouring events: its statement is
        // verified once. If it is bad, its first event (the earliest) is the one reported.
        const statement =
          signature.batch === undefined ? undefined : `${signature.keyId}|${signature.sig}|${Buffer.from(job.message).toString("base64")}`;
        if (statement === undefined || !batchStatements.has(statement)) {
          if (statement !== undefined) {
            if (batchStatements.size >= 4096) batchStatements.delete(batchStatements.values().next().value!);
            batchStatements.add(statement);
          }
          jobs.push(job);
          jobIndexes.push(index);
          jobWheres.push(where);
          jobLabels.push(label);
          dispatched++;
          if (jobs.length >= batchSize) flush();
          while (inFlight.size >= verifier.concurrency) await Promise.race(inFlight);
          if (verifier.concurrency === 1) {
            flush();
            await Promise.all(inFlight);
          }
        }
      }

      if (block !== undefined) {
        const { seal, leaves } = block;
        if (leaves.length === 0 && position !== seal.firstPosition) {
          fail({
            ...where,
            kind: "seal-range-mismatch",
            block: seal.block,
            message: `seal of block ${seal.block} starts at ${seal.firstPosition}, the event there is at ${position}`,
            expected: seal.firstPosition,
            actual: position,
          });
          break;
        }
        leaves.push(linked.hash);
        if (leaves.length === seal.count) {
          if (position !== seal.lastPosition) {
            fail({
              ...where,
              kind: "seal-range-mismatch",
              block: seal.block,
              message: `seal of block ${seal.block} ends at ${seal.lastPosition}, its last event is at ${position}`,
              expected: seal.lastPosition,
              actual: position,
            });
            break;
          }
          const root = toHex(merkleRoot(leaves));
          if (root !== seal.root) {
            fail({
              ...where,
              kind: "seal-root-mismatch",
              block: seal.block,
              message: `seal of block ${seal.block}: Merkle root of its events' chain hashes is ${root}, the seal says ${seal.root}`,
              expected: seal.root,
              actual: root,
            });
            break;
          }
          sealEnds.push(index);
          previousSeal = seal;
          block = undefined;
        }
      }
      index++;
      if (index % progressEvery === 0) progress();
    }

    // End of the log: a sealed block cut short, or seals for events that are gone.
    if (found === undefined) {
      if (block !== undefined) {
        found = {
          failure: {
            kind: "seal-incomplete",
            index,
            block: block.seal.block,
            message: `the log ends after ${block.leaves.length} of the ${block.seal.count} events sealed in block ${block.seal.block}`,
            expected: `${block.seal.count}`,
            actual: `${block.leaves.length}`,
          },
          signaturesBefore: dispatched,
          rank: 1,
        };
      } else if (!sealsDone) {
        const next = await seals.next();
        if (next.done !== true) {
          const extra = next.value as { block?: unknown; firstPosition?: unknown };
          found = {
            failure: {
              kind: "seal-incomplete",
              index,
              message: `seal of block ${String(extra.block)} covers events from ${String(extra.firstPosition)}, which are not in the log`,
              block: Number(extra.block),
            },
            signaturesBefore: dispatched,
            rank: 1,
          };
        }
      }
    }
    flush();
    await Promise.all(inFlight);
  } finally {
    if (ownVerifier) await verifier.close();
    await seals.return?.(undefined);
  }

  const elapsedMs = performance.now() - started;
  if (found === undefined) {
    progress();
    return {
      ok: true,
      events: index,
      streams: tracker.streams,
      seals: sealsBefore + sealEnds.length,
      signatures: verified,
      unsealedEvents: firstUnsealed === undefined ? 0 : index - firstUnsealed,
      elapsedMs,
    };
  }
  const at = found.failure.index!;
  return {
    ok: false,
    events: at,
    streams: streamsBefore + streamStarts.filter((start) => start < at).length,
    seals: sealsBefore + sealEnds.filter((end) => end < at).length,
    signatures: found.signaturesBefore,
    unsealedEvents: firstUnsealed === undefined ? 0 : Math.max(0, at - firstUnsealed),
    elapsedMs,
    failure: found.failure,
  };
}

/** An event's department signature as the job verifyLog gives its SignatureVerifier, or what is wrong with it short of cryptography. */
function signatureJobOf(
  event: EvidenceEvent,
  canonical: Uint8Array,
  keys: KeyRing,
  label: string,
):
  | { readonly ok: true; readonly job: SignatureJob; readonly signature: EvidenceSignature }
  | { readonly ok: false; readonly failure: Omit<EvidenceFailure, "index"> } {
  const pre = precheckSignature((evidenceOf(event) as { signature?: unknown } | null | undefined)?.signature, keys, {
    department: departmentOf(event),
    label,
  });
  if (!pre.ok) return pre;
  const message = signedMessage(pre.signature, canonical);
  if (message === undefined)
    return {
      ok: false,
      failure: {
        kind: "signature-invalid",
        message: `${label}: its batch signature's proof does not fit a batch of ${pre.signature.batch!.size}`,
      },
    };
  return { ok: true, job: { message, signature: pre.bytes, keyId: pre.signature.keyId }, signature: pre.signature };
}

/**
 * A SignatureVerifier that answers from signatures verified ahead (prefetch) and verifies any other
 * on this thread, with InlineSignatureVerifier's answers: for cryptography done while this thread
 * would otherwise wait (the log's unsealed tail, while other threads check the sealed blocks).
 */
export class PreverifiedSignatures implements SignatureVerifier {
  readonly concurrency = 1;
  readonly #keys: KeyRing;
  readonly #verified = new Map<string, boolean>();

  constructor(keys: KeyRing) {
    this.#keys = keys;
  }

  get size(): number {
    return this.#verified.size;
  }

  /** Verifies `event`'s department signature now, as verifyLog will ask for it (nothing if it has none to verify). */
  prefetch(event: EvidenceEvent): void {
    let canonical: Buffer;
    try {
      canonical = canonicalEvent(event);
    } catch {
      return;
    }
    const signed = signatureJobOf(event, canonical, this.#keys, eventLabel(event));
    if (!signed.ok) return;
    const key = jobKey(signed.job);
    if (!this.#verified.has(key)) this.#verified.set(key, this.#verifies(signed.job));
  }

  verify(jobs: readonly SignatureJob[]): Promise<number[]> {
    const failed: number[] = [];
    jobs.forEach((job, i) => {
      if (!(this.#verified.get(jobKey(job)) ?? this.#verifies(job))) failed.push(i);
    });
    return Promise.resolve(failed);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #verifies(job: SignatureJob): boolean {
    const key = this.#keys.get(job.keyId)?.key;
    return key !== undefined && key.verify(job.message, job.signature);
  }
}

function jobKey(job: SignatureJob): string {
  return `${job.keyId}|${Buffer.from(job.signature).toString("base64")}|${Buffer.from(job.message).toString("base64")}`;
}
