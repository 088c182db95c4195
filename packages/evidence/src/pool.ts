import os from "node:os";
import type { Worker } from "node:worker_threads";
import type { KeyRing, VerifyingKey } from "./keys.js";
import { moduleBeside, startModuleWorker } from "./worker-start.js";

/** One signature to check: the signed bytes, the raw signature, the signer's key id (known to the verifier's key ring). */
export interface SignatureJob {
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
  readonly keyId: string;
}

/** Checks batches of signatures; resolves with the indices (within the batch) of those that do not verify. */
export interface SignatureVerifier {
  /** Batches worth keeping in flight. */
  readonly concurrency: number;
  verify(jobs: readonly SignatureJob[]): Promise<number[]>;
  close(): Promise<void>;
}

/** Verifies on the calling thread. */
export class InlineSignatureVerifier implements SignatureVerifier {
  readonly concurrency = 1;

  constructor(private readonly keys: KeyRing) {}

  verify(jobs: readonly SignatureJob[]): Promise<number[]> {
    const failed: number[] = [];
    jobs.forEach((job, i) => {
      const key = this.keys.get(job.keyId)?.key;
      if (key === undefined || !key.verify(job.message, job.signature)) failed.push(i);
    });
    return Promise.resolve(failed);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** What a worker receives: the keys (by index) at start, then batches. */
export interface WorkerKeys {
  readonly keys: readonly { readonly keyId: string; readonly spki: Uint8Array }[];
}

export interface WorkerBatch {
  readonly id: number;
  /** All messages, then all signatures, back to back. */
  readonly bytes: Uint8Array;
  /** Per job: message length, signature length. */
  readonly lengths: Uint32Array;
  /** Per job: index into WorkerKeys.keys. */
  readonly keyIndex: Uint32Array;
}

export interface WorkerReply {
  readonly id: number;
  readonly failed?: number[];
  readonly error?: string;
}

interface PoolWorker {
  readonly worker: Worker;
  inFlight: number;
}

/** Spreads signature verification over worker threads (SM2 verification is CPU-bound bigint arithmetic). */
export class SignatureWorkerPool implements SignatureVerifier {
  private readonly waiting = new Map<number, { resolve: (failed: number[]) => void; reject: (error: Error) => void; worker: PoolWorker }>();
  private nextId = 0;
  private broken: Error | undefined;

  private constructor(
    private readonly workers: PoolWorker[],
    private readonly keyIndex: ReadonlyMap<string, number>,
  ) {
    for (const w of workers) {
      w.worker.on("message", (reply: WorkerReply) => this.settle(reply));
      w.worker.on("error", (error) => this.fail(error));
      w.worker.on("exit", (code) => {
        if (code !== 0) this.fail(new Error(`signature worker exited with code ${code}`));
      });
    }
  }

  get concurrency(): number {
    return this.workers.length * 2;
  }

  get size(): number {
    return this.workers.length;
  }

  /** Starts `size` workers (default: one per CPU) that know the keys of `keys`, and waits until each is ready. */
  static async start(keys: KeyRing | Iterable<VerifyingKey>, size = os.cpus().length): Promise<SignatureWorkerPool> {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError("pool size must be a positive integer");
    const list = [...keys].map((k) => ("key" in k ? k.key : k));
    const workerData: WorkerKeys = { keys: list.map((k) => ({ keyId: k.keyId, spki: new Uint8Array(k.spki) })) };
    const workers: PoolWorker[] = [];
    try {
      const module = moduleBeside("verify-worker", import.meta.url);
      for (let i = 0; i < size; i++) workers.push({ worker: await startModuleWorker(module, { workerData }), inFlight: 0 });
      await Promise.all(
        workers.map(
          ({ worker }) =>
            new Promise<void>((resolve, reject) => {
              const onMessage = (m: unknown) => {
                if ((m as { ready?: boolean }).ready) {
                  worker.off("message", onMessage);
                  worker.off("error", reject);
                  resolve();
                }
              };
              worker.on("message", onMessage);
              worker.once("error", reject);
            }),
        ),
      );
    } catch (error) {
      await Promise.all(workers.map((w) => w.worker.terminate()));
      throw error;
    }
    return new SignatureWorkerPool(workers, new Map(list.map((k, i) => [k.keyId, i])));
  }

  verify(jobs: readonly SignatureJob[]): Promise<number[]> {
    if (this.broken) return Promise.reject(this.broken);
    if (jobs.length === 0) return Promise.resolve([]);
    const target = this.workers.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    let total = 0;
    for (const job of jobs) total += job.message.length + job.signature.length;
    const bytes = new Uint8Array(total);
    const lengths = new Uint32Array(jobs.length * 2);
    const keyIndex = new Uint32Array(jobs.length);
    let at = 0;
    jobs.forEach((job, i) => {
      bytes.set(job.message, at);
      at += job.message.length;
      lengths[2 * i] = job.message.length;
      lengths[2 * i + 1] = job.signature.length;
      const k = this.keyIndex.get(job.keyId);
      if (k === undefined) throw new RangeError(`key ${job.keyId} is not in the pool's key ring`);
      keyIndex[i] = k;
    });
    for (const job of jobs) {
      bytes.set(job.signature, at);
      at += job.signature.length;
    }
    const id = this.nextId++;
    const batch: WorkerBatch = { id, bytes, lengths, keyIndex };
    target.inFlight++;
    return new Promise<number[]>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, worker: target });
      target.worker.postMessage(batch, [bytes.buffer, lengths.buffer, keyIndex.buffer]);
    });
  }

  private settle(reply: WorkerReply): void {
    const waiter = this.waiting.get(reply.id);
    if (waiter === undefined) return;
    this.waiting.delete(reply.id);
    waiter.worker.inFlight--;
    if (reply.error !== undefined) waiter.reject(new Error(`signature worker: ${reply.error}`));
    else waiter.resolve(reply.failed ?? []);
  }

  private fail(error: Error): void {
    this.broken ??= error;
    for (const [id, waiter] of this.waiting) {
      this.waiting.delete(id);
      waiter.reject(error);
    }
  }

  async close(): Promise<void> {
    this.broken ??= new Error("signature pool closed");
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
