import { createHash } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { ContractViolationError } from "@shenguan/contracts";
import { GroupCommit } from "@shenguan/eventstore";
import { IdempotencyInProgressError, IdempotencyKeyReusedError } from "./errors.js";

import { problemOf } from "./problems.js";

/** Anything that runs SQL with positional parameters and returns rows: a pg Pool, a PGlite, a transaction. */
export interface Queryable {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

export const IDEMPOTENCY_HEADER = "idempotency-key";

/**
 * How long a key is remembered by default: two weeks, so that a department's
 * system that was down over a week-long holiday break (National Day) and
 * retries afterwards still gets its first answer.
 */
export const DEFAULT_IDEMPOTENCY_RETAIN_SECONDS = 14 * 86_400;

/** Rows one statement of forgetExpired deletes at most. */
const FORGET_BATCH = 5_000;

export interface StoredResponse {
  readonly status: number;
  readonly body: unknown;
}

/**
 * Client-supplied idempotency keys (the IETF Idempotency-Key header): the
 * first request with a key runs; a retry with the same key and body gets the
 * first response and changes nothing; the same key with another body is an
 * error. Keys are scoped per department. Refusals (4xx) are remembered like
 * successes, since retrying cannot change them; failures (5xx) are forgotten
 * so the client can retry. A key is remembered for retainSeconds after its
 * claim (two weeks by default) and then forgotten by a sweep that claiming
 * starts now and then; a retry after that runs again, and the deciders make a
 * repeated command a no-op or a refusal, never a double.
 */
export class IdempotencyKeys {
  /**
   * Claims and answers of concurrent commands go to the database together
   * (group commit): at a thousand commands a second the two statements per
   * command are most of a service's round trips.
   */
  readonly #claims: GroupCommit<{ readonly department: string; readonly key: string; readonly hash: string }, boolean>;
  readonly #answers: GroupCommit<{ readonly department: string; readonly key: string; readonly response: StoredResponse }, void>;

  /** How long a first attempt may run before a retry takes the key over. */
  private readonly abandonAfterSeconds: number;
  /** How long a key is remembered (from its claim); a retry after that runs as a new request. */
  private readonly retainSeconds: number;
  private readonly forgetEveryMs: number;
  #forgetting: Promise<void> | undefined;
  #lastForget = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly db: Queryable,
    options: {
      readonly abandonAfterSeconds?: number;
      /** Default DEFAULT_IDEMPOTENCY_RETAIN_SECONDS. */
      readonly retainSeconds?: number;
      /** How often claiming also forgets expired keys (default hourly; 0: at every claim group). */
      readonly forgetEverySeconds?: number;
    } = {},
  ) {
    this.abandonAfterSeconds = options.abandonAfterSeconds ?? 60;
    this.retainSeconds = options.retainSeconds ?? DEFAULT_IDEMPOTENCY_RETAIN_SECONDS;
    this.forgetEveryMs = (options.forgetEverySeconds ?? 3_600) * 1000;
    if (!(this.retainSeconds > this.abandonAfterSeconds))
      throw new RangeError(
        `retainSeconds must be longer than abandonAfterSeconds (${this.abandonAfterSeconds}), got ${this.retainSeconds}`,
      );
    this.#claims = new GroupCommit(async (claims) => {
      this.#forgetIfDue();
      // A key twice in one group: only its first claim may win (ON CONFLICT DO NOTHING would skip the
      // second row silently, and both callers would think they had it).
      const id = (c: { readonly department: string; readonly key: string }) => `${c.department}\u0000${c.key}`;
      const first = new Map<string, number>();
      claims.forEach((c, i) => first.has(id(c)) || first.set(id(c), i));
      const rows = [...first.values()].map((i) => claims[i]!);
      const { rows: won } = await this.db.query<{ department: string; key: string }>(
        `insert into idempotency_keys (department, key, request_hash)
         select * from unnest($1::text[], $2::text[], $3::text[]) on conflict do nothing returning department, key`,
        [rows.map((c) => c.department), rows.map((c) => c.key), rows.map((c) => c.hash)],
      );
      const claimed = new Set(won.map(id));
      return claims.map((c, i) => first.get(id(c)) === i && claimed.has(id(c)));
    });
    this.#answers = new GroupCommit(async (answers) => {
      await this.db.query(
        `update idempotency_keys k set status = a.status, body = a.body
           from unnest($1::text[], $2::text[], $3::int[], $4::jsonb[]) as a(department, key, status, body)
          where k.department = a.department and k.key = a.key`,
        [
          answers.map((a) => a.department),
          answers.map((a) => a.key),
          answers.map((a) => a.response.status),
          answers.map((a) => JSON.stringify(a.response.body)),
        ],
      );
      return answers.map(() => undefined);
    });
  }

  /**
   * Deletes the keys claimed longer than retainSeconds ago, in batches, and
   * says how many. Without it the table (answers included) would grow with
   * every command for ever. A row taken over or answered while a batch is
   * deleted is a new row version the statement no longer matches: kept.
   */
  async forgetExpired(): Promise<number> {
    let forgotten = 0;
    for (;;) {
      const { rows } = await this.db.query<{ n: number }>(
        `with gone as (
           delete from idempotency_keys where ctid = any(array(
             select ctid from idempotency_keys where created_at < now() - make_interval(secs => $1) limit $2))
           returning 1)
         select count(*)::int as n from gone`,
        [this.retainSeconds, FORGET_BATCH],
      );
      forgotten += rows[0]!.n;
      if (rows[0]!.n < FORGET_BATCH) return forgotten;
    }
  }

  /** The sweep claiming started, if one is running (tests wait for it). */
  forgetting(): Promise<void> {
    return this.#forgetting ?? Promise.resolve();
  }

  /** Claims come with traffic, which is when keys accumulate: a sweep at most every forgetEveryMs, off the request's path. */
  #forgetIfDue(): void {
    const now = performance.now();
    if (this.#forgetting || now - this.#lastForget < this.forgetEveryMs) return;
    this.#lastForget = now;
    this.#forgetting = this.forgetExpired()
      // A failed sweep only keeps keys longer; the next interval tries again.
      .catch(() => 0)
      .then(() => void (this.#forgetting = undefined));
  }

  async migrate(): Promise<void> {
    await this.db.query(`
      create table if not exists idempotency_keys (
        department text not null,
        key text not null,
        request_hash text not null,
        status int,
        body jsonb,
        created_at timestamptz not null default now(),
        primary key (department, key)
      )`);
  }

  async run(
    department: string,
    key: string,
    request: unknown,
    execute: () => Promise<StoredResponse>,
  ): Promise<StoredResponse & { replayed: boolean }> {
    const hash = createHash("sha256")
      .update(JSON.stringify(request ?? null))
      .digest("hex");
    if (!(await this.#claims.submit({ department, key, hash }))) {
      const { rows } = await this.db.query<{ request_hash: string; status: number | null; body: unknown }>(
        `select request_hash, status, body from idempotency_keys where department = $1 and key = $2`,
        [department, key],
      );
      const first = rows[0];
      if (first && first.request_hash !== hash) {
        throw new IdempotencyKeyReusedError(`idempotency key ${key} was first used with a different request`);
      }
      if (first && first.status !== null) return { status: first.status, body: first.body, replayed: true };
      // A first attempt that never finished (its process died between claiming
      // the key and storing the answer) is taken over after a while; the
      // deciders make a repeated command a no-op or a refusal, never a double.
      const takenOver = await this.db.query(
        `update idempotency_keys set created_at = now()
          where department = $1 and key = $2 and status is null and created_at < now() - make_interval(secs => $3)
          returning key`,
        [department, key, this.abandonAfterSeconds],
      );
      if (takenOver.rows.length === 0) throw new IdempotencyInProgressError(`the request with idempotency key ${key} is still running`);
    }
    let response: StoredResponse;
    try {
      response = await execute();
    } catch (err) {
      const p = problemOf(err);
      if (p.status >= 500) {
        await this.db.query(`delete from idempotency_keys where department = $1 and key = $2`, [department, key]);
        throw err;
      }
      response = { status: p.status, body: p };
    }
    await this.#answers.submit({ department, key, response });
    return { ...response, replayed: false };
  }
}

/** The key of a command request; every command route requires one. */
export function idempotencyKeyOf(request: FastifyRequest): string {
  const raw = request.headers[IDEMPOTENCY_HEADER];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (!value || value.length > 200) {
    throw new ContractViolationError("request headers", [
      {
        path: IDEMPOTENCY_HEADER,
        rule: "required",
        message: `header ${IDEMPOTENCY_HEADER} is required on commands (1-200 characters, e.g. a UUID)`,
      },
    ]);
  }
  return value;
}
