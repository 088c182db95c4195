import { KeyRing, verifyChain, type ChainVerification, type LogVerification, type VerifyProgress } from "@shenguan/evidence";
import type { EventStore, StoredEvent } from "../port.js";
import { BUS_DEPARTMENT, SEAL_STREAM } from "./constants.js";
import { verifyLogOfStore } from "./log-ranges.js";

export interface VerifyStoreOptions {
  /** Every department's public keys, each owned by its department, the bus's included. */
  readonly keys: KeyRing;
  /** The department whose keys sign the seals (default SHENGUAN-BUS). */
  readonly busDepartment?: string;
  /**
   * 'sealed-only' (default): sealed events are proven by chain and seal, signatures
   * are checked after the last seal. 'all': every department signature too (on workers).
   */
  readonly signatures?: "sealed-only" | "all";
  readonly onProgress?: (progress: VerifyProgress) => void;
  /**
   * Worker threads: for 'sealed-only' on PostgreSQL, threads reading and checking ranges of sealed
   * blocks besides this one, which checks its share too (default: one per core but this thread's, see
   * verifyLogOfStore); for 'all', signature workers (see verifyLog). 0: this thread only.
   */
  readonly workers?: number;
  /** Events per read of the global log (default 10 000). */
  readonly pageSize?: number;
}

async function readWholeStream(store: EventStore, stream: string, pageSize: number): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for (;;) {
    const page = await store.readStream(stream, { fromRevision: BigInt(out.length), maxCount: pageSize });
    out.push(...page);
    if (page.length < pageSize) return out;
  }
}

/**
 * The auditor's pass over a whole store: every stream's SM3 chain, the block
 * seals over the global log, department signatures (see `signatures`), by
 * verifyLog of @shenguan/evidence (on PostgreSQL, sealed blocks in ranges on
 * worker threads: verifyLogOfStore). Reads the log in pages (lean queries on
 * PostgreSQL/PGlite, the next page while this one is checked); the seals are read
 * first, so seals appended while it runs are left for the next pass (the
 * events they cover are then checked as unsealed). Stops at the first
 * failure and names it: kind, event id, stream, revision, position.
 */
export async function verifyStore(store: EventStore, options: VerifyStoreOptions): Promise<LogVerification> {
  const bus = options.busDepartment ?? BUS_DEPARTMENT;
  const seals = (await readWholeStream(store, SEAL_STREAM, 1000)).map((e) => e.data);
  const busKeys = new KeyRing([...options.keys].filter((entry) => entry.owner === bus));
  return verifyLogOfStore(store, {
    keys: options.keys,
    busKeys,
    seals,
    signatures: options.signatures ?? "sealed-only",
    ...(options.workers === undefined ? {} : { workers: options.workers }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }),
  });
}

/**
 * The chains of some streams (a case file, a licence) and every signature in
 * them, without the rest of the log: verifyChain of @shenguan/evidence over
 * each stream from revision 0. The first broken link is named by event id,
 * stream, revision and kind.
 */
export async function verifyStreams(store: EventStore, streams: Iterable<string>, keys: KeyRing): Promise<ChainVerification> {
  const events: StoredEvent[] = [];
  for (const stream of new Set(streams)) events.push(...(await readWholeStream(store, stream, 1000)));
  return verifyChain(events, { keys });
}
