/**
 * Evidence checks for a part of the log (a case, a subject) and for all of it.
 * A part is proven as the whole log is: every stream it touches verified as a
 * whole chain (a chain needs every revision), each event inside a seal proven
 * by the seal's bus signature and the Merkle root over its block, and the
 * department signature checked for events no seal covers yet.
 */
import {
  comparePositions,
  formatPosition,
  parsePosition,
  readLeaves,
  readLogForVerification,
  type EventStore,
  type LeafRow,
  type LogPosition,
  type StoredEvent,
} from "@shenguan/eventstore";
import {
  chainLinkOf,
  GENESIS_HASH,
  KeyRing,
  parseSeal,
  sealHash,
  verifyChain,
  verifyEventSignature,
  verifyLog,
  verifySeal,
  type EvidenceFailure,
  type LogVerification,
  type Seal,
  type VerifyProgress,
} from "@shenguan/evidence";
import { SEAL_STREAM } from "./events.js";

/** The public keys an auditor trusts: departments' (with their owners) and the bus's seal keys. */
export interface AuditKeys {
  readonly departments: KeyRing;
  readonly bus: KeyRing;
}

/**
 * What verifying a part or the whole log found: verifyLog's counts (for a
 * part, `unsealedEvents` are the events of the scope no seal covers yet,
 * proven by their signature), with the scope it was asked for.
 */
export interface EvidenceReport extends LogVerification {
  readonly scope: string;
}

/** The seals in block order, read from their stream. */
export async function readSeals(store: EventStore): Promise<unknown[]> {
  return (await store.readStream(SEAL_STREAM)).map((e) => e.data);
}

function sealOf(value: unknown): Seal | undefined {
  return parseSeal(value);
}

/** The seal whose block holds `position` (seals are in block order over consecutive ranges). */
function coveringSeal(seals: readonly Seal[], position: LogPosition): number | undefined {
  let lo = 0;
  let hi = seals.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = seals[mid]!;
    if (comparePositions(position, parsePosition(s.firstPosition)) < 0) hi = mid - 1;
    else if (comparePositions(position, parsePosition(s.lastPosition)) > 0) lo = mid + 1;
    else return mid;
  }
  return undefined;
}

/**
 * Blocks already proven in this process: for a seal (with its predecessor,
 * so the sequence is part of what was proven) whose bus signature verified
 * and whose Merkle root matched the leaves read then, the leaf (chain hash)
 * at each position. A later query of the same block checks its events'
 * chain hashes against these instead of re-reading and re-hashing the block:
 * the proof is the same, since the leaves are what the bus signed, and the
 * events are still re-hashed from their stored content by the chain check.
 * Bounded (least recently used blocks are forgotten first).
 */
export class VerifiedBlocks {
  readonly #max: number;
  readonly #blocks = new Map<string, { readonly keyId: string; readonly leaves: ReadonlyMap<string, string> }>();

  constructor(maxBlocks = 256) {
    if (!Number.isSafeInteger(maxBlocks) || maxBlocks < 0) throw new RangeError(`maxBlocks: must be a non-negative integer, got ${maxBlocks}`);
    this.#max = maxBlocks;
  }

  get size(): number {
    return this.#blocks.size;
  }

  /** The proven leaves of `seal` after `previous`, if proven before with a bus key still in `busKeys`. */
  get(seal: Seal, previous: Seal | null, busKeys: KeyRing): ReadonlyMap<string, string> | undefined {
    const key = blockKey(seal, previous);
    const hit = this.#blocks.get(key);
    if (hit === undefined || busKeys.get(hit.keyId) === undefined) return undefined;
    this.#blocks.delete(key);
    this.#blocks.set(key, hit);
    return hit.leaves;
  }

  set(seal: Seal, previous: Seal | null, leaves: ReadonlyMap<string, string>): void {
    if (this.#max === 0) return;
    const key = blockKey(seal, previous);
    this.#blocks.delete(key);
    this.#blocks.set(key, { keyId: seal.signature.keyId, leaves });
    while (this.#blocks.size > this.#max) this.#blocks.delete(this.#blocks.keys().next().value!);
  }
}

/** The seal's signed body and signature, and the body it follows: equal keys, equal proofs. */
function blockKey(seal: Seal, previous: Seal | null): string {
  return `${previous === null ? GENESIS_HASH : sealHash(previous)}|${sealHash(seal)}|${seal.signature.alg}|${seal.signature.keyId}|${seal.signature.sig}`;
}

export interface PartOptions {
  readonly keys: AuditKeys;
  /** Seals already read (e.g. for many parts in one run); read from the store otherwise. */
  readonly seals?: readonly unknown[];
  /** Blocks proven by earlier queries in this process (e.g. the HTTP plugin's); none by default. */
  readonly blocks?: VerifiedBlocks;
}

/**
 * Verifies the evidence of some events: their streams' whole chains, the
 * seals covering them (bus signature, sequence, range, Merkle root over the
 * block's leaves as the store holds them, read lean: position and chain hash
 * only), that each event's chain hash is its block's leaf at its position,
 * and signatures of the unsealed ones.
 */
export async function verifyPart(store: EventStore, events: readonly StoredEvent[], scope: string, options: PartOptions): Promise<EvidenceReport> {
  const started = performance.now();
  const streamNames = [...new Set(events.map((e) => e.stream))].sort();
  const [streams, rawSeals] = await Promise.all([
    Promise.all(streamNames.map((s) => wholeStream(store, s, events))),
    options.seals ?? readSeals(store),
  ]);
  const report = (r: Omit<EvidenceReport, "scope" | "elapsedMs" | "streams">): EvidenceReport => ({
    scope,
    streams: streamNames.length,
    elapsedMs: performance.now() - started,
    ...r,
  });

  const chained = verifyChain(streams.flat());
  if (!chained.ok) return report({ ok: false, events: chained.events, seals: 0, signatures: 0, unsealedEvents: 0, failure: chained.failure! });

  const seals: Seal[] = [];
  for (const raw of rawSeals) {
    const seal = sealOf(raw);
    if (seal === undefined) {
      const failure: EvidenceFailure = { kind: "seal-sequence", message: `seal #${seals.length} in ${SEAL_STREAM} is malformed` };
      return report({ ok: false, events: chained.events, seals: seals.length, signatures: 0, unsealedEvents: 0, failure });
    }
    seals.push(seal);
  }

  // Which blocks hold the part's events; the rest are unsealed.
  const blocks = new Map<number, StoredEvent[]>();
  const unsealed: StoredEvent[] = [];
  for (const stream of streams) {
    for (const event of stream) {
      const at = coveringSeal(seals, event.position);
      if (at === undefined) unsealed.push(event);
      else {
        const list = blocks.get(at);
        if (list === undefined) blocks.set(at, [event]);
        else list.push(event);
      }
    }
  }

  // The leaves of the blocks not proven before, read in as few queries as there are runs of consecutive blocks.
  const order = [...blocks.keys()].sort((a, b) => a - b);
  const proven = new Map<number, ReadonlyMap<string, string>>();
  const toRead: number[] = [];
  for (const at of order) {
    const cached = options.blocks?.get(seals[at]!, at === 0 ? null : seals[at - 1]!, options.keys.bus);
    if (cached !== undefined) proven.set(at, cached);
    else toRead.push(at);
  }
  const leavesOf = await readBlockLeaves(store, seals, toRead);

  let sealsOk = 0;
  for (const at of order) {
    const seal = seals[at]!;
    const previous = at === 0 ? null : seals[at - 1]!;
    const sealFailure = (failure: Omit<EvidenceFailure, "eventId" | "stream" | "revision">, event: StoredEvent) =>
      report({
        ok: false,
        events: chained.events,
        seals: sealsOk,
        signatures: 0,
        unsealedEvents: unsealed.length,
        failure: { ...failure, eventId: event.id, stream: event.stream, revision: event.revision.toString() },
      });
    let leafAt = proven.get(at);
    if (leafAt === undefined) {
      // Events without a chain link are in no block: the sealer leaves them out (and the chain check reports them).
      const block = (leavesOf.get(at) ?? []).filter((l): l is { position: string; hash: string } => l.hash !== undefined);
      const first = block[0];
      const last = block[block.length - 1];
      const check = verifySeal(seal, {
        keys: options.keys.bus,
        previous,
        leaves: block.map((l) => l.hash),
        ...(first && last ? { positions: { first: first.position, last: last.position } } : {}),
      });
      if (!check.ok) return sealFailure(check.failure, blocks.get(at)![0]!);
      leafAt = new Map(block.map((l) => [l.position, l.hash]));
      options.blocks?.set(seal, previous, leafAt);
    }
    // The chain check re-hashed each event from its content; its hash must be the sealed leaf at its position.
    for (const event of blocks.get(at)!) {
      const position = formatPosition(event.position);
      const sealed = leafAt.get(position);
      const hash = chainLinkOf(event)?.hash;
      if (sealed === undefined || sealed !== hash) {
        return sealFailure(
          {
            kind: "seal-root-mismatch",
            block: seal.block,
            position,
            message: `event at ${position}: its chain hash ${String(hash)} is not the leaf block ${seal.block} sealed there (${sealed ?? "no leaf"})`,
            expected: sealed ?? "",
            actual: hash ?? "",
          },
          event,
        );
      }
    }
    sealsOk++;
  }

  let signatures = 0;
  for (const event of unsealed) {
    const check = verifyEventSignature(event, options.keys.departments);
    if (!check.ok) {
      const failure: EvidenceFailure = { eventId: event.id, stream: event.stream, revision: event.revision.toString(), ...check.failure };
      return report({ ok: false, events: chained.events, seals: sealsOk, signatures, unsealedEvents: unsealed.length, failure });
    }
    signatures++;
  }
  return report({ ok: true, events: chained.events, seals: sealsOk, signatures, unsealedEvents: unsealed.length });
}

/**
 * Every revision of `stream`. When the events in hand already are its
 * revisions 0..head (a case's own streams usually are), only the head is
 * read to confirm it; otherwise the stream is read whole.
 */
async function wholeStream(store: EventStore, stream: string, events: readonly StoredEvent[]): Promise<StoredEvent[]> {
  const held = events.filter((e) => e.stream === stream).sort((a, b) => (a.revision < b.revision ? -1 : a.revision > b.revision ? 1 : 0));
  const [head] = await store.readStream(stream, { direction: "backwards", maxCount: 1 });
  const complete =
    head !== undefined &&
    held.length > 0 &&
    BigInt(held.length) === head.revision + 1n &&
    held.every((e, i) => e.revision === BigInt(i)) &&
    held[held.length - 1]!.id === head.id;
  return complete ? held : store.readStream(stream);
}

/** The leaves of blocks `ats` (ascending): one lean read per run of consecutive blocks, split by the seals' ranges. */
export async function readBlockLeaves(store: EventStore, seals: readonly Seal[], ats: readonly number[]): Promise<Map<number, LeafRow[]>> {
  const runs: number[][] = [];
  for (const at of ats) {
    const run = runs[runs.length - 1];
    if (run !== undefined && run[run.length - 1] === at - 1) run.push(at);
    else runs.push([at]);
  }
  const out = new Map<number, LeafRow[]>();
  await Promise.all(
    runs.map(async (run) => {
      const rows = await readLeaves(store, parsePosition(seals[run[0]!]!.firstPosition), parsePosition(seals[run[run.length - 1]!]!.lastPosition));
      let i = 0;
      for (const at of run) {
        const lastText = seals[at]!.lastPosition;
        // Positions come back formatted as the seals write them: find the block's end by its text (no
        // parsing per row); only when it is missing (a deleted event) compare parsed positions.
        let end = i;
        while (end < rows.length && rows[end]!.position !== lastText) end++;
        if (end === rows.length) {
          const last = parsePosition(lastText);
          end = i;
          while (end < rows.length && comparePositions(parsePosition(rows[end]!.position), last) <= 0) end++;
        } else end++;
        out.set(at, rows.slice(i, end));
        i = end;
      }
    }),
  );
  return out;
}

export interface WholeLogOptions {
  readonly keys: AuditKeys;
  /** "all": every department signature too, on worker threads (default: chains + seals, signatures after the last seal). */
  readonly signatures?: "all" | "sealed-only";
  readonly workers?: number;
  readonly onProgress?: (progress: VerifyProgress) => void;
  readonly progressEvery?: number;
  /** Events per read of the log (default 10 000). */
  readonly pageSize?: number;
}

/** Verifies the whole log: every chain, every seal, and signatures as asked. */
export async function verifyWholeLog(store: EventStore, options: WholeLogOptions): Promise<EvidenceReport> {
  const seals = await readSeals(store);
  const result = await verifyLog(readLogForVerification(store, options.pageSize === undefined ? {} : { pageSize: options.pageSize }), {
    keys: ringWithBus(options.keys),
    busKeys: options.keys.bus,
    seals,
    signatures: options.signatures ?? "sealed-only",
    ...(options.workers !== undefined ? { workers: options.workers } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.progressEvery ? { progressEvery: options.progressEvery } : {}),
  });
  const { ok, events, streams, seals: sealCount, signatures, unsealedEvents, elapsedMs, failure } = result;
  return { ok, scope: "all", events, streams, seals: sealCount, signatures, unsealedEvents, elapsedMs, ...(failure ? { failure } : {}) };
}

/** The seal events themselves are in the log, signed by the bus as a department: its keys verify them too. */
export function ringWithBus(keys: AuditKeys): KeyRing {
  const ring = new KeyRing(keys.departments);
  for (const entry of keys.bus) if (ring.get(entry.key.keyId) === undefined) ring.add(entry.key, entry.owner);
  return ring;
}
