/**
 * Evidence checks for a part of the log (a case, a subject) and for all of it.
 * A part is proven through its streams: every stream it touches verified as a
 * whole chain (a chain needs every revision), the last sealed event of each
 * proven by its seal's bus signature and the Merkle root over its block (which
 * proves the stream's earlier events through the chain), and the department
 * signature checked for events no seal covers yet. The whole log is proven
 * block by block (verifyLog).
 */
import {
  comparePositions,
  formatPosition,
  parsePosition,
  readLeaves,
  verifyLogOfStore,
  type LogOfStoreOptions,
  type EventStore,
  type LeafRow,
  type LogPosition,
  type StoredEvent,
} from "@shenguan/eventstore";
import {
  chainLinkOf,
  chunkRoots,
  GENESIS_HASH,
  KeyRing,
  parseSeal,
  sealChunks,
  sealHash,
  subtreeOverNodes,
  verifyChain,
  verifyEventSignature,
  verifySeal,
  type EvidenceFailure,
  type LogVerification,
  type Seal,
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

/** The block whose range holds `position` (seals are in block order over consecutive ranges). */
function coveringSeal(
  ranges: readonly { readonly first: LogPosition; readonly last: LogPosition }[],
  position: LogPosition,
): number | undefined {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid]!;
    if (comparePositions(position, r.first) < 0) hi = mid - 1;
    else if (comparePositions(position, r.last) > 0) lo = mid + 1;
    else return mid;
  }
  return undefined;
}

/**
 * Blocks already proven in this process: for a seal (with its predecessor,
 * so the sequence is part of what was proven) whose bus signature verified
 * and whose Merkle root matched the leaves read then, the leaf (chain hash)
 * at each proven position (every position of the block, or those of the
 * chunks proven, see SealChunks). A later query of the same block checks its
 * stream heads' chain hashes against these instead of re-reading and re-hashing:
 * the proof is the same, since the leaves are what the bus signed, and the
 * events are still re-hashed from their stored content by the chain check.
 * Bounded (least recently used blocks are forgotten first).
 */
export class VerifiedBlocks {
  readonly #max: number;
  readonly #blocks = new Map<string, { readonly keyId: string; readonly leaves: ReadonlyMap<string, string> }>();

  constructor(maxBlocks = 256) {
    if (!Number.isSafeInteger(maxBlocks) || maxBlocks < 0)
      throw new RangeError(`maxBlocks: must be a non-negative integer, got ${maxBlocks}`);
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
 * Verifies the evidence of some events: their streams' whole chains, each
 * stream's sealed head (its last revision inside a block) proven to be the
 * leaf its block's seal signed at its position, and signatures of the
 * revisions after it.
 *
 * Why the head is enough: the chain check recomputes every chain hash of the
 * stream from stored content, each from the one before (hash_n = SM3(hash_n−1
 * ‖ canonical(event_n))). An event rewritten anywhere before the head, even
 * with every later link rewritten to match, changes the head's hash, which is
 * then not the sealed leaf. So a part over k streams needs at most k seals
 * and k leaves, however many blocks its events are spread over. What the head
 * does not prove is the log position of each earlier event (positions are not
 * in the canonical bytes); each is still checked to lie inside a sealed block.
 */
export async function verifyPart(
  store: EventStore,
  events: readonly StoredEvent[],
  scope: string,
  options: PartOptions,
): Promise<EvidenceReport> {
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

  const seals: Seal[] = [];
  for (const raw of rawSeals) {
    const seal = sealOf(raw);
    if (seal === undefined) {
      // A broken chain is still the first thing to report.
      const chained = verifyChain(streams.flat());
      if (!chained.ok)
        return report({ ok: false, events: chained.events, seals: 0, signatures: 0, unsealedEvents: 0, failure: chained.failure! });
      const failure: EvidenceFailure = { kind: "seal-sequence", message: `seal #${seals.length} in ${SEAL_STREAM} is malformed` };
      return report({ ok: false, events: chained.events, seals: seals.length, signatures: 0, unsealedEvents: 0, failure });
    }
    seals.push(seal);
  }
  const ranges = seals.map((s) => ({ first: parsePosition(s.firstPosition), last: parsePosition(s.lastPosition) }));

  // Each stream's sealed head, by block; the revisions after it are in no block (unsealed).
  const heads = new Map<number, StoredEvent[]>();
  const unsealed: StoredEvent[] = [];
  let outsideBlocks: { readonly event: StoredEvent; readonly head: StoredEvent } | undefined;
  for (const stream of streams) {
    let head = stream.length - 1;
    let at: number | undefined;
    for (; head >= 0; head--) {
      at = coveringSeal(ranges, stream[head]!.position);
      if (at !== undefined) break;
      unsealed.push(stream[head]!);
    }
    if (at === undefined) continue;
    const list = heads.get(at);
    if (list === undefined) heads.set(at, [stream[head]!]);
    else list.push(stream[head]!);
    // Proven by the head's chain; its position must still be one a seal covers.
    for (let i = 0; i < head && outsideBlocks === undefined; i++) {
      if (coveringSeal(ranges, stream[i]!.position) === undefined) outsideBlocks = { event: stream[i]!, head: stream[head]! };
    }
  }
  unsealed.reverse();

  // The blocks holding heads: those not proven before are read (leaves, in as few queries as there are
  // runs of consecutive blocks), while the chains are checked on this thread.
  const order = [...heads.keys()].sort((a, b) => a - b);
  const proven = new Map<number, ReadonlyMap<string, string>>();
  const toRead: number[] = [];
  for (const at of order) {
    const cached = options.blocks?.get(seals[at]!, at === 0 ? null : seals[at - 1]!, options.keys.bus);
    // A block proven chunk by chunk holds only some leaves: read it again for a head outside them.
    if (cached !== undefined && heads.get(at)!.every((h) => cached.has(formatPosition(h.position)))) proven.set(at, cached);
    else toRead.push(at);
  }
  const reading = readBlockLeaves(store, seals, toRead);
  reading.catch(() => undefined); // awaited below, unless the chains fail first

  const chained = verifyChain(streams.flat());
  if (!chained.ok)
    return report({ ok: false, events: chained.events, seals: 0, signatures: 0, unsealedEvents: 0, failure: chained.failure! });
  if (outsideBlocks !== undefined) {
    const { event, head } = outsideBlocks;
    const position = formatPosition(event.position);
    const failure: EvidenceFailure = {
      kind: "seal-range-mismatch",
      eventId: event.id,
      stream: event.stream,
      revision: event.revision.toString(),
      position,
      message: `event at ${position} comes before its stream's sealed revision ${head.revision} but lies in no sealed block`,
    };
    return report({ ok: false, events: chained.events, seals: 0, signatures: 0, unsealedEvents: 0, failure });
  }
  const leavesOf = await reading;

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
      const proof = proveLeaves(seal, rawSeals[at], previous, block, heads.get(at)!, options.keys.bus);
      if (!proof.ok) return sealFailure(proof.failure, proof.event);
      const before = options.blocks?.get(seal, previous, options.keys.bus);
      leafAt = before === undefined ? proof.leaves : new Map([...before, ...proof.leaves]);
      options.blocks?.set(seal, previous, leafAt);
    }
    // The chain check re-hashed each head from its stream's content; its hash must be the sealed leaf at its position.
    for (const head of heads.get(at)!) {
      const position = formatPosition(head.position);
      const sealed = leafAt.get(position);
      const hash = chainLinkOf(head)?.hash;
      if (sealed === undefined || sealed !== hash) {
        return sealFailure(
          {
            kind: "seal-root-mismatch",
            block: seal.block,
            position,
            message:
              `${head.stream} revision ${head.revision} (its last sealed event) at ${position}: its chain hash ${String(hash)} is not ` +
              `the leaf block ${seal.block} sealed there (${sealed ?? "no leaf"}); this event or an earlier one of the stream was altered`,
            expected: sealed ?? "",
            actual: hash ?? "",
          },
          head,
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

type LeafProof =
  | { readonly ok: true; readonly leaves: ReadonlyMap<string, string> }
  | { readonly ok: false; readonly failure: Omit<EvidenceFailure, "eventId" | "stream" | "revision">; readonly event: StoredEvent };

/**
 * Proves the leaves (position → chain hash) around `heads` against a seal:
 * its bus signature, its place after `previous` and its range, then the
 * Merkle root. With the chunk hashes the sealer records (SealChunks) only the
 * chunks holding the heads are hashed, and the root over the chunk hashes;
 * a seal without them is proven over the whole block. The heads' own hashes
 * are compared with the proven leaves by the caller.
 */
function proveLeaves(
  seal: Seal,
  raw: unknown,
  previous: Seal | null,
  block: readonly { readonly position: string; readonly hash: string }[],
  heads: readonly StoredEvent[],
  busKeys: KeyRing,
): LeafProof {
  const first = block[0];
  const last = block[block.length - 1];
  const positions = first && last ? { positions: { first: first.position, last: last.position } } : {};
  const chunks = sealChunks(raw);
  const fail = (failure: Omit<EvidenceFailure, "eventId" | "stream" | "revision">, event = heads[0]!): LeafProof => ({
    ok: false,
    failure,
    event,
  });
  if (chunks === undefined) {
    const check = verifySeal(seal, { keys: busKeys, previous, leaves: block.map((l) => l.hash), ...positions });
    return check.ok ? { ok: true, leaves: new Map(block.map((l) => [l.position, l.hash])) } : fail(check.failure);
  }
  const check = verifySeal(seal, { keys: busKeys, previous, ...positions });
  if (!check.ok) return fail(check.failure);
  const label = `seal of block ${seal.block}`;
  if (block.length !== seal.count) {
    return fail({
      kind: "seal-incomplete",
      block: seal.block,
      message: `${label} covers ${seal.count} events, the block has ${block.length}`,
      expected: `${seal.count}`,
      actual: `${block.length}`,
    });
  }
  const root = subtreeOverNodes(chunks.roots.map((r) => Buffer.from(r, "hex"))).toString("hex");
  if (root !== seal.root) {
    return fail({
      kind: "seal-root-mismatch",
      block: seal.block,
      message: `${label}: the Merkle root over its chunk hashes is ${root}, the seal says ${seal.root}`,
      expected: seal.root,
      actual: root,
    });
  }
  const leaves = new Map<string, string>();
  const indexOf = new Map(block.map((l, i) => [l.position, i]));
  for (const head of heads) {
    const index = indexOf.get(formatPosition(head.position));
    if (index === undefined) continue; // no leaf at its position: the caller names it
    const start = index - (index % chunks.size);
    if (leaves.has(block[start]!.position)) continue;
    const chunk = block.slice(start, start + chunks.size);
    const hash = chunkRoots(
      chunk.map((l) => l.hash),
      chunks.size,
    )[0]!.toString("hex");
    const sealed = chunks.roots[start / chunks.size]!;
    if (hash !== sealed) {
      const position = formatPosition(head.position);
      return fail(
        {
          kind: "seal-root-mismatch",
          block: seal.block,
          position,
          message:
            `${label}: the Merkle hash of its events ${start}..${start + chunk.length - 1} (with ${head.stream} revision ${head.revision} at ${position}) ` +
            `is ${hash}, the seal's chunk hash is ${sealed}; a stored chain hash there was altered`,
          expected: sealed,
          actual: hash,
        },
        head,
      );
    }
    for (const l of chunk) leaves.set(l.position, l.hash);
  }
  return { ok: true, leaves };
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
      const rows = await readLeaves(
        store,
        parsePosition(seals[run[0]!]!.firstPosition),
        parsePosition(seals[run[run.length - 1]!]!.lastPosition),
      );
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

/** verifyLogOfStore's options (workers, progress, page size …), with the auditor's keys; the seals are read from the store. */
export interface WholeLogOptions extends Omit<LogOfStoreOptions, "keys" | "busKeys" | "seals"> {
  readonly keys: AuditKeys;
}

/** Verifies the whole log: every chain, every seal, and signatures as asked. */
export async function verifyWholeLog(store: EventStore, options: WholeLogOptions): Promise<EvidenceReport> {
  const started = performance.now();
  const seals = await readSeals(store);
  const { keys, ...rest } = options;
  const result = await verifyLogOfStore(store, { ...rest, keys: ringWithBus(keys), busKeys: keys.bus, seals });
  const { ok, events, streams, seals: sealCount, signatures, unsealedEvents, failure } = result;
  // From the first read (the seals): what a caller waits for.
  const elapsedMs = performance.now() - started;
  return { ok, scope: "all", events, streams, seals: sealCount, signatures, unsealedEvents, elapsedMs, ...(failure ? { failure } : {}) };
}

/** The seal events themselves are in the log, signed by the bus as a department: its keys verify them too. */
export function ringWithBus(keys: AuditKeys): KeyRing {
  const ring = new KeyRing(keys.departments);
  for (const entry of keys.bus) if (ring.get(entry.key.keyId) === undefined) ring.add(entry.key, entry.owner);
  return ring;
}
