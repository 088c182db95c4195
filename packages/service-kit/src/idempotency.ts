import { createHash } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { ContractViolationError } from "@shenguan/contracts";
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
  constructor(
    private readonly db: Queryable,
    /** How long a first attempt may run before a retry takes the key over. */
    private readonly abandonAfterSeconds = 60,
  ) {}

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

  async run(department: string, key: string, request: unknown, execute: () => Promise<StoredResponse>): Promise<StoredResponse & { replayed: boolean }> {
    const hash = createHash("sha256").update(JSON.stringify(request ?? null)).digest("hex");
    const claimed = await this.db.query(
      `insert into idempotency_keys (department, key, request_hash) values ($1, $2, $3) on conflict do nothing returning key`,
      [department, key, hash],
    );
    if (claimed.rows.length === 0) {
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
    await this.db.query(`update idempotency_keys set status = $3, body = $4 where department = $1 and key = $2`, [
      department,
      key,
      response.status,
      JSON.stringify(response.body),
    ]);
    return { ...response, replayed: false };
  }
}

/** The key of a command request; every command route requires one. */
export function idempotencyKeyOf(request: FastifyRequest): string {
  const raw = request.headers[IDEMPOTENCY_HEADER];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (!value || value.length > 200) {
    throw new ContractViolationError("request headers", [
      { path: IDEMPOTENCY_HEADER, rule: "required", message: `header ${IDEMPOTENCY_HEADER} is required on commands (1-200 characters, e.g. a UUID)` },
    ]);
  }
  return value;
}
