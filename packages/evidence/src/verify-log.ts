import os from "node:os";
import { canonicalEvent, evidenceOf, revisionString, type EvidenceEvent } from "./canonical.js";
import { ChainTracker } from "./chain.js";
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

  const tracker = new ChainTracker();
  const seals = asAsync(options.seals ?? [])[Symbol.asyncIterator]();
  let sealsDone = false;
  let previousSeal: Seal | null = null;
  let block: { seal: Seal; leaves: Buffer[] } | undefined;
  const sealEnds: number[] = []; // index of the last event of each verified block
  let firstUnsealed: number | undefined;

  let found: Found | undefined;
  let index = 0;
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
    options.onProgress?.({ events: index, seals: sealEnds.length, signatures: verified, elapsedMs: performance.now() - started });
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
      const streamsBefore = tracker.streams;
      const linked = tracker.check(event, canonical);
      if (tracker.streams > streamsBefore) streamStarts.push(index);
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
        const pre = precheckSignature((evidenceOf(event) as { signature?: unknown } | null | undefined)?.signature, options.keys, {
          department: departmentOf(event),
          label,
        });
        if (!pre.ok) {
          fail({ ...where, ...pre.failure });
          break;
        }
        const message = signedMessage(pre.signature, canonical);
        if (message === undefined) {
          fail({
            ...where,
            kind: "signature-invalid",
            message: `${label}: its batch signature's proof does not fit a batch of ${pre.signature.batch!.size}`,
          });
          break;
        }
        // A batch signature covers many neighbouring events: its statement is
        // verified once. If it is bad, its first event (the earliest) is the one reported.
        const statement =
          pre.signature.batch === undefined
            ? undefined
            : `${pre.signature.keyId}|${pre.signature.sig}|${Buffer.from(message).toString("base64")}`;
        if (statement === undefined || !batchStatements.has(statement)) {
          if (statement !== undefined) {
            if (batchStatements.size >= 4096) batchStatements.delete(batchStatements.values().next().value!);
            batchStatements.add(statement);
          }
          jobs.push({ message, signature: pre.bytes, keyId: pre.signature.keyId });
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
      seals: sealEnds.length,
      signatures: verified,
      unsealedEvents: firstUnsealed === undefined ? 0 : index - firstUnsealed,
      elapsedMs,
    };
  }
  const at = found.failure.index!;
  return {
    ok: false,
    events: at,
    streams: streamStarts.filter((start) => start < at).length,
    seals: sealEnds.filter((end) => end < at).length,
    signatures: found.signaturesBefore,
    unsealedEvents: firstUnsealed === undefined ? 0 : Math.max(0, at - firstUnsealed),
    elapsedMs,
    failure: found.failure,
  };
}
