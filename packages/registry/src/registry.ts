import { localDateOf } from "@shenguan/deadlines";
import {
  commandHandler,
  refuse,
  START,
  type EventStore,
  type LogPosition,
  type StoredEvent,
  type Subscription,
} from "@shenguan/eventstore";
import { importVerifyingKey, KeyRing, type KeyRingEntry } from "@shenguan/evidence";
import type { Clock } from "@shenguan/service-kit";
import { normaliseSerial, type CommandData, type CommandType, type RegistryCommand } from "./commands.js";
import {
  DEPARTMENT_STREAM_PREFIX,
  departmentDecider,
  departmentEventTypes,
  departmentStream,
  type Certificate,
  type DepartmentEvent,
  type DepartmentState,
} from "./department.js";

export type Department = Exclude<DepartmentState, { status: "none" }>;

/** One change to a department, as the admin API's history shows it: what, by whom, when. */
export interface RegistryEntry {
  readonly revision: string;
  readonly type: DepartmentEvent["type"];
  readonly data: DepartmentEvent["data"];
  /** The administrator's department (metadata.department). */
  readonly by: string;
  readonly at: string;
  readonly correlationId: string;
}

interface Loaded {
  readonly state: DepartmentState;
  readonly history: readonly StoredEvent[];
}

export interface RegistryOptions {
  readonly store: EventStore;
  readonly clock: Clock;
  /** Follow other writers' changes live (another gateway instance, the CLI); off in tests that only read their own writes. */
  readonly follow?: boolean;
}

const PAGE = 1_000;

/**
 * The read side of the registry, kept in memory: every department stream,
 * loaded once from the global log, refreshed after its own writes and, when
 * following, on a subscription to the log. Reads are synchronous so the
 * gateway's authentication hook costs a map lookup.
 */
export class DepartmentRegistry {
  private readonly departments = new Map<string, Loaded>();
  private readonly handle: ReturnType<typeof commandHandler<RegistryCommand, DepartmentEvent, DepartmentState>>;
  private subscription: Subscription | undefined;
  private ring: KeyRing | undefined;
  private activeRing: KeyRing | undefined;
  private serials: Map<string, { code: string; certificate: Certificate }> | undefined;

  constructor(private readonly options: RegistryOptions) {
    this.handle = commandHandler(options.store, departmentDecider);
  }

  /** Loads every department, then (when following) stays live. */
  async start(): Promise<this> {
    let after: LogPosition = START;
    for (;;) {
      const page = await this.options.store.readAll({ after, maxCount: PAGE });
      this.absorb(page);
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.position;
    }
    if (this.options.follow ?? true) {
      this.subscription = this.options.store.subscribeToAll(
        async (events) => {
          this.absorb(events);
        },
        { after },
      );
      this.subscription.done.catch(() => undefined);
    }
    return this;
  }

  async close(): Promise<void> {
    await this.subscription?.close();
  }

  get(code: string): Department | undefined {
    const state = this.departments.get(code)?.state;
    return state && state.status !== "none" ? state : undefined;
  }

  /**
   * The department when it is active: what anything that grants access now
   * (deliveries, webhooks) must ask. get() also returns deactivated ones, for
   * history and verification.
   */
  active(code: string): (Department & { status: "active" }) | undefined {
    const department = this.get(code);
    return department?.status === "active" ? department : undefined;
  }

  list(): Department[] {
    return [...this.departments.keys()].map((c) => this.get(c)).filter((d): d is Department => d !== undefined);
  }

  /** The department a client certificate was recorded for, and the certificate (revoked or not). */
  byCertificateSerial(serial: string): { department: Department; certificate: Certificate } | undefined {
    this.serials ??= new Map(this.list().flatMap((d) => d.certificates.map((c) => [c.serial, { code: d.code, certificate: c }] as const)));
    const hit = this.serials.get(normaliseSerial(serial));
    const department = hit && this.get(hit.code);
    return hit && department ? { department, certificate: hit.certificate } : undefined;
  }

  /**
   * Every registered public key with its owner, retired keys included: an
   * event signed before a key was retired must still verify years later.
   */
  keyRing(): KeyRing {
    this.ring ??= new KeyRing(this.list().flatMap((d) => d.keys.map((k) => ({ key: importVerifyingKey(k.pem), owner: d.code }))));
    return this.ring;
  }

  /**
   * The keys that may sign new events: unretired keys of active departments,
   * plus those of `others` (the bus's custody keys) that the registry does not
   * know of, such as the bus's own seal key. A key the registry knows counts
   * only through it, and a custody key of a known department only if
   * registered and active there, so retiring it or deactivating its department
   * stops it signing at once. Verifying old events uses keyRing().
   */
  activeKeyRing(others: Iterable<KeyRingEntry> = []): KeyRing {
    this.activeRing ??= new KeyRing(
      this.list()
        .filter((d) => d.status === "active")
        .flatMap((d) => d.keys.filter((k) => !k.retired).map((k) => ({ key: importVerifyingKey(k.pem), owner: d.code }))),
    );
    const known = this.keyRing();
    const extra = [...others].filter((e) => e.owner !== undefined && this.get(e.owner) === undefined && known.get(e.key.keyId) === undefined);
    return extra.length === 0 ? this.activeRing : new KeyRing([...this.activeRing, ...extra]);
  }

  /** The department's changes in order, or undefined for an unknown code. */
  history(code: string): RegistryEntry[] | undefined {
    const loaded = this.departments.get(code);
    if (!loaded || loaded.history.length === 0) return undefined;
    return loaded.history.map((e) => ({
      revision: String(e.revision),
      type: e.type as DepartmentEvent["type"],
      data: e.data as DepartmentEvent["data"],
      by: e.metadata.department,
      at: e.time.toISOString(),
      correlationId: e.metadata.correlationId,
    }));
  }

  /**
   * Runs a registry command for `code` as administrator `by`, then reloads the
   * stream so the caller reads its own write. A key already registered for
   * another department is refused here: the decider sees one stream only.
   */
  async execute<T extends CommandType>(
    code: string,
    type: T,
    data: CommandData<T>,
    by: { readonly department: string; readonly correlationId: string },
  ): Promise<Department> {
    if (type === "AddKey") {
      const pem = (data as CommandData<"AddKey">).pem;
      let keyId: string | undefined;
      try {
        keyId = importVerifyingKey(pem).keyId;
      } catch {
        keyId = undefined; // the decider names the unreadable key
      }
      const owner = keyId === undefined ? undefined : this.keyRing().get(keyId)?.owner;
      if (owner !== undefined && owner !== code) refuse("key.owned-by-other", `key ${keyId} is registered for ${owner}`, "pem");
    }
    const now = this.options.clock.now();
    const command = { type, data, department: by.department, now, today: localDateOf(now) } as unknown as RegistryCommand;
    await this.handle(departmentStream(code), command, { metadata: { correlationId: by.correlationId, causationId: null, department: by.department } });
    await this.reload(code);
    return this.get(code)!;
  }

  private async reload(code: string): Promise<void> {
    const history = await this.options.store.readStream(departmentStream(code));
    this.replace(code, history);
  }

  private replace(code: string, history: readonly StoredEvent[]): void {
    // A stream only grows: a shorter history is a read that started before one
    // already absorbed (a slow reload finishing late), and would undo that change.
    if (history.length < (this.departments.get(code)?.history.length ?? 0)) return;
    const state = history.reduce((s, e) => departmentDecider.evolve(s, { type: e.type, data: e.data } as DepartmentEvent), departmentDecider.initialState());
    this.departments.set(code, { state, history });
    this.ring = undefined;
    this.activeRing = undefined;
    this.serials = undefined;
  }

  /** Folds registry events from the log; a gap (an event seen out of turn) is repaired by re-reading the stream. */
  private absorb(events: readonly StoredEvent[]): void {
    for (const e of events) {
      if (!e.stream.startsWith(DEPARTMENT_STREAM_PREFIX) || !departmentEventTypes.has(e.type)) continue;
      const code = e.stream.slice(DEPARTMENT_STREAM_PREFIX.length);
      const loaded = this.departments.get(code);
      const have = BigInt(loaded?.history.length ?? 0);
      if (e.revision < have) continue; // already read (our own write, reloaded)
      if (e.revision > have) {
        void this.reload(code).catch(() => undefined);
        continue;
      }
      this.replace(code, [...(loaded?.history ?? []), e]);
    }
  }
}

/**
 * The `verifiers` of an EvidenceStore that the registry itself reads and
 * writes through: the registry can only be started on that store, so it is
 * attached afterwards (`attach`). Until then only the custody keys verify;
 * from then on, the keys that may sign now (activeKeyRing).
 */
export function signingKeysFor(custody: { publicKeys(): Promise<readonly KeyRingEntry[]> }): {
  readonly verifiers: () => Promise<KeyRing>;
  attach(registry: DepartmentRegistry): void;
} {
  let attached: DepartmentRegistry | undefined;
  return {
    verifiers: async () => {
      const custodyKeys = await custody.publicKeys();
      return attached ? attached.activeKeyRing(custodyKeys) : new KeyRing(custodyKeys);
    },
    attach(registry) {
      attached = registry;
    },
  };
}
