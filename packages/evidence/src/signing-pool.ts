import os from "node:os";
import type { Worker } from "node:worker_threads";
import { MAX_SIGNATURE_BATCH, signatureBatch } from "./batch.js";
import type { EvidenceSignature } from "./canonical.js";
import { SigningKey, type Signer } from "./keys.js";
import { startWorker } from "./worker-start.js";
import { signBytes } from "./sign.js";

/** One signature to make: the canonical bytes and the key to sign them with. */
export interface SigningJob {
  readonly message: Uint8Array;
  readonly signer: Signer;
}

export interface SigningPoolOptions {
  /** Worker threads (default min(2, os.availableParallelism())); 0 signs on the calling thread. */
  readonly size?: number;
  /**
   * With no threads (size 0): signCoalesced signs a key's queue at most once
   * per this many milliseconds (default 2). A queue that waited longer is
   * signed at the next turn of the event loop, so a lone append waits for
   * nothing; under load the jobs of the interval leave together, bounding one
   * department's signatures to 1000 / gatherMs per second whatever the rate.
   * Longer saves signing time but adds to every busy append's latency: 5 ms
   * took the gateway's 16 closed-loop publishers from ~1,000 to ~800/s.
   */
  readonly gatherMs?: number;
}

/** What a signing worker receives: keys it has not seen yet, then one batch of jobs. */
export interface SigningBatch {
  readonly id: number;
  /** New to this worker: each key is sent once per worker, then referred to by key id. */
  readonly keys: readonly { readonly keyId: string; readonly pkcs8: Uint8Array }[];
  /** All messages, back to back. */
  readonly bytes: Uint8Array;
  /** Per job: message length. */
  readonly lengths: Uint32Array;
  /** Per job: the key id to sign with. */
  readonly keyIds: readonly string[];
}

export interface SigningReply {
  readonly id: number;
  /** Per job: the signature, base64, as in EvidenceSignature.sig. */
  readonly sigs?: string[];
  readonly error?: string;
}

interface Waiter {
  readonly resolve: (sigs: string[]) => void;
  readonly reject: (error: Error) => void;
  /** Key ids first sent with this batch: forgotten if the batch fails, so they are sent again. */
  readonly sent: readonly string[];
}

/** A job waiting in its key's queue for signCoalesced. */
interface Queued {
  readonly message: Uint8Array;
  readonly signer: Signer;
  readonly resolve: (signature: EvidenceSignature) => void;
  readonly reject: (error: Error) => void;
}

interface Thread {
  readonly worker: Worker;
  /** Key ids this worker already holds. */
  readonly keys: Set<string>;
  readonly waiting: Map<number, Waiter>;
  /** Set when the worker died (or the pool closed it): its jobs are rejected, and it takes no more. */
  dead: boolean;
}

export function defaultSigningPoolSize(): number {
  return Math.min(2, os.availableParallelism());
}

/**
 * Signs canonical event bytes on worker threads, so that the SM2 signatures
 * of every append (pure-JavaScript bigint arithmetic, ~0.2–0.9 ms each) do
 * not hold the one thread that also serves HTTP, relays to Kafka and runs
 * consumers. A chain link does not depend on the signature, so the caller
 * links on its own thread and awaits only the signatures.
 *
 * - Each call is one batch, one postMessage, to the least busy worker.
 * - A worker receives each private key once (PKCS#8 DER, by key id) and
 *   keeps it: SigningKey.from parses it once, not once per event.
 * - Only {@link SigningKey}s travel; any other Signer (a cipher machine
 *   adapter, whose key cannot leave it) signs on the calling thread.
 * - Workers start on first use and are unref'd while idle, so an idle pool
 *   does not keep the process alive; they are ref'd while a batch is out,
 *   so an awaited signature does not let the process exit under it.
 * - A worker that dies rejects its outstanding batches and is replaced on the next call.
 */
export class SigningPool {
  readonly size: number;
  readonly #threads: (Thread | undefined)[];
  #nextId = 0;
  #closed = false;
  /** signCoalesced: jobs waiting per key id, and that key's batches out. */
  readonly #queues = new Map<string, Queued[]>();
  readonly #outstanding = new Map<string, number>();
  /** Keys whose queue is signed on this thread at the next turn of the event loop (size 0). */
  readonly #deferred = new Set<string>();
  readonly #lastSigned = new Map<string, number>();
  readonly #gatherMs: number;

  constructor(options: SigningPoolOptions = {}) {
    const size = options.size ?? defaultSigningPoolSize();
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`signing pool size: must be a non-negative integer, got ${size}`);
    this.size = size;
    const gatherMs = options.gatherMs ?? 2;
    if (!Number.isFinite(gatherMs) || gatherMs < 0) throw new RangeError(`gatherMs: must be a non-negative number, got ${gatherMs}`);
    this.#gatherMs = gatherMs;
    this.#threads = Array.from({ length: size }, () => undefined);
  }

  /** One signature, in the format of signEvent/signBytes. */
  async signOne(message: Uint8Array, signer: Signer): Promise<EvidenceSignature> {
    const [signature] = await this.sign([{ message, signer }]);
    return signature!;
  }

  /** The signatures of `jobs`, in order, in the format of signEvent/signBytes. */
  async sign(jobs: readonly SigningJob[]): Promise<EvidenceSignature[]> {
    if (this.#closed) throw new Error("signing pool closed");
    if (jobs.length === 0) return [];
    if (this.size === 0) return jobs.map((job) => signBytes(job.message, job.signer));
    const out: (EvidenceSignature | undefined)[] = new Array(jobs.length);
    const remote: number[] = [];
    jobs.forEach((job, i) => {
      if (job.signer instanceof SigningKey) remote.push(i);
      else out[i] = signBytes(job.message, job.signer);
    });
    if (remote.length > 0) {
      const sigs = await this.#post(remote.map((i) => jobs[i]!));
      remote.forEach((at, k) => {
        const signer = jobs[at]!.signer;
        out[at] = { alg: signer.alg, keyId: signer.keyId, sig: sigs[k]! };
      });
    }
    return out as EvidenceSignature[];
  }

  /**
   * The signatures of `jobs`, in order, where jobs of one key that wait
   * together are signed together: one batch signature (batch.ts) over all of
   * them. Each key has at most `max(1, size)` signatures out at a time; jobs
   * that arrive meanwhile, from this call or any other, queue and leave as
   * the next batch when one comes back. So under light load every event gets
   * a plain signature at once, and under load the cost per event falls with
   * the queue instead of the queue growing: one SM2 signature (~0.2–0.9 ms
   * here) serves every append that arrived while the previous one was made.
   * Jobs of one call for the same key always share a batch (or a plain
   * signature when alone).
   */
  async signCoalesced(jobs: readonly SigningJob[]): Promise<EvidenceSignature[]> {
    if (this.#closed) throw new Error("signing pool closed");
    if (jobs.length === 0) return [];
    const signatures = jobs.map(
      (job) =>
        new Promise<EvidenceSignature>((resolve, reject) => {
          let queue = this.#queues.get(job.signer.keyId);
          if (queue === undefined) this.#queues.set(job.signer.keyId, (queue = []));
          queue.push({ message: job.message, signer: job.signer, resolve, reject });
        }),
    );
    for (const keyId of new Set(jobs.map((job) => job.signer.keyId))) {
      if (this.size > 0) this.#pump(keyId);
      else if (!this.#deferred.has(keyId)) {
        // Signing on this thread is synchronous, so nothing could ever wait behind it:
        // jobs are gathered for a turn of the event loop, or until gatherMs after this key's last signing.
        this.#deferred.add(keyId);
        const flush = () => {
          this.#deferred.delete(keyId);
          this.#lastSigned.set(keyId, performance.now());
          this.#pump(keyId);
        };
        const wait = (this.#lastSigned.get(keyId) ?? -Infinity) + this.#gatherMs - performance.now();
        if (wait <= 0) setImmediate(flush);
        else setTimeout(flush, wait);
      }
    }
    return Promise.all(signatures);
  }

  #pump(keyId: string): void {
    const queue = this.#queues.get(keyId);
    const limit = Math.max(1, this.size);
    while (queue !== undefined && queue.length > 0 && (this.#outstanding.get(keyId) ?? 0) < limit) {
      const taken = queue.splice(0, MAX_SIGNATURE_BATCH);
      if (queue.length === 0) this.#queues.delete(keyId);
      this.#outstanding.set(keyId, (this.#outstanding.get(keyId) ?? 0) + 1);
      void this.#signTogether(taken).finally(() => {
        const left = (this.#outstanding.get(keyId) ?? 1) - 1;
        if (left === 0) this.#outstanding.delete(keyId);
        else this.#outstanding.set(keyId, left);
        this.#pump(keyId);
      });
    }
  }

  async #signTogether(taken: readonly Queued[]): Promise<void> {
    try {
      const signer = taken[0]!.signer;
      if (taken.length === 1) {
        taken[0]!.resolve(await this.signOne(taken[0]!.message, signer));
        return;
      }
      const batch = signatureBatch(taken.map((job) => job.message));
      const signature = await this.signOne(batch.statement, signer);
      taken.forEach((job, i) => job.resolve({ ...signature, batch: batch.proof(i) }));
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      for (const job of taken) job.reject(failure);
    }
  }

  #post(jobs: readonly SigningJob[]): Promise<string[]> {
    const thread = this.#leastBusy();
    const keys: { keyId: string; pkcs8: Uint8Array }[] = [];
    let total = 0;
    for (const job of jobs) {
      total += job.message.length;
      const key = job.signer as SigningKey;
      if (!thread.keys.has(key.keyId)) {
        thread.keys.add(key.keyId);
        keys.push({ keyId: key.keyId, pkcs8: new Uint8Array(key.toPkcs8()) });
      }
    }
    const bytes = new Uint8Array(total);
    const lengths = new Uint32Array(jobs.length);
    let at = 0;
    jobs.forEach((job, i) => {
      bytes.set(job.message, at);
      at += job.message.length;
      lengths[i] = job.message.length;
    });
    const id = this.#nextId++;
    const batch: SigningBatch = { id, keys, bytes, lengths, keyIds: jobs.map((job) => job.signer.keyId) };
    return new Promise<string[]>((resolve, reject) => {
      if (thread.waiting.size === 0) thread.worker.ref();
      thread.waiting.set(id, { resolve, reject, sent: keys.map((k) => k.keyId) });
      thread.worker.postMessage(batch, [bytes.buffer, lengths.buffer]);
    });
  }

  /** The live worker with the fewest batches out, starting (or replacing) workers as needed. */
  #leastBusy(): Thread {
    let best: Thread | undefined;
    for (let i = 0; i < this.#threads.length; i++) {
      let thread = this.#threads[i];
      if (thread === undefined || thread.dead) this.#threads[i] = thread = this.#start(i);
      if (best === undefined || thread.waiting.size < best.waiting.size) best = thread;
    }
    return best!;
  }

  #start(slot: number): Thread {
    const worker = startWorker("sign-worker", undefined);
    worker.unref();
    const thread: Thread = { worker, keys: new Set(), waiting: new Map(), dead: false };
    worker.on("message", (reply: SigningReply) => {
      const waiter = thread.waiting.get(reply.id);
      if (waiter === undefined) return;
      thread.waiting.delete(reply.id);
      if (thread.waiting.size === 0) worker.unref();
      if (reply.error !== undefined) {
        for (const keyId of waiter.sent) thread.keys.delete(keyId);
        waiter.reject(new Error(`signing worker: ${reply.error}`));
      } else waiter.resolve(reply.sigs ?? []);
    });
    const die = (error: Error) => {
      if (thread.dead) return;
      thread.dead = true;
      // Free the slot now: the next call starts a fresh worker there.
      if (this.#threads[slot] === thread) this.#threads[slot] = undefined;
      for (const waiter of thread.waiting.values()) waiter.reject(error);
      thread.waiting.clear();
    };
    worker.on("error", (error) => die(error));
    worker.on("exit", (code) => die(new Error(this.#closed ? "signing pool closed" : `signing worker exited with code ${code}`)));
    return thread;
  }

  /** @internal for tests: the running workers. */
  get workers(): readonly Worker[] {
    return this.#threads.flatMap((t) => (t === undefined || t.dead ? [] : [t.worker]));
  }

  /** Stops the workers; outstanding batches are rejected. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#threads.map((t) => t?.worker.terminate()));
  }
}
