import {
  chainLinkFrom,
  chainLinkOf,
  parseSeal,
  sealBlock,
  sealHash,
  GENESIS_HASH,
  type BlockEntry,
  type ChainLink,
  type Seal,
  type Signer,
} from "@shenguan/evidence";
import { ConcurrencyError } from "../errors.js";
import { comparePositions, formatPosition, parsePosition, type LogPosition, type StoredEvent, type Subscription } from "../port.js";
import { BUS_DEPARTMENT, LOG_SEALED, SEAL_STREAM } from "./constants.js";
import type { EvidenceStore } from "./evidence-store.js";
import { PostgresEventStore, type LoggedChainLink } from "../postgres/postgres-event-store.js";

/** What the sealer takes of each event of the log. */
interface LogEntry {
  readonly id: string;
  readonly stream: string;
  readonly position: LogPosition;
  readonly link: ChainLink | undefined;
}
const entryOfEvent = (e: StoredEvent): LogEntry => ({ id: e.id, stream: e.stream, position: e.position, link: chainLinkOf(e) });
const entryOfLink = (l: LoggedChainLink): LogEntry => ({ id: l.id, stream: l.stream, position: l.position, link: chainLinkFrom(l.chain) });

export interface SealerLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface LogSealerOptions {
  /** The store to seal; seals are appended through it, so each LogSealed event is itself chained and signed. */
  readonly store: EvidenceStore;
  /**
   * Events per block (default 1000, at least 2). A block of one could hold only
   * the previous seal, which is never sealed alone, so the sealer would stall.
   */
  readonly blockSize?: number;
  /**
   * A partial block is sealed once its oldest event has waited this long since the sealer read it, by `clock`
   * (default 1000); the sealer reads new events at most a fifth of this (≤ 250 ms) after they are announced.
   */
  readonly maxDelayMs?: number;
  readonly clock?: () => Date;
  /** Check the delay on this interval (the runner); tests leave it out and call flush(). */
  readonly intervalMs?: number;
  /** The department the bus signs seals as (default SHENGUAN-BUS); its custody key must exist or be provisionable. */
  readonly busDepartment?: string;
  readonly logger?: SealerLogger;
}

export interface SealerMetrics {
  /** Blocks this sealer appended. */
  readonly sealed: number;
  /** Seals another sealer appended first (this one then continued after them). */
  readonly lostRaces: number;
  readonly pending: number;
  /** Events seen without a chain link (from before evidence was switched on): not sealed. */
  readonly unchained: number;
  /** The last position any seal covers, as `commit/prepare`. */
  readonly sealedThrough: string | undefined;
  /** The next block number. */
  readonly nextBlock: number;
}

interface Pending extends BlockEntry {
  readonly position: LogPosition;
  readonly seal: boolean;
  /** By the sealer's clock, when it received the event. */
  readonly at: number;
}

const silent: SealerLogger = { warn() {}, error() {} };

/**
 * Cuts the committed global log into blocks and appends a `LogSealed` event
 * (data: the bus-signed Seal of @shenguan/evidence: Merkle root over the
 * block's chain hashes, chained to the previous seal) to `shenguan-seals`.
 *
 * A block is cut when `blockSize` events are pending, or when the oldest has
 * waited `maxDelayMs`, and only if at least one of them is not a seal (the
 * seals are events of the log too, covered by the next block; a block of
 * seals alone would seal forever). Seals are appended at the exact revision
 * after the last one: when two sealers race, one wins and the other re-reads
 * the last seal and continues after it, so there is one seal sequence.
 *
 * Events without a chain link (written before evidence was switched on) are
 * not put into any block: a seal is the bus's word that it saw an event's
 * chain hash, and these have none. Vouching for them now would certify
 * content nobody signed. They are counted (`unchained`) and logged, and a
 * verifier reports them as `missing-chain`: the truth about those events.
 */
export class LogSealer {
  readonly #store: EvidenceStore;
  /** The store's PostgreSQL/PGlite events, where the log can be read lean (chain links only); undefined elsewhere. */
  readonly #lean: PostgresEventStore | undefined;
  readonly #blockSize: number;
  readonly #maxDelayMs: number;
  readonly #clock: () => Date;
  readonly #intervalMs: number | undefined;
  readonly #bus: string;
  readonly #logger: SealerLogger;

  #signer: Signer | undefined;
  #nextBlock = 0;
  #prev: string = GENESIS_HASH;
  /** The seal stream's last revision, for the exact expected revision of the next seal. */
  #sealRevision: bigint | undefined;
  #sealedThrough: LogPosition | undefined;
  /** The last position taken in (from the subscription or a catch-up read). */
  #received: LogPosition | undefined;
  #pending: Pending[] = [];
  #sealed = 0;
  #lostRaces = 0;
  #unchained = 0;

  #serial: Promise<unknown> = Promise.resolve();
  #subscription: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: LogSealerOptions) {
    this.#store = options.store;
    this.#lean = options.store.inner instanceof PostgresEventStore ? options.store.inner : undefined;
    this.#blockSize = options.blockSize ?? 1000;
    // Every seal is itself pending for the next block: one event per block would be that seal alone, never cut.
    if (!Number.isSafeInteger(this.#blockSize) || this.#blockSize < 2)
      throw new RangeError(`blockSize: must be an integer of at least 2, got ${this.#blockSize}`);
    this.#maxDelayMs = options.maxDelayMs ?? 1000;
    if (!(this.#maxDelayMs >= 0)) throw new RangeError(`maxDelayMs: must be >= 0, got ${this.#maxDelayMs}`);
    this.#clock = options.clock ?? (() => new Date());
    this.#intervalMs = options.intervalMs;
    this.#bus = options.busDepartment ?? BUS_DEPARTMENT;
    this.#logger = options.logger ?? silent;
  }

  /** Reads the last seal and subscribes to the log after it. */
  async start(): Promise<void> {
    this.#signer = await this.#store.keys.signerFor(this.#bus);
    if (this.#signer === undefined) throw new Error(`no custody key for the bus department ${this.#bus}: the sealer cannot sign`);
    await this.#run(() => this.#reload());
    this.#subscribe();
    if (this.#intervalMs !== undefined) {
      this.#timer = setInterval(
        () => void this.#run(() => this.#cutDue()).catch((err: unknown) => this.#logger.error({ err }, "sealer: sealing failed")),
        this.#intervalMs,
      );
      this.#timer.unref();
    }
  }

  #subscribe(): void {
    if (this.#stopped) return;
    // Read what a fifth of the delay allowed before a seal brings, not every append as it is announced: at 1,000
    // grants/s the sealer read the log ~150 times a second, ~13 events each (docs/throughput.md, session 15).
    const after = { ...(this.#received === undefined ? {} : { after: this.#received }), lingerMs: Math.min(250, this.#maxDelayMs / 5) };
    // On PostgreSQL/PGlite only each event's position and chain link are read (readChainLinks): a seal needs
    // nothing else, and turning every event's data and metadata into text was most of the sealer's database time.
    const lean = this.#lean;
    const subscription =
      lean !== undefined
        ? lean.subscribeToChainLinks((links) => this.#run(() => this.#ingest(links.map(entryOfLink))), after)
        : this.#store.subscribeToAll((events) => this.#run(() => this.#ingest(events.map(entryOfEvent))), after);
    this.#subscription = subscription;
    subscription.done.catch((err: unknown) => {
      if (this.#stopped) return;
      // The store was out of reach or a seal append failed: start again from what was taken in.
      this.#logger.error({ err }, "sealer: subscription failed; resubscribing");
      setTimeout(() => this.#subscribe(), 1000).unref();
    });
  }

  /** A page of the log as the subscription reads it (flush() reads ahead of it). */
  async #readPage(options: { after?: LogPosition; maxCount: number }): Promise<LogEntry[]> {
    return this.#lean !== undefined
      ? (await this.#lean.readChainLinks(options)).map(entryOfLink)
      : (await this.#store.readAll(options)).map(entryOfEvent);
  }

  /** One step at a time: the subscription, the timer and flush() never interleave. */
  #run<T>(step: () => Promise<T>): Promise<T> {
    const next = this.#serial.then(step);
    this.#serial = next.catch(() => undefined);
    return next;
  }

  /** The sealer's state from the last seal in the store (at start, and after losing a race). */
  async #reload(): Promise<void> {
    const [last] = await this.#store.readStream(SEAL_STREAM, { direction: "backwards", maxCount: 1 });
    if (last === undefined) {
      this.#nextBlock = 0;
      this.#prev = GENESIS_HASH;
      this.#sealRevision = undefined;
      this.#sealedThrough = undefined;
    } else {
      const seal = parseSeal(last.data);
      if (seal === undefined) throw new Error(`the last event of ${SEAL_STREAM} (${last.id}) is not a seal`);
      this.#nextBlock = seal.block + 1;
      this.#prev = sealHash(seal);
      this.#sealRevision = last.revision;
      this.#sealedThrough = parsePosition(seal.lastPosition);
    }
    const through = this.#sealedThrough;
    if (through !== undefined) {
      this.#pending = this.#pending.filter((p) => comparePositions(p.position, through) > 0);
      if (this.#received === undefined || comparePositions(this.#received, through) < 0) this.#received = through;
    }
  }

  async #ingest(events: readonly LogEntry[]): Promise<void> {
    const now = this.#clock().getTime();
    for (const event of events) {
      if (this.#take(event, now) && this.#pending.length >= this.#blockSize) await this.#cut();
    }
    await this.#cutDue();
  }

  /** Adds the event to the pending block unless it was taken in before; true if it was added. */
  #take(event: LogEntry, now: number): boolean {
    if (this.#received !== undefined && comparePositions(event.position, this.#received) <= 0) return false;
    this.#received = event.position;
    const link = event.link;
    if (link === undefined) {
      // Logged sparingly: a log from before evidence may hold many.
      if (this.#unchained++ % 1000 === 0) {
        this.#logger.warn(
          { eventId: event.id, stream: event.stream, position: formatPosition(event.position), unchained: this.#unchained },
          "sealer: events without a chain link are not sealed",
        );
      }
      return false;
    }
    this.#pending.push({ position: event.position, hash: link.hash, seal: event.stream === SEAL_STREAM, at: now });
    return true;
  }

  async #cutDue(): Promise<void> {
    const oldest = this.#pending[0];
    if (oldest !== undefined && this.#clock().getTime() - oldest.at >= this.#maxDelayMs) await this.#cut();
  }

  /** Seals the first blockSize pending events (fewer if fewer are pending), unless they are all seals. */
  async #cut(): Promise<Seal | undefined> {
    const entries = this.#pending.slice(0, this.#blockSize);
    if (!entries.some((e) => !e.seal)) return undefined;
    const seal = sealBlock({ block: this.#nextBlock, prev: this.#prev, entries, time: this.#clock() }, this.#signer!);
    try {
      const result = await this.#store.append(
        SEAL_STREAM,
        [
          {
            type: LOG_SEALED,
            data: seal,
            metadata: { correlationId: `${SEAL_STREAM}-${seal.block}`, causationId: null, department: this.#bus },
          },
        ],
        this.#sealRevision ?? "no_stream",
      );
      this.#sealRevision = result.nextExpectedRevision;
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
      // Another sealer sealed this block first: continue after its seal.
      this.#lostRaces++;
      await this.#reload();
      return undefined;
    }
    this.#sealed++;
    this.#nextBlock = seal.block + 1;
    this.#prev = sealHash(seal);
    this.#sealedThrough = entries.at(-1)!.position;
    this.#pending = this.#pending.slice(entries.length);
    return seal;
  }

  /**
   * Takes in everything committed so far (reading the log directly, not
   * waiting for the subscription) and seals it, whatever the delay: blocks of
   * blockSize, then the remainder. Resolves to the seals appended.
   */
  flush(): Promise<Seal[]> {
    return this.#run(async () => {
      if (this.#signer === undefined) throw new Error("flush() before start()");
      for (;;) {
        const page = await this.#readPage({ ...(this.#received === undefined ? {} : { after: this.#received }), maxCount: 1000 });
        if (page.length === 0) break;
        const now = this.#clock().getTime();
        for (const event of page) this.#take(event, now);
      }
      const seals: Seal[] = [];
      while (this.#pending.length > 0) {
        const before = this.#pending.length;
        const seal = await this.#cut();
        if (seal !== undefined) seals.push(seal);
        else if (this.#pending.length === before) break; // seals only, or nothing left after a lost race
      }
      return seals;
    });
  }

  metrics(): SealerMetrics {
    return {
      sealed: this.#sealed,
      lostRaces: this.#lostRaces,
      pending: this.#pending.length,
      unchained: this.#unchained,
      sealedThrough: this.#sealedThrough === undefined ? undefined : formatPosition(this.#sealedThrough),
      nextBlock: this.#nextBlock,
    };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#subscription?.close();
    await this.#serial;
  }
}
