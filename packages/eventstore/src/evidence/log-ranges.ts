/**
 * A whole-log verification on PostgreSQL over every core: the sealed blocks
 * are cut into ranges, which this thread and worker threads read, each over
 * a connection of its own, and check (verifyLogInRanges of @shenguan/evidence);
 * this thread also verifies the seals, then joins the ranges and reads on.
 * The result is verifyLog's, failures included; other stores, small logs and
 * 'all' signatures go through verifyLog on this thread as before.
 */
import os from "node:os";
import type { Worker } from "node:worker_threads";
import {
  moduleBeside,
  parseSeal,
  startModuleWorker,
  verifyLog,
  verifyLogInRanges,
  type KeyRing,
  type LogRange,
  type LogVerification,
  type RangeCheck,
  type RangeChecker,
  type VerifyProgress,
} from "@shenguan/evidence";
import pg from "pg";
import { parsePosition, type EventStore } from "../port.js";
import { PostgresEventStore } from "../postgres/postgres-event-store.js";
import { EvidenceStore } from "./evidence-store.js";
import { checkRange } from "./log-range-read.js";
import { readLogForVerification } from "./log-reader.js";
import type { RangeReply, RangeRequest, RangeWorkerData } from "./log-range-worker.js";

export interface LogOfStoreOptions {
  /** Every department's public keys with their owners (the bus's too: seal events are signed by it). */
  readonly keys: KeyRing;
  /** The bus's seal keys. */
  readonly busKeys: KeyRing;
  /** The seals in block order, as stored. */
  readonly seals: readonly unknown[];
  /** See verifyLog; 'all' verifies every signature on signature workers, on one reading thread. */
  readonly signatures?: "all" | "sealed-only";
  /**
   * Worker threads. For 'sealed-only' on PostgreSQL: threads checking ranges besides this one, which
   * checks its share too (default: one per core but this thread's); for 'all': signature workers (see
   * verifyLog). 0: everything on this thread, with verifyLog.
   */
  readonly workers?: number;
  readonly onProgress?: (progress: VerifyProgress) => void;
  readonly progressEvery?: number;
  /** Events per read of the log by verifyLog (default 10 000); a range is one read, its rows checked as they arrive. */
  readonly pageSize?: number;
  /**
   * Sealed events below which the log is verified on this thread (default 20 000): starting workers
   * and their connections costs ~0.1 s, what one thread takes for a few thousand events.
   */
  readonly parallelFrom?: number;
}

/** Ranges per thread checking them: small enough that one slowed by the machine's other work leaves little to wait for at the end. */
const RANGES_PER_THREAD = 2;

/** Verifies the log of `store`: in ranges over worker threads where it can (see the module comment), else with verifyLog. */
export async function verifyLogOfStore(store: EventStore, options: LogOfStoreOptions): Promise<LogVerification> {
  const pageSize = options.pageSize ?? 10_000;
  const mode = options.signatures ?? "sealed-only";
  const common = {
    keys: options.keys,
    busKeys: options.busKeys,
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    ...(options.progressEvery === undefined ? {} : { progressEvery: options.progressEvery }),
  };
  const workers = options.workers ?? (mode === "sealed-only" ? os.availableParallelism() - 1 : undefined);
  const connection = mode === "sealed-only" && workers !== undefined && workers > 0 ? connectionOf(store) : undefined;
  if (connection === undefined || sealedEvents(options.seals) < (options.parallelFrom ?? 20_000)) {
    // Only workers asked for: verifyLog would take them as signature workers, not worth starting for a tail.
    return verifyLog(readLogForVerification(store, { pageSize }), {
      ...common,
      seals: options.seals,
      signatures: mode,
      ...(options.workers === undefined ? {} : { workers: options.workers }),
    });
  }
  const checker = new PostgresRangeChecker(connection, workers!);
  return verifyLogInRanges({
    ...common,
    seals: options.seals,
    checker,
    ranges: (workers! + 1) * RANGES_PER_THREAD,
    readAfter: (after) => readLogForVerification(store, { pageSize, ...(after === undefined ? {} : { after: parsePosition(after) }) }),
  });
}

/** Events the leading well-formed seals cover. */
function sealedEvents(seals: readonly unknown[]): number {
  let events = 0;
  for (const value of seals) {
    const seal = parseSeal(value);
    if (seal === undefined) break;
    events += seal.count;
  }
  return events;
}

/** The connection options of a node-postgres store, if another thread can take them. @internal exported for tests. */
export function connectionOf(store: EventStore): pg.ClientConfig | undefined {
  let inner: EventStore = store;
  while (inner instanceof EvidenceStore) inner = inner.inner;
  const options = inner instanceof PostgresEventStore ? inner.executor.connectionOptions?.() : undefined;
  if (options === undefined) return undefined;
  try {
    // A password callback or custom type parsers cannot cross: one thread it is, then.
    return structuredClone(options);
  } catch {
    return undefined;
  }
}

interface Pending {
  readonly range: LogRange;
  readonly onEvents: (events: number) => void;
  readonly resolve: (check: RangeCheck) => void;
  readonly reject: (error: Error) => void;
}

/** Where ranges are checked: a worker thread, or this thread over a connection of its own. */
interface Lane {
  /** Ranges sent to it and not answered yet, by range index. */
  readonly assigned: Map<number, Pending>;
  /** Ranges it holds at once: a worker its current one and the next, so it never waits on this thread between them. */
  readonly depth: number;
  send(pending: Pending): void;
}

/**
 * Ranges checked on worker threads and on this thread, each over a connection of its own to the
 * store's database, each taking the next range from the queue as it is free. This thread takes its
 * share: it has little else to do (the seals), and a worker fewer is a JavaScript heap fewer to
 * start cold (a fresh worker checks its first 25 000 events at half the speed of its next: V8
 * compiling the same code again, its heap growing).
 * @internal exported for tests.
 */
export class PostgresRangeChecker implements RangeChecker {
  readonly #lanes: Lane[] = [];
  readonly #workers: Worker[] = [];
  readonly #starting: Promise<void>;
  readonly #client: pg.Client;
  readonly #connected: Promise<unknown>;
  readonly #queue: Pending[] = [];
  #own: Lane | undefined;
  #idle: (() => void) | undefined;
  readonly #idling: Promise<void>;
  #broken: Error | undefined;
  #closed: Promise<void> | undefined;

  /** Checks on this thread and on `workers` threads besides it. */
  constructor(connection: pg.ClientConfig, workers: number) {
    this.#idling = new Promise<void>((resolve) => (this.#idle = resolve));
    this.#client = new pg.Client(connection);
    // A connection lost while idle must not crash the process: the next query reports it.
    this.#client.on("error", () => undefined);
    this.#connected = this.#client.connect();
    this.#connected.catch(() => undefined);
    const own: Lane = {
      assigned: new Map(),
      depth: 1,
      send: (pending) => {
        const { index } = pending.range;
        this.#connected
          .then(() => checkRange(this.#client, pending.range, pending.onEvents))
          .then(
            (result) => this.#reply(own, { index, result }),
            (error: unknown) => this.#reply(own, { index, error: error instanceof Error ? error.message : String(error) }),
          );
      },
    };
    const workerData: RangeWorkerData = { connection };
    const module = moduleBeside("log-range-worker", import.meta.url);
    this.#starting = Promise.all(
      Array.from({ length: workers }, () =>
        startModuleWorker(module, { workerData }).then(
          (worker) => this.#join(worker),
          // One thread fewer: the others (this one at least) check its share.
          () => undefined,
        ),
      ),
    ).then(() => undefined);
    // This thread checks once the workers are under way: a page it checks holds the thread for a
    // tenth of a second, and starting a worker needs it (the bundle's arrival, the thread's creation).
    void this.#starting.then(() => {
      this.#own = own;
      this.#lanes.push(own);
      this.#dispatch();
    });
  }

  /** Resolves once this thread has no range left to check: none queued, none of its own running. */
  idle(): Promise<void> {
    return this.#idling;
  }

  #checkIdle(): void {
    if (this.#broken !== undefined || (this.#own !== undefined && this.#own.assigned.size === 0 && this.#queue.length === 0))
      this.#idle?.();
  }

  #join(worker: Worker): void {
    this.#workers.push(worker);
    if (this.#closed !== undefined) {
      void worker.terminate();
      return;
    }
    const lane: Lane = {
      assigned: new Map(),
      depth: 2,
      send: (pending) => worker.postMessage({ range: pending.range } satisfies RangeRequest),
    };
    this.#lanes.push(lane);
    worker.on("message", (reply: RangeReply) => this.#reply(lane, reply));
    worker.on("error", (error) => this.#fail(error));
    worker.on("exit", (code) => {
      if (this.#closed === undefined) this.#fail(new Error(`log range worker exited with code ${code}`));
    });
    this.#dispatch();
  }

  check(range: LogRange, onEvents: (events: number) => void): Promise<RangeCheck> {
    if (this.#broken !== undefined) return Promise.reject(this.#broken);
    return new Promise<RangeCheck>((resolve, reject) => {
      this.#queue.push({ range, onEvents, resolve, reject });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    for (;;) {
      const next = this.#queue[0];
      if (next === undefined) return this.#checkIdle();
      let lane: Lane | undefined;
      for (const l of this.#lanes) if (lane === undefined || l.assigned.size / l.depth < lane.assigned.size / lane.depth) lane = l;
      if (lane === undefined || lane.assigned.size >= lane.depth) return;
      this.#queue.shift();
      lane.assigned.set(next.range.index, next);
      lane.send(next);
    }
  }

  #reply(lane: Lane, reply: RangeReply): void {
    const pending = lane.assigned.get(reply.index);
    if (pending === undefined) return;
    if ("progress" in reply) {
      pending.onEvents(reply.progress);
      return;
    }
    lane.assigned.delete(reply.index);
    if ("error" in reply) pending.reject(new Error(`log range check: ${reply.error}`));
    else pending.resolve(reply.result);
    this.#dispatch();
  }

  #fail(error: Error): void {
    this.#broken ??= error;
    for (const lane of this.#lanes) {
      for (const pending of lane.assigned.values()) pending.reject(error);
      lane.assigned.clear();
    }
    for (const pending of this.#queue.splice(0)) pending.reject(error);
    this.#checkIdle();
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#fail(new Error("log range checker closed"));
      const ending = this.#connected.then(() => this.#client.end()).catch(() => undefined);
      await Promise.all([...this.#workers.map((w) => w.terminate()), ending]);
      // Workers still starting are terminated as they join.
      await this.#starting;
    })();
    return this.#closed;
  }
}
