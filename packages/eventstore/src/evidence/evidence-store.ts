import {
  canonicalEvent,
  chainHash,
  chainLinkOf,
  CanonicalFormError,
  evidenceOf,
  GENESIS_HASH,
  KeyRing,
  SigningPool,
  verifyEventSignature,
  type ChainHead,
  type ChainLink,
  type EventEvidence,
  type EvidenceEvent,
  type EvidenceFailureKind,
  type EvidenceSignature,
  type Signer,
} from "@shenguan/evidence";
import { LRUCache } from "lru-cache";
import { v7 as uuidv7 } from "uuid";
import { ConcurrencyError, EvidenceRejectedError } from "../errors.js";
import type {
  AppendResult,
  EventMetadata,
  EventStore,
  ExpectedRevision,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  StoredEvent,
  SubscribeOptions,
  Subscription,
} from "../port.js";
import {
  appendEach,
  appendManyWithin,
  appendPrepared,
  appendWithin,
  expectationConflict,
  type AppendOutcome,
  type PreparedAppends,
} from "../postgres/append-within.js";
import { runAlongside } from "../postgres/alongside.js";
import type { SqlQueryable } from "../postgres/executor.js";
import { toBigInt } from "../postgres/executor.js";
import { PostgresEventStore, type StreamAppend } from "../postgres/postgres-event-store.js";
import type { KeyStore } from "./key-store.js";

export interface EvidenceStoreOptions {
  /** Custody keys: the signer of each department whose events arrive unsigned. */
  readonly keys: KeyStore;
  /**
   * The keys a pre-signed event may be signed with now, each owned by its
   * department: active keys of active departments only (the registry's
   * activeKeyRing). Retired keys belong in the auditor's ring, not here: a
   * retired or stolen key must not sign new events. Default: the KeyStore's public keys.
   */
  readonly verifiers?: () => KeyRing | Promise<KeyRing>;
  /** The store's clock: every unsigned event's `time`. Default: the system clock. */
  readonly clock?: () => Date;
  /**
   * How far a pre-signed event's own time may lie from the store's clock, either
   * way (default 5 minutes). The time is in the signed bytes, so the store cannot
   * replace it; without a bound a signer could date its events years back or ahead.
   */
  readonly maxClockSkewMs?: number;
  /**
   * Streams whose head (revision, chain hash) is remembered between appends
   * (default 100 000, ~20 MB): a miss costs a read of the stream's last event
   * before the append, and a bus takes a day's cases (tens of thousands) and
   * appends to each again within days.
   */
  readonly headCacheSize?: number;
  /** Attempts of an "any" / "stream_exists" append that loses a race to another writer (default 8). */
  readonly attempts?: number;
  /**
   * Where custody signatures are computed: a SigningPool the caller owns (and
   * closes; it may serve several stores), or the number of worker threads of a
   * pool this store creates and closes with close() (0 = sign on the calling
   * thread, each turn of the event loop's jobs together). Default: one
   * process-wide pool of SIGNING_THREADS_DEFAULT threads (none with batch
   * signatures), shared by every store that takes the default and closed when
   * the last of them closes.
   */
  readonly signingPool?: SigningPool | number;
  /**
   * Custody signatures made together share one batch signature (an SM2
   * signature over the Merkle root of their canonical bytes; each event
   * carries its inclusion proof, as X-Road signs message batches): the
   * events of one append, and appends of one department that wait while its
   * previous signatures are being made (SigningPool.signCoalesced). Default
   * true; false signs every event on its own.
   */
  readonly batchSignatures?: boolean;
}

interface Prepared {
  readonly events: NewEvent[];
  /** The chain hash of the last event: the stream's head once appended. */
  readonly lastHash: string;
}

const GENESIS = Buffer.alloc(32);
/**
 * Worker threads of the default pool. With batch signatures (the default)
 * none: one signature serves every event of a department gathered in a turn
 * of the event loop, so signing costs this thread little, while a hop to a
 * worker thread costs latency that grows with the load (bench/evidence-store.ts:
 * on 2 cores under load, 16 writers of single-event appends, 78–256 events/s
 * signing batches on 2 threads, 551–602 on this thread).
 * Signing each event on its own (batchSignatures: false) takes 2 threads.
 */
export const SIGNING_THREADS_DEFAULT = { batched: 0, single: 2 } as const;

/** One process holds one bus: per-store pools would only split the batches and multiply threads competing for the same cores. */
const shared = new Map<number, { readonly pool: SigningPool; users: number }>();

function acquireSharedPool(size: number): SigningPool {
  let entry = shared.get(size);
  if (entry === undefined) shared.set(size, (entry = { pool: new SigningPool({ size }), users: 0 }));
  entry.users++;
  return entry.pool;
}

async function releaseSharedPool(pool: SigningPool): Promise<void> {
  const entry = shared.get(pool.size);
  if (entry?.pool !== pool || --entry.users > 0) return;
  shared.delete(pool.size);
  await pool.close();
}
const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** The ConcurrencyError the inner store would raise for `expected` against the stream's actual head, or undefined when it holds. */
function conflictWith(stream: string, expected: ExpectedRevision, head: ChainHead | undefined): ConcurrencyError | undefined {
  return expectationConflict(stream, expected, head?.revision);
}

function reject(kind: EvidenceFailureKind, eventId: string | undefined, message: string, cause?: unknown): never {
  throw new EvidenceRejectedError(kind, eventId, message, cause === undefined ? undefined : { cause });
}

/**
 * The evidence layer at append, around any EventStore: each event leaves with
 * the store's time, an id, its department's signature over its canonical
 * bytes (@shenguan/evidence) and its link in the stream's SM3 chain, in
 * `metadata.evidence = { signature, chain }`.
 *
 * - Unsigned events get the clock's time and are signed with the custody key
 *   of `metadata.department` (KeyStore); no key (and no autoProvision) → refused.
 *   A `time` given with an unsigned event is replaced: the time is the store's
 *   word, and an appender must not date its own events.
 * - Pre-signed events (`metadata.evidence.signature` present) keep their id
 *   and time (both are in the signed bytes, so both must be given) and are
 *   verified against `verifiers()` (keys that may sign now): a bad signature,
 *   a key not in that ring (unknown, retired, or of a deactivated department),
 *   a key not owned by `metadata.department` (missing department included), a
 *   time further than `maxClockSkewMs` from the store's clock, or a
 *   `chain.prev` that is not the stream's head is refused.
 * - The chain is linked at the exact revision: the head is taken from a
 *   bounded LRU cache or read from the stream, and the append goes to the
 *   inner store with that exact expected revision, so two writers (in one
 *   process or several) can never fork a stream: one of them gets a
 *   ConcurrencyError. "any" / "stream_exists" are resolved to the head and
 *   retried a few times when they lose such a race.
 *
 * A refusal (EvidenceRejectedError, with the failure kind and the event id)
 * stores nothing of the batch. Reads and subscriptions go straight through.
 * A stream begun before evidence was switched on has no chain to extend: its
 * first evidenced event links to GENESIS, and a verifier reports the
 * unevidenced revisions before it as `missing-chain`, which is what they are.
 */
export class EvidenceStore implements EventStore {
  readonly inner: EventStore;
  readonly keys: KeyStore;
  readonly #verifiers: () => KeyRing | Promise<KeyRing>;
  readonly #clock: () => Date;
  readonly #heads: LRUCache<string, ChainHead>;
  readonly #attempts: number;
  readonly #maxSkewMs: number;
  readonly #signing: SigningPool;
  /** What close() does with the pool: close one the store created, release the shared one, leave one it was given. */
  readonly #signingOwner: "store" | "shared" | "caller";
  readonly #batchSignatures: boolean;
  #closed = false;

  constructor(inner: EventStore, options: EvidenceStoreOptions) {
    this.inner = inner;
    this.keys = options.keys;
    this.#verifiers = options.verifiers ?? (async () => new KeyRing(await options.keys.publicKeys()));
    this.#clock = options.clock ?? (() => new Date());
    const max = options.headCacheSize ?? 100_000;
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`headCacheSize: must be a positive integer, got ${max}`);
    this.#heads = new LRUCache({ max });
    const attempts = options.attempts ?? 8;
    if (!Number.isSafeInteger(attempts) || attempts < 1) throw new RangeError(`attempts: must be a positive integer, got ${attempts}`);
    this.#attempts = attempts;
    const skew = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    if (!Number.isSafeInteger(skew) || skew < 0) throw new RangeError(`maxClockSkewMs: must be a non-negative integer, got ${skew}`);
    this.#maxSkewMs = skew;
    this.#batchSignatures = options.batchSignatures ?? true;
    const signing = options.signingPool;
    this.#signingOwner = signing === undefined ? "shared" : typeof signing === "number" ? "store" : "caller";
    this.#signing =
      signing === undefined
        ? acquireSharedPool(this.#batchSignatures ? SIGNING_THREADS_DEFAULT.batched : SIGNING_THREADS_DEFAULT.single)
        : typeof signing === "number"
          ? new SigningPool({ size: signing })
          : signing;
  }

  async append(stream: string, events: readonly NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    if (events.length === 0) return this.inner.append(stream, events, expectedRevision);
    const time = this.#clock();
    // Fixed across attempts: a retried append is the same events.
    const given = events.map((e) => ({ ...e, id: e.id ?? uuidv7() }));
    const resolving = expectedRevision === "any" || expectedRevision === "stream_exists";
    for (let attempt = 1; ; attempt++) {
      const head = await this.#head(stream, expectedRevision, attempt > 1);
      const exact: ExpectedRevision = head === undefined ? "no_stream" : head.revision;
      const prepared = await this.#prepare(stream, given, head, time);
      try {
        const result = await this.inner.append(stream, prepared.events, exact);
        this.#heads.set(stream, { revision: result.nextExpectedRevision, hash: prepared.lastHash });
        return result;
      } catch (error) {
        if (!(error instanceof ConcurrencyError)) throw error;
        this.#heads.delete(stream);
        if (!resolving) throw error;
        if (attempt >= this.#attempts) throw new ConcurrencyError(stream, expectedRevision, error.actual, { cause: error });
        // A short random pause: two writers retrying in lockstep on a hot stream would keep colliding.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
      }
    }
  }

  /**
   * appendWithin (the caller's open transaction on the store's own PostgreSQL
   * or PGlite database) with the same evidence: the head is read inside the
   * transaction, and the append is at that exact revision, so a concurrent
   * writer makes one of the two fail with ConcurrencyError. Not retried and
   * not cached: the transaction is the caller's and may still roll back.
   */
  async appendWithin(
    tx: SqlQueryable,
    stream: string,
    events: readonly NewEvent[],
    expectedRevision: ExpectedRevision,
  ): Promise<AppendResult> {
    if (!(this.inner instanceof PostgresEventStore))
      throw new TypeError("appendWithin: the inner store must be the PostgreSQL/PGlite store");
    this.#heads.delete(stream);
    if (events.length === 0) return appendWithin(tx, stream, events, expectedRevision);
    let head: ChainHead | undefined;
    if (expectedRevision !== "no_stream") {
      const { rows } = await tx.query<{ revision: unknown; hash: string | null }>(
        `select revision, metadata->'evidence'->'chain'->>'hash' as hash from events where stream_name = $1 order by revision desc limit 1`,
        [stream],
      );
      const row = rows[0];
      head = row === undefined ? undefined : { revision: toBigInt(row.revision), hash: row.hash ?? GENESIS_HASH };
      const conflict = conflictWith(stream, expectedRevision, head);
      if (conflict) throw conflict;
    }
    const prepared = await this.#prepare(
      stream,
      events.map((e) => ({ ...e, id: e.id ?? uuidv7() })),
      head,
      this.#clock(),
    );
    return appendWithin(tx, stream, prepared.events, head === undefined ? "no_stream" : head.revision);
  }

  /**
   * appendWithin for several streams (a consumer chunk's emitted events):
   * prepareManyWithin, then its append at once. Outcomes in the order of `batch`.
   */
  async appendManyWithin(tx: SqlQueryable, batch: readonly StreamAppend[]): Promise<AppendOutcome[]> {
    return (await this.prepareManyWithin(tx, batch)).append();
  }

  /**
   * appendManyWithin in two steps, so that a transaction can write its read
   * model between them and append last: readers of the log wait for a
   * transaction from its first append to its end (migration 7), so what it
   * writes after the append holds every reader back. `prepareManyWithin`
   * reads the heads of all the streams in one query inside `tx`, reports a
   * stream not at its expected revision as a conflict without signing it,
   * and signs the others together (one batch signature per department);
   * nothing is written. `append()` writes them (one statement; one by one if
   * a concurrent writer got in between, which then shows as a conflict in
   * its outcomes although `conflicts` did not predict it).
   */
  async prepareManyWithin(tx: SqlQueryable, batch: readonly StreamAppend[], known?: KnownHeads): Promise<PreparedAppends> {
    if (!(this.inner instanceof PostgresEventStore))
      throw new TypeError("appendManyWithin: the inner store must be the PostgreSQL/PGlite store");
    for (const b of batch) this.#heads.delete(b.stream);
    const streams = batch.map((b) => b.stream);
    if (new Set(streams).size !== streams.length || batch.some((b) => b.events.length === 0)) {
      // Two appends to one stream chain on each other: one at a time, when appended.
      return {
        conflicts: batch.map(() => undefined),
        append: async (alongside) => {
          if (alongside) await runAlongside(tx, alongside);
          return appendEach(batch, (b) => this.appendWithin(tx, b.stream, b.events, b.expectedRevision));
        },
      };
    }
    // Heads the caller read in `tx` already (headColumnsSql) are not read again.
    const unknown = known ? streams.filter((s) => !known.has(s)) : streams;
    const { rows } =
      unknown.length === 0
        ? { rows: [] }
        : await tx.query<{ stream_name: string; revision: unknown; hash: string | null }>(
            // Each stream's last event by its own index scan (see READ_STREAMS on why not `= any($1)`).
            `select h.* from unnest($1::text[]) as s(name)
               cross join lateral (select stream_name, revision, metadata->'evidence'->'chain'->>'hash' as hash
                                     from events where stream_name = s.name order by revision desc limit 1) h`,
            [unknown],
          );
    const heads = new Map(rows.map((r) => [r.stream_name, { revision: toBigInt(r.revision), hash: r.hash ?? GENESIS_HASH }]));
    for (const [stream, head] of known ?? []) if (head) heads.set(stream, head);
    const now = this.#clock();
    const conflicts = batch.map((b) => conflictWith(b.stream, b.expectedRevision, heads.get(b.stream)));
    // Prepared together: their custody signatures are gathered into one batch per department.
    const prepared = await Promise.all(
      batch.map(async (b, at): Promise<StreamAppend> => {
        if (conflicts[at]) return b; // not signed: never appended
        const head = heads.get(b.stream);
        const events = b.events.map((e) => ({ ...e, id: e.id ?? uuidv7() }));
        const p = await this.#prepare(b.stream, events, head, now);
        return { stream: b.stream, events: p.events, expectedRevision: head === undefined ? "no_stream" : head.revision };
      }),
    );
    return {
      conflicts,
      append: (alongside) => appendPrepared(prepared, conflicts, (ready) => appendManyWithin(tx, ready, alongside)),
    };
  }

  /**
   * The head to link after, checked against the caller's expectation (a
   * mismatch is the ConcurrencyError the inner store would raise). A cached
   * head is trusted only when it agrees with an exact expectation; otherwise
   * the stream's last event is read.
   */
  async #head(stream: string, expected: ExpectedRevision, fresh: boolean): Promise<ChainHead | undefined> {
    // A new stream links to GENESIS whatever is cached; the inner store refuses it if the stream exists.
    if (expected === "no_stream") return undefined;
    const cached = fresh ? undefined : this.#heads.get(stream);
    const head =
      cached !== undefined && (typeof expected !== "bigint" || cached.revision === expected) ? cached : await this.#readHead(stream);
    const conflict = conflictWith(stream, expected, head);
    if (conflict) throw conflict;
    return head;
  }

  async #readHead(stream: string): Promise<ChainHead | undefined> {
    const [last] = await this.inner.readStream(stream, { direction: "backwards", maxCount: 1 });
    if (last === undefined) {
      this.#heads.delete(stream);
      return undefined;
    }
    // A head from before evidence has no link: the chain starts afresh after it (see the class comment).
    const head = { revision: last.revision, hash: chainLinkOf(last)?.hash ?? GENESIS_HASH };
    this.#heads.set(stream, head);
    return head;
  }

  /**
   * Time, signature and chain link for each event; refuses the batch at the
   * first event that fails. Links and checks run on this thread in one pass;
   * the custody signatures (the chain does not depend on them: canonical
   * bytes exclude metadata.evidence) go to the signing pool as one batch once
   * the whole batch has passed, so a refused batch costs no signature.
   */
  async #prepare(
    stream: string,
    events: readonly (NewEvent & { readonly id: string })[],
    head: ChainHead | undefined,
    now: Date,
  ): Promise<Prepared> {
    let prev: Buffer = head === undefined ? GENESIS : Buffer.from(head.hash, "hex");
    let revision = head === undefined ? 0n : head.revision + 1n;
    let ring: KeyRing | undefined;
    const signers = new Map<string, Signer>();
    const drafts: {
      readonly event: NewEvent & { readonly id: string };
      readonly time: Date;
      readonly chain: ChainLink;
      signature: EvidenceSignature | undefined;
    }[] = [];
    // Unsigned events: their index in `drafts`, canonical bytes and custody signer.
    const toSign: { readonly at: number; readonly message: Uint8Array; readonly signer: Signer }[] = [];
    for (const event of events) {
      const metadata = event.metadata as EventMetadata & Record<string, unknown>;
      const label = `event ${event.id} (${stream}@${revision})`;
      if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata))
        reject("not-canonical", event.id, `${label}: metadata is not an object`);
      const department = metadata.department;
      const presented = evidenceOf(event as unknown as EvidenceEvent) as EventEvidence | null | undefined;
      const preSigned = presented?.signature !== undefined;
      if (preSigned && !(event.time instanceof Date)) {
        reject(
          "signature-invalid",
          event.id,
          `${label} is pre-signed but carries no time: the signed bytes hold it, so it must travel with the event`,
        );
      }
      if (preSigned) {
        // The signed time is the event's time for good; bound it so a signer cannot backdate or postdate what it publishes.
        const skew = event.time!.getTime() - now.getTime();
        if (Number.isNaN(skew) || Math.abs(skew) > this.#maxSkewMs) {
          reject(
            "signature-invalid",
            event.id,
            `refused ${label}: its signed time ${Number.isNaN(skew) ? "(invalid date)" : event.time!.toISOString()} is more than ${this.#maxSkewMs} ms from the store's clock ${now.toISOString()} (maxClockSkewMs)`,
          );
        }
        // The key's owner is checked against the department; without one, any registered key would do.
        if (typeof department !== "string" || department.length === 0) {
          reject(
            "wrong-signer",
            event.id,
            `refused ${label}: it is pre-signed but has no metadata.department, so its key's owner cannot be checked`,
          );
        }
      }
      const time = preSigned ? event.time! : now;
      const candidate: EvidenceEvent = { id: event.id, type: event.type, stream, revision, time, data: event.data, metadata };
      let canonical: Buffer;
      try {
        canonical = canonicalEvent(candidate);
      } catch (error) {
        if (!(error instanceof CanonicalFormError)) throw error;
        reject("not-canonical", event.id, `${label} has no canonical form: ${error.message}`, error);
      }
      const prevHex = prev.toString("hex");
      const hash = chainHash(prev, canonical);
      const hashHex = hash.toString("hex");

      let signature: EvidenceSignature | undefined;
      if (preSigned) {
        const claimed = presented?.chain as { prev?: unknown; hash?: unknown } | undefined;
        if (claimed?.prev !== undefined && claimed.prev !== prevHex) {
          reject(
            "prev-mismatch",
            event.id,
            `${label}: broken chain, its chain.prev ${String(claimed.prev)} is not the stream's head ${prevHex}`,
          );
        }
        if (claimed?.hash !== undefined && claimed.hash !== hashHex) {
          reject(
            "hash-mismatch",
            event.id,
            `${label}: its chain.hash ${String(claimed.hash)} is not SM3(prev ‖ canonical event) ${hashHex}`,
          );
        }
        ring ??= await this.#verifiers();
        const check = verifyEventSignature(candidate, ring);
        if (!check.ok) {
          // The ring holds only keys that may sign now, so "unknown" also covers a retired key and a deactivated department's.
          const why =
            check.failure.kind === "unknown-key"
              ? " (not an active key of an active department: unregistered, retired, or its department deactivated)"
              : "";
          reject(check.failure.kind, event.id, `refused ${check.failure.message}${why}`);
        }
        const owner = ring.get(presented!.signature!.keyId)?.owner;
        if (owner === undefined) {
          reject(
            "wrong-signer",
            event.id,
            `refused ${label}: key ${presented!.signature!.keyId} is registered for no department, so it cannot sign for ${String(department)}`,
          );
        }
        if (owner !== department) {
          reject(
            "wrong-signer",
            event.id,
            `refused ${label}: key ${presented!.signature!.keyId} belongs to ${owner}, not to metadata.department ${String(department)}`,
          );
        }
        signature = presented!.signature!;
      } else {
        if (typeof department !== "string") reject("unknown-key", event.id, `${label} has no metadata.department to sign for`);
        let signer = signers.get(department);
        if (signer === undefined) {
          signer = await this.keys.signerFor(department);
          if (signer === undefined) {
            reject(
              "unknown-key",
              event.id,
              `refused ${label}: no custody key for department ${department} (register the department; autoProvision is for development only)`,
            );
          }
          signers.set(department, signer);
        }
        toSign.push({ at: drafts.length, message: canonical, signer });
      }
      drafts.push({ event, time, chain: { prev: prevHex, hash: hashHex }, signature });
      prev = hash;
      revision++;
    }
    const signatures =
      toSign.length === 0 ? [] : this.#batchSignatures ? await this.#signing.signCoalesced(toSign) : await this.#signing.sign(toSign);
    toSign.forEach((job, i) => (drafts[job.at]!.signature = signatures[i]));
    const out = drafts.map(({ event, time, chain, signature }): NewEvent => ({
      id: event.id,
      type: event.type,
      data: event.data,
      time,
      // Every draft is signed by now: pre-signed, or by the pool just above.
      metadata: { ...event.metadata, evidence: { signature: signature!, chain } },
    }));
    return { events: out, lastHash: prev.toString("hex") };
  }

  readStream(stream: string, options?: ReadStreamOptions): Promise<StoredEvent[]> {
    return this.inner.readStream(stream, options);
  }

  readAll(options?: ReadAllOptions): Promise<StoredEvent[]> {
    return this.inner.readAll(options);
  }

  subscribeToAll(onEvents: (events: readonly StoredEvent[]) => Promise<void>, options?: SubscribeOptions): Subscription {
    return this.inner.subscribeToAll(onEvents, options);
  }

  readByCorrelationKey(key: string): Promise<StoredEvent[]> {
    return this.inner.readByCorrelationKey(key);
  }

  async close(): Promise<void> {
    try {
      await this.inner.close();
    } finally {
      if (!this.#closed) {
        this.#closed = true;
        if (this.#signingOwner === "store") await this.#signing.close();
        else if (this.#signingOwner === "shared") await releaseSharedPool(this.#signing);
      }
    }
  }
}

/** Stream heads a caller read in its transaction (headColumnsSql, knownHeadOf), by stream: null for a stream with no events. */
export type KnownHeads = ReadonlyMap<string, { readonly revision: bigint; readonly hash: string } | null>;

/**
 * The head of the stream named by the SQL expression `stream`, as
 * prepareManyWithin reads it, as two columns (head_revision, head_hash) a
 * caller adds to a statement it runs in the transaction anyway: one round trip
 * fewer before its append. Only where headsReadableIn(store) holds.
 */
export function headColumnsSql(stream: string): string {
  // Qualified: an unqualified `order by revision` would sort by the output column (revision::text) as text.
  const last = (column: string) => `(select ${column} from events e where e.stream_name = ${stream} order by e.revision desc limit 1)`;
  return `${last("e.revision")}::text as head_revision, ${last("e.metadata->'evidence'->'chain'->>'hash'")} as head_hash`;
}

/** The head a row with headColumnsSql's columns read: null when the stream had no events. */
export function knownHeadOf(row: {
  readonly head_revision: string | null;
  readonly head_hash: string | null;
}): { revision: bigint; hash: string } | null {
  return row.head_revision === null ? null : { revision: BigInt(row.head_revision), hash: row.head_hash ?? GENESIS_HASH };
}
