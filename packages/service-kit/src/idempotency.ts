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
 * so the client can retry.
 */
export class IdempotencyKeys {
  /**
   * Claims and answers of concurrent commands go to the database together
   * (group commit): at a thousand commands a second the two statements per
   * command are most of a service's round trips.
   */
  readonly #claims: GroupCommit<{ readonly department: string; readonly key: string; readonly hash: string }, boolean>;
  readonly #answers: GroupCommit<{ readonly department: string; readonly key: string; readonly response: StoredResponse }, void>;

  constructor(
    private readonly db: Queryable,
    /** How long a first attempt may run before a retry takes the key over. */
    private readonly abandonAfterSeconds = 60,
  ) {
    this.#claims = new GroupCommit(async (claims) => {
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
