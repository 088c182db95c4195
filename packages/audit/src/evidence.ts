/**
 * Evidence checks for a part of the log (a case, a subject) and for all of it.
 * A part is proven as the whole log is: every stream it touches verified as a
 * whole chain (a chain needs every revision), each event inside a seal proven
 * by the seal's bus signature and the Merkle root over its block, and the
 * department signature checked for events no seal covers yet.
 */
import { comparePositions, parsePosition, START, type EventStore, type LogPosition, type StoredEvent } from "@shenguan/eventstore";
import {
  chainLinkOf,
  KeyRing,
  parseSeal,
  verifyChain,
  verifyEventSignature,
  verifyLog,
  verifySeal,
  type EvidenceFailure,
  type Seal,
  type VerifyProgress,
} from "@shenguan/evidence";
import { readLog, SEAL_STREAM } from "./events.js";

/** The public keys an auditor trusts: departments' (with their owners) and the bus's seal keys. */
export interface AuditKeys {
  readonly departments: KeyRing;
  readonly bus: KeyRing;
}

export interface EvidenceReport {
  readonly ok: boolean;
  readonly scope: string;
  /** Events verified (chains). */
  readonly events: number;
  readonly streams: number;
  readonly seals: number;
  readonly signatures: number;
  /** Events of the scope no seal covers yet (proven by their signature). */
  readonly unsealedEvents: number;
  readonly elapsedMs: number;
  /** The first broken link: event id, stream, revision, kind, what is wrong. */
  readonly failure?: EvidenceFailure;
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

export interface PartOptions {
  readonly keys: AuditKeys;
  /** Seals already read (e.g. for many parts in one run); read from the store otherwise. */
  readonly seals?: readonly unknown[];
}

/**
 * Verifies the evidence of some events: their streams' whole chains, the
 * seals covering them (bus signature, sequence, range, Merkle root over the
 * block as the store holds it), and signatures of the unsealed ones.
 */
export async function verifyPart(store: EventStore, events: readonly StoredEvent[], scope: string, options: PartOptions): Promise<EvidenceReport> {
  const started = performance.now();
  const streamNames = [...new Set(events.map((e) => e.stream))].sort();
  const streams = await Promise.all(streamNames.map((s) => store.readStream(s)));
  const report = (r: Omit<EvidenceReport, "scope" | "elapsedMs" | "streams">): EvidenceReport => ({
    scope,
    streams: streamNames.length,
    elapsedMs: performance.now() - started,
    ...r,
  });

  const chained = verifyChain(streams.flat());
  if (!chained.ok) return report({ ok: false, events: chained.events, seals: 0, signatures: 0, unsealedEvents: 0, failure: chained.failure! });

  const rawSeals = options.seals ?? (await readSeals(store));
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
      else blocks.set(at, [...(blocks.get(at) ?? []), event]);
    }
  }

  let sealsOk = 0;
  for (const at of [...blocks.keys()].sort((a, b) => a - b)) {
    const seal = seals[at]!;
    const previous = at === 0 ? null : seals[at - 1]!;
    const after = previous === null ? START : parsePosition(previous.lastPosition);
    const block = await store.readAll({ after, maxCount: seal.count });
    const leaves = block.map((e) => chainLinkOf(e)?.hash ?? "");
    const first = block[0];
    const last = block[block.length - 1];
    const check = verifySeal(seal, {
      keys: options.keys.bus,
      previous,
      leaves,
      ...(first && last ? { positions: { first: first.position, last: last.position } } : {}),
    });
    if (!check.ok) {
      const event = blocks.get(at)![0]!;
      const failure: EvidenceFailure = { ...check.failure, eventId: event.id, stream: event.stream, revision: event.revision.toString() };
      return report({ ok: false, events: chained.events, seals: sealsOk, signatures: 0, unsealedEvents: unsealed.length, failure });
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

export interface WholeLogOptions {
  readonly keys: AuditKeys;
  /** "all": every department signature too, on worker threads (default: chains + seals, signatures after the last seal). */
  readonly signatures?: "all" | "sealed-only";
  readonly workers?: number;
  readonly onProgress?: (progress: VerifyProgress) => void;
  readonly progressEvery?: number;
}

/** Verifies the whole log: every chain, every seal, and signatures as asked. */
export async function verifyWholeLog(store: EventStore, options: WholeLogOptions): Promise<EvidenceReport> {
  const seals = await readSeals(store);
  const result = await verifyLog(readLog(store), {
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
