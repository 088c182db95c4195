import { createHmac, randomUUID } from "node:crypto";
import { catalog, type Family } from "@shenguan/contracts";
import { formatPosition, parsePosition, type EventStore, type LogPosition, type SqlExecutor } from "@shenguan/eventstore";
import { ForbiddenError, NotFoundError, type AccessEntry, type AccessLog, type Clock, type Grants } from "@shenguan/service-kit";
import { fetch, type Agent } from "undici";
import type { PiiProtector } from "../pii/index.js";
import { checkWebhookUrl, egressAgent, literalAllowed, type EgressPolicy } from "./egress.js";
import { filterWithin, isContractEvent, matches, regionCovered, regionOf, render, type DeliveryFilter } from "./filter.js";

export const SIGNATURE_HEADER = "x-shenguan-signature";

/**
 * Stripe's scheme: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
 * The timestamp inside the signed bytes lets a receiver refuse replays older
 * than its tolerance.
 */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${mac}`;
}

export interface WebhookRetryPolicy {
  /** Attempts per event before it is dead-lettered (default 8). */
  readonly maxAttempts?: number;
  /** Wait after the first failure (default 10 s); doubles per attempt. */
  readonly baseDelayMs?: number;
  /** Longest wait between attempts (default 1 h). */
  readonly maxDelayMs?: number;
  /** One POST's time limit (default 10 s). */
  readonly timeoutMs?: number;
}

export interface WebhookDispatcherOptions {
  readonly sql: SqlExecutor;
  readonly store: EventStore;
  readonly accessLog: AccessLog;
  readonly pii: PiiProtector;
  readonly clock: Clock;
  /** The department's grants now (the registry): deliveries follow grants as they change, and stop for an unknown department. */
  readonly grantsOf: (department: string) => Promise<Grants | undefined>;
  readonly retry?: WebhookRetryPolicy;
  /** Events delivered per webhook per deliverDue() call at most (default 500), so one busy hook does not starve others. */
  readonly maxPerRun?: number;
  /** Which destinations webhooks may reach (egress.ts): public addresses only unless allowPrivateNetworks. */
  readonly egress?: EgressPolicy;
}

export interface Webhook {
  readonly id: string;
  readonly department: string;
  readonly url: string;
  readonly families: readonly Family[];
  readonly regions: readonly string[];
  readonly createdAt: string;
  /** The log position of the last event handled (delivered, filtered out or dead-lettered); null before the first. */
  readonly checkpoint: string | null;
  readonly attempts: number;
  readonly nextAttemptAt: string;
  readonly lastError: string | null;
}

export interface DeadLetter {
  readonly id: string;
  readonly webhookId: string;
  readonly eventId: string;
  readonly position: string;
  readonly type: string;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly deadAt: string;
  readonly redeliveredAt: string | null;
}

export interface DeliveryRunReport {
  readonly delivered: number;
  readonly failed: number;
  readonly deadLettered: number;
}

interface WebhookRow {
  id: string;
  department: string;
  url: string;
  families: string[];
  regions: string[];
  secret: string;
  created_at: Date | string;
  checkpoint: string | null;
  attempts: number;
  next_attempt_at: Date | string;
  last_error: string | null;
}

const WEBHOOK_COLUMNS = "id, department, url, families, regions, secret, created_at, checkpoint, attempts, next_attempt_at, last_error";
const MIGRATE_LOCK = 0x5a6e_b00c;

/**
 * Webhook subscriptions and their delivery worker.
 *
 * Each webhook has a durable checkpoint (a log position) in PostgreSQL and
 * receives its events one at a time, in log order. A failed POST is retried
 * with exponential backoff; the wait is measured on the injected clock and
 * the work is done by `deliverDue()`, called by a timer in production and by
 * tests after they move the clock. After `maxAttempts` the event goes to the
 * webhook's dead letters and the checkpoint moves past it: a dead event never
 * blocks later ones, and apart from dead-lettered events the order is kept.
 * Delivery is at least once (a receiver that answered 2xx after a crash
 * before the checkpoint was saved gets the event again): receivers dedupe on
 * the `x-shenguan-event-id` header.
 *
 * Several gateways may run the worker: a webhook is leased (`lease_until`,
 * taken with `for update skip locked`) while one of them delivers to it, and
 * no transaction stays open across an HTTP call. Leases run on the database's
 * clock, the one all workers share (the business clock may be moved or differ
 * between hosts), and every checkpoint save is conditional on still holding
 * the lease: a worker whose lease expired and was taken over stops at once
 * instead of moving the new holder's checkpoint.
 */
export class WebhookDispatcher {
  private readonly owner = randomUUID();
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly agent: Agent;

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.agent = egressAgent(options.egress);
    this.maxAttempts = options.retry?.maxAttempts ?? 8;
    this.baseDelayMs = options.retry?.baseDelayMs ?? 10_000;
    this.maxDelayMs = options.retry?.maxDelayMs ?? 3_600_000;
    this.timeoutMs = options.retry?.timeoutMs ?? 10_000;
  }

  async migrate(): Promise<void> {
    await this.options.sql.transaction(async (tx) => {
      await tx.query(`select pg_advisory_xact_lock(${MIGRATE_LOCK})`);
      await tx.query(`
        create table if not exists gateway_webhooks (
          id text primary key,
          department text not null,
          url text not null,
          families text[] not null,
          regions text[] not null,
          secret text not null,
          created_at timestamptz not null,
          deleted_at timestamptz,
          checkpoint text,
          attempts int not null default 0,
          next_attempt_at timestamptz not null,
          last_error text,
          lease_owner text,
          lease_until timestamptz
        )`);
      await tx.query(`create index if not exists gateway_webhooks_due on gateway_webhooks (next_attempt_at) where deleted_at is null`);
      await tx.query(`
        create table if not exists gateway_webhook_dead_letters (
          id bigserial primary key,
          webhook_id text not null references gateway_webhooks (id),
          event_id text not null,
          position text not null,
          type text not null,
          body text not null,
          attempts int not null,
          last_error text,
          dead_at timestamptz not null,
          redelivered_at timestamptz
        )`);
      await tx.query(`create index if not exists gateway_webhook_dead_letters_hook on gateway_webhook_dead_letters (webhook_id, id)`);
    });
  }

  /** Registers a webhook for `department`, within its grants; it starts after `after` (default: the start of the log). */
  async register(
    department: string,
    grants: Grants,
    input: { url: string; secret: string; families?: readonly string[]; regions?: readonly string[]; after?: LogPosition },
  ): Promise<Webhook> {
    checkWebhookUrl(input.url, this.options.egress);
    const filter = filterWithin(grants, input, "body");
    const now = this.options.clock.now();
    const { rows } = await this.options.sql.query<WebhookRow>(
      `insert into gateway_webhooks (id, department, url, families, regions, secret, created_at, checkpoint, next_attempt_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $7) returning ${WEBHOOK_COLUMNS}`,
      [
        randomUUID(),
        department,
        input.url,
        filter.families,
        filter.regions,
        input.secret,
        now,
        input.after ? formatPosition(input.after) : null,
      ],
    );
    return toWebhook(rows[0]!);
  }

  async list(department: string): Promise<Webhook[]> {
    const { rows } = await this.options.sql.query<WebhookRow>(
      `select ${WEBHOOK_COLUMNS} from gateway_webhooks where department = $1 and deleted_at is null order by created_at, id`,
      [department],
    );
    return rows.map(toWebhook);
  }

  /** One of the department's webhooks; another department's is "not found", never "forbidden", so ids do not leak. */
  async get(department: string, id: string): Promise<Webhook> {
    return toWebhook(await this.row(department, id));
  }

  async remove(department: string, id: string): Promise<void> {
    const { rowCount } = await this.options.sql.query(
      `update gateway_webhooks set deleted_at = $3 where id = $1 and department = $2 and deleted_at is null`,
      [id, department, this.options.clock.now()],
    );
    if (rowCount === 0) throw new NotFoundError(`no webhook ${id}`);
  }

  async deadLetters(department: string, id: string): Promise<DeadLetter[]> {
    await this.row(department, id);
    const { rows } = await this.options.sql.query<DeadRow>(
      `select ${DEAD_COLUMNS} from gateway_webhook_dead_letters where webhook_id = $1 order by id`,
      [id],
    );
    return rows.map(toDeadLetter);
  }

  /** Sends a dead-lettered event again, now; the dead letter is marked redelivered when the receiver accepts it. */
  async redeliver(
    department: string,
    grants: Grants,
    webhookId: string,
    deadLetterId: string,
  ): Promise<{ delivered: boolean; error?: string }> {
    const hook = await this.row(department, webhookId);
    const { rows } = await this.options.sql.query<DeadRow & { body: string }>(
      `select ${DEAD_COLUMNS}, body from gateway_webhook_dead_letters where webhook_id = $1 and id = $2`,
      [webhookId, /^\d+$/.test(deadLetterId) ? deadLetterId : "0"],
    );
    const dead = rows[0];
    if (!dead) throw new NotFoundError(`no dead letter ${deadLetterId} on webhook ${webhookId}`);
    // The body was rendered under the grants of its time: check they still allow it.
    if (isContractEvent(dead.type) && !grants.subscribe.families.includes(catalog[dead.type].family)) {
      throw new ForbiddenError(
        `no subscribe grant for family ${catalog[dead.type].family}: it lacks subscribe:${catalog[dead.type].family}`,
        `subscribe:${catalog[dead.type].family}`,
      );
    }
    const body = JSON.parse(dead.body) as { pii?: string; data?: unknown };
    // The region as delivery saw it (filter.ts); masked or absent → no region, which only "*" covers (fails closed).
    const region = regionOf(body.data);
    if (!regionCovered(grants.subscribe.regions, region)) {
      const grant = `subscribe:${isContractEvent(dead.type) ? catalog[dead.type].family : "*"}@${region ?? "*"}`;
      throw new ForbiddenError(`no subscribe grant for region ${region ?? '(none: only "*" covers it)'}: it lacks ${grant}`, grant);
    }
    if (body.pii === "clear" && !grants.pii) {
      throw new ForbiddenError("the dead letter holds personal data in clear and the department no longer has the pii grant", "pii");
    }
    await this.options.accessLog.record([
      { department, action: "delivery.webhook", resource: webhookId, detail: { events: [dead.event_id], redelivery: deadLetterId } },
    ]);
    const result = await this.post(hook, dead.body, dead.event_id, dead.type, Number(dead.attempts) + 1);
    if (result.ok) {
      await this.options.sql.query(`update gateway_webhook_dead_letters set redelivered_at = $2 where id = $1`, [
        dead.id,
        this.options.clock.now(),
      ]);
      return { delivered: true };
    }
    return { delivered: false, error: result.error };
  }

  /** Delivers what is due now on the clock, webhook by webhook; returns what happened. */
  async deliverDue(): Promise<DeliveryRunReport> {
    const report = { delivered: 0, failed: 0, deadLettered: 0 };
    const done: string[] = [];
    for (;;) {
      const hook = await this.lease(done);
      if (!hook) return report;
      done.push(hook.id);
      try {
        await this.deliverTo(hook, report);
      } finally {
        await this.options.sql.query(
          `update gateway_webhooks set lease_owner = null, lease_until = null where id = $1 and lease_owner = $2`,
          [hook.id, this.owner],
        );
      }
    }
  }

  private async lease(skip: readonly string[]): Promise<WebhookRow | undefined> {
    // Due-ness is business time (retries follow the injected clock); the lease is the database's time.
    const now = this.options.clock.now();
    const leaseMs = 2 * this.timeoutMs * (this.options.maxPerRun ?? 500);
    return this.options.sql.transaction(async (tx) => {
      const { rows } = await tx.query<WebhookRow>(
        `select ${WEBHOOK_COLUMNS} from gateway_webhooks
          where deleted_at is null and next_attempt_at <= $1 and (lease_until is null or lease_until <= clock_timestamp()) and not (id = any($2::text[]))
          order by next_attempt_at, id limit 1 for update skip locked`,
        [now, skip],
      );
      const row = rows[0];
      if (row) {
        await tx.query(
          `update gateway_webhooks set lease_owner = $2, lease_until = clock_timestamp() + make_interval(secs => $3) where id = $1`,
          [row.id, this.owner, leaseMs / 1000],
        );
      }
      return row;
    });
  }

  private async deliverTo(hook: WebhookRow, report: { delivered: number; failed: number; deadLettered: number }): Promise<void> {
    const grants = await this.options.grantsOf(hook.department);
    if (!grants) return; // an unknown department: deliver nothing until the registry knows it again
    const filter = narrowed(hook, grants);
    if (!filter) return;
    let checkpoint = hook.checkpoint ? parsePosition(hook.checkpoint) : undefined;
    let attempts = hook.attempts;
    let budget = this.options.maxPerRun ?? 500;
    // False when the lease is no longer ours (expired and taken over): the caller stops delivering.
    const save = async (extra: { attempts: number; nextAttemptAt: Date; lastError: string | null }): Promise<boolean> => {
      const { rowCount } = await this.options.sql.query(
        `update gateway_webhooks set checkpoint = $2, attempts = $3, next_attempt_at = $4, last_error = $5 where id = $1 and lease_owner = $6`,
        [hook.id, checkpoint ? formatPosition(checkpoint) : null, extra.attempts, extra.nextAttemptAt, extra.lastError, this.owner],
      );
      return rowCount !== 0;
    };

    while (budget > 0) {
      const events = await this.options.store.readAll({ ...(checkpoint ? { after: checkpoint } : {}), maxCount: Math.min(budget, 100) });
      if (events.length === 0) break;
      for (const event of events) {
        if (!matches(filter, event)) {
          checkpoint = event.position;
          continue;
        }
        budget -= 1;
        const r = render(event, this.options.pii, grants.pii);
        const entries: AccessEntry[] = [
          {
            department: hook.department,
            action: "delivery.webhook",
            resource: hook.id,
            detail: { events: [event.id], attempt: attempts + 1, pii: r.treatment },
          },
        ];
        if (r.treatment === "clear" && r.piiPaths.length > 0) {
          entries.push({
            department: hook.department,
            action: "pii.read",
            resource: hook.id,
            detail: { events: [{ event: event.id, paths: r.piiPaths }] },
          });
        }
        await this.options.accessLog.record(entries);
        const result = await this.post(hook, r.json, event.id, event.type, attempts + 1);
        if (result.ok) {
          report.delivered += 1;
          checkpoint = event.position;
          attempts = 0;
          if (!(await save({ attempts: 0, nextAttemptAt: this.options.clock.now(), lastError: null }))) return;
          continue;
        }
        report.failed += 1;
        attempts += 1;
        if (attempts < this.maxAttempts) {
          await save({
            attempts,
            nextAttemptAt: new Date(this.options.clock.now().getTime() + this.delayAfter(attempts)),
            lastError: result.error,
          });
          return;
        }
        const kept = await this.options.sql.transaction(async (tx) => {
          // Checked first, under the row lock: a worker that lost the lease writes no dead letter.
          const { rowCount } = await tx.query(
            `update gateway_webhooks set checkpoint = $2, attempts = 0, next_attempt_at = $3, last_error = $4 where id = $1 and lease_owner = $5`,
            [hook.id, formatPosition(event.position), this.options.clock.now(), result.error, this.owner],
          );
          if (rowCount === 0) return false;
          await tx.query(
            `insert into gateway_webhook_dead_letters (webhook_id, event_id, position, type, body, attempts, last_error, dead_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8)`,
            [hook.id, event.id, formatPosition(event.position), event.type, r.json, attempts, result.error, this.options.clock.now()],
          );
          return true;
        });
        if (!kept) return;
        report.deadLettered += 1;
        checkpoint = event.position;
        attempts = 0;
      }
    }
    await save({ attempts, nextAttemptAt: this.options.clock.now(), lastError: attempts > 0 ? hook.last_error : null });
  }

  /** Exponential: base, 2·base, 4·base … capped at maxDelayMs. */
  delayAfter(attempts: number): number {
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  }

  private async post(
    hook: WebhookRow,
    body: string,
    eventId: string,
    type: string,
    attempt: number,
  ): Promise<{ ok: true } | { ok: false; error: string }> {
    const t = Math.floor(this.options.clock.now().getTime() / 1000);
    try {
      const url = new URL(hook.url);
      if (!literalAllowed(url, this.options.egress))
        return { ok: false, error: `${url.hostname} is not a public address: webhook refused (allowPrivateNetworks is off)` };
      const res = await fetch(url, {
        dispatcher: this.agent,
        method: "POST",
        headers: {
          "content-type": "application/json",
          [SIGNATURE_HEADER]: signWebhook(hook.secret, body, t),
          "x-shenguan-event-id": eventId,
          "x-shenguan-event-type": type,
          "x-shenguan-webhook-id": hook.id,
          "x-shenguan-attempt": String(attempt),
        },
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      await res.body?.cancel().catch(() => {});
      return res.ok ? { ok: true } : { ok: false, error: `HTTP ${res.status}` };
    } catch (err) {
      // undici reports a refused lookup as the cause of "fetch failed": the cause says why.
      const cause = (err as { cause?: unknown }).cause;
      return { ok: false, error: cause instanceof Error ? `${(err as Error).message}: ${cause.message}` : (err as Error).message };
    }
  }

  /** Closes the HTTP client's connections. */
  async close(): Promise<void> {
    await this.agent.close();
  }

  private async row(department: string, id: string): Promise<WebhookRow> {
    const { rows } = await this.options.sql.query<WebhookRow>(
      `select ${WEBHOOK_COLUMNS} from gateway_webhooks where id = $1 and department = $2 and deleted_at is null`,
      [id, department],
    );
    if (!rows[0]) throw new NotFoundError(`no webhook ${id}`);
    return rows[0];
  }
}

/** The registered filter, narrowed to what the department may read today; undefined when nothing is left. */
function narrowed(hook: WebhookRow, grants: Grants): DeliveryFilter | undefined {
  const families = hook.families.filter((f) => grants.subscribe.families.includes(f)) as Family[];
  const regions = hook.regions.filter((r) =>
    r === "*" ? grants.subscribe.regions.includes("*") : regionCovered(grants.subscribe.regions, r),
  );
  return families.length > 0 && regions.length > 0 ? { families, regions } : undefined;
}

interface DeadRow {
  id: string | number;
  webhook_id: string;
  event_id: string;
  position: string;
  type: string;
  attempts: number;
  last_error: string | null;
  dead_at: Date | string;
  redelivered_at: Date | string | null;
}

const DEAD_COLUMNS = "id, webhook_id, event_id, position, type, attempts, last_error, dead_at, redelivered_at";

function iso(d: Date | string): string {
  return new Date(d).toISOString();
}

function toWebhook(r: WebhookRow): Webhook {
  return {
    id: r.id,
    department: r.department,
    url: r.url,
    families: r.families as Family[],
    regions: r.regions,
    createdAt: iso(r.created_at),
    checkpoint: r.checkpoint,
    attempts: r.attempts,
    nextAttemptAt: iso(r.next_attempt_at),
    lastError: r.last_error,
  };
}

function toDeadLetter(r: DeadRow): DeadLetter {
  return {
    id: String(r.id),
    webhookId: r.webhook_id,
    eventId: r.event_id,
    position: r.position,
    type: r.type,
    attempts: r.attempts,
    lastError: r.last_error,
    deadAt: iso(r.dead_at),
    redeliveredAt: r.redelivered_at === null ? null : iso(r.redelivered_at),
  };
}
