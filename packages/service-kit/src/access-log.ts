import { ContractViolationError } from "@shenguan/contracts";
import { GroupCommit, toBigInt, type SqlExecutor, type SqlQueryable } from "@shenguan/eventstore";
import { canonicalBytes, canonicalize, CanonicalFormError, GENESIS_HASH, sm3 } from "@shenguan/evidence";
import type { Clock } from "./clock.js";

/**
 * What was done with the bus's data, by whom: the X-Road message log's
 * counterpart for reads. Known actions are listed for autocompletion; others
 * are allowed so a new kind of access never waits for a release of this file.
 */
export type AccessAction =
  "pii.read" | "pii.decrypt" | "delivery.sse" | "delivery.webhook" | "audit.query" | "registry.change" | (string & {});

export interface AccessEntry {
  /** The department that read, received or changed something. */
  readonly department: string;
  readonly action: AccessAction;
  /** What it touched: an event id, a webhook id, a stream, a department code. */
  readonly resource: string;
  /** Why and which parts (event ids, PII paths, query): plain JSON. */
  readonly detail?: Readonly<Record<string, unknown>>;
  /** Defaults to the log's clock. */
  readonly at?: Date;
}

export interface AccessRecord {
  readonly id: bigint;
  readonly at: Date;
  readonly department: string;
  readonly action: string;
  readonly resource: string;
  readonly detail: Record<string, unknown>;
  /** Hex SM3 of the previous row (the genesis hash, 64 zeros, before the first). */
  readonly prevHash: string;
  readonly hash: string;
}

export interface AccessLogFilter {
  readonly department?: string;
  readonly action?: string;
  readonly resource?: string;
  /** Inclusive lower bound on `at`. */
  readonly from?: Date;
  /** Exclusive upper bound on `at`. */
  readonly to?: Date;
  /** Rows with an id greater than this one: the page after the last row seen. */
  readonly afterId?: bigint;
  /** At most this many rows (default 100, at most 10,000). */
  readonly limit?: number;
}

export type AccessLogVerification =
  | { readonly ok: true; readonly checked: number; readonly head: string }
  | {
      readonly ok: false;
      readonly checked: number;
      /** The first row that does not hold, or the head when rows are missing at the end. */
      readonly brokenAt: bigint;
      readonly reason: "hash" | "prev_hash" | "gap" | "head";
      readonly detail: string;
    };

const MAX_LIST = 10_000;
const VERIFY_PAGE = 1_000;
// One advisory lock key per purpose: "shenguan access_log" folded into 32 bits.
const MIGRATE_LOCK = 0x5a6e_a10c;

/**
 * The access log: an append-only PostgreSQL table (also on PGlite) in which
 * every row carries the SM3 of the row before it.
 *
 * Two defences, for two kinds of attacker. Triggers refuse UPDATE, DELETE and
 * TRUNCATE, so no API and no ordinary role can change history. A superuser can
 * disable triggers; the chain is for that case: `verify()` recomputes every
 * hash and names the first row that was edited, removed or inserted out of
 * turn, and the head row (the last id and hash, updated in the same
 * transaction as each insert) catches rows cut off the end.
 *
 * Writers serialise on the head row (`select … for update`), so concurrent
 * gateways keep one chain; a batch of entries costs one lock and one insert.
 */
export class AccessLog {
  constructor(
    private readonly sql: SqlExecutor,
    private readonly clock: Clock = { now: () => new Date() },
  ) {}

  async migrate(): Promise<void> {
    await this.sql.transaction(async (tx) => {
      // DDL is not safe to race (create table if not exists can still collide in the catalog).
      await tx.query(`select pg_advisory_xact_lock(${MIGRATE_LOCK})`);
      await tx.query(`
        create table if not exists access_log (
          id bigint primary key,
          at timestamptz not null,
          department text not null,
          action text not null,
          resource text not null,
          detail jsonb not null,
          prev_hash text not null,
          hash text not null
        )`);
      await tx.query(`create index if not exists access_log_department_at on access_log (department, at)`);
      await tx.query(`
        create table if not exists access_log_head (
          singleton boolean primary key default true check (singleton),
          last_id bigint not null,
          hash text not null
        )`);
      await tx.query(`insert into access_log_head (last_id, hash) values (0, '${GENESIS_HASH}') on conflict do nothing`);
      await tx.query(`
        create or replace function access_log_refuse() returns trigger language plpgsql as $$
        begin
          raise exception 'access_log is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
        end $$`);
      await tx.query(
        `create or replace trigger access_log_no_change before update or delete on access_log for each row execute function access_log_refuse()`,
      );
      await tx.query(
        `create or replace trigger access_log_no_truncate before truncate on access_log for each statement execute function access_log_refuse()`,
      );
    });
  }

  /** Callers waiting for the next write: their entries (checked, detail canonical), in arrival order. */
  readonly #group = new GroupCommit<readonly CheckedEntry[], AccessRecord[]>(async (calls) => {
    const records = await this.#write(calls.flat());
    let at = 0;
    return calls.map((entries) => records.slice(at, (at += entries.length)));
  });

  /**
   * Appends the entries in order, chained; resolves with the stored rows once
   * they are committed. Group commit: calls that arrive while a write is in
   * flight go together in the next transaction, so twenty SSE streams cost one
   * lock on the chain's head per round, not twenty (each waiting on the
   * others, holding a pool connection). Entries are checked before they join
   * a batch (a caller's bad entry is refused to that caller at once); if a
   * batch still fails, its calls are written again one by one, so only the
   * call that cannot be written fails.
   */
  async record(entries: readonly AccessEntry[]): Promise<AccessRecord[]> {
    if (entries.length === 0) return [];
    const checked = entries.map(checkEntry);
    return this.#group.submit(checked);
  }

  /** One transaction whatever the count: lock the head, chain the rows, insert them, move the head. */
  async #write(entries: readonly CheckedEntry[]): Promise<AccessRecord[]> {
    const now = this.clock.now();
    return this.sql.transaction(async (tx) => {
      const { rows } = await tx.query<{ last_id: unknown; hash: string }>(`select last_id, hash from access_log_head for update`);
      const head = rows[0];
      if (!head) throw new Error("access_log_head is missing: run AccessLog.migrate()");
      let id = toBigInt(head.last_id);
      let prevHash = head.hash;
      const records: AccessRecord[] = entries.map((e) => {
        id += 1n;
        const row = {
          id,
          at: new Date(e.at ?? now),
          department: e.department,
          action: e.action,
          resource: e.resource,
          // Normalised once (checkEntry), so what is hashed, stored and read back is the same JSON.
          detail: e.detail,
          prevHash,
        };
        const record = { ...row, hash: accessLogHash(row) };
        prevHash = record.hash;
        return record;
      });
      await insertRows(tx, records);
      await tx.query(`update access_log_head set last_id = $1, hash = $2`, [String(id), prevHash]);
      return records;
    });
  }

  async list(filter: AccessLogFilter = {}): Promise<AccessRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, value: unknown) => {
      params.push(value);
      where.push(clause.replace("?", `$${params.length}`));
    };
    if (filter.department !== undefined) add("department = ?", filter.department);
    if (filter.action !== undefined) add("action = ?", filter.action);
    if (filter.resource !== undefined) add("resource = ?", filter.resource);
    if (filter.from !== undefined) add("at >= ?", filter.from);
    if (filter.to !== undefined) add("at < ?", filter.to);
    if (filter.afterId !== undefined) add("id > ?", String(filter.afterId));
    const limit = filter.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) {
      throw new ContractViolationError("access log filter", [
        { path: "limit", rule: "range", message: `limit must be an integer from 1 to ${MAX_LIST}, got ${limit}` },
      ]);
    }
    const { rows } = await this.sql.query<Row>(
      `select ${COLUMNS} from access_log ${where.length ? `where ${where.join(" and ")}` : ""} order by id limit ${limit}`,
      params,
    );
    return rows.map(fromRow);
  }

  /** Recomputes the whole chain from the first row; stops at the first row that does not hold. */
  async verify(): Promise<AccessLogVerification> {
    let prevHash = GENESIS_HASH;
    let expectedId = 1n;
    let checked = 0;
    for (;;) {
      const { rows } = await this.sql.query<Row>(`select ${COLUMNS} from access_log where id >= $1 order by id limit ${VERIFY_PAGE}`, [
        String(expectedId),
      ]);
      for (const row of rows.map(fromRow)) {
        if (row.id !== expectedId) {
          return { ok: false, checked, brokenAt: row.id, reason: "gap", detail: `row ${expectedId} is missing before row ${row.id}` };
        }
        if (row.prevHash !== prevHash) {
          return {
            ok: false,
            checked,
            brokenAt: row.id,
            reason: "prev_hash",
            detail: `row ${row.id} does not follow the hash of row ${row.id - 1n}`,
          };
        }
        if (accessLogHash(row) !== row.hash) {
          return { ok: false, checked, brokenAt: row.id, reason: "hash", detail: `row ${row.id} was changed after it was written` };
        }
        prevHash = row.hash;
        expectedId += 1n;
        checked += 1;
      }
      if (rows.length < VERIFY_PAGE) break;
    }
    const { rows: heads } = await this.sql.query<{ last_id: unknown; hash: string }>(`select last_id, hash from access_log_head`);
    const head = heads[0];
    const lastId = expectedId - 1n;
    if (!head || toBigInt(head.last_id) !== lastId || head.hash !== prevHash) {
      return {
        ok: false,
        checked,
        brokenAt: lastId + 1n,
        reason: "head",
        detail: head
          ? `the log ends at row ${lastId} but its head says ${toBigInt(head.last_id)}: rows were removed from the end`
          : "the head row is missing",
      };
    }
    return { ok: true, checked, head: prevHash };
  }
}

interface Row {
  id: unknown;
  at: Date | string;
  department: string;
  action: string;
  resource: string;
  detail: Record<string, unknown> | string;
  prev_hash: string;
  hash: string;
}

const COLUMNS = "id, at, department, action, resource, detail, prev_hash, hash";

function fromRow(r: Row): AccessRecord {
  return {
    id: toBigInt(r.id),
    at: new Date(r.at),
    department: r.department,
    action: r.action,
    resource: r.resource,
    detail: typeof r.detail === "string" ? (JSON.parse(r.detail) as Record<string, unknown>) : r.detail,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

/**
 * A row's hash, for anyone re-checking an exported log: SM3(prev_hash bytes ‖ RFC 8785 canonical JSON of the row). The canonical
 * form survives the jsonb round trip (key order, whitespace), so the hash is
 * recomputed from what the database gives back. `at` keeps milliseconds only,
 * the precision the writer had.
 */
export function accessLogHash(row: Omit<AccessRecord, "hash">): string {
  const canonical = canonicalBytes({
    id: String(row.id),
    at: row.at.toISOString(),
    department: row.department,
    action: row.action,
    resource: row.resource,
    detail: row.detail,
  });
  return sm3(Buffer.from(row.prevHash, "hex"), canonical).toString("hex");
}

async function insertRows(tx: SqlQueryable, records: readonly AccessRecord[]): Promise<void> {
  // One statement for the batch: arrays unnested side by side.
  await tx.query(
    `insert into access_log (id, at, department, action, resource, detail, prev_hash, hash)
     select * from unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::text[], $8::text[])`,
    [
      records.map((r) => String(r.id)),
      records.map((r) => r.at.toISOString()),
      records.map((r) => r.department),
      records.map((r) => r.action),
      records.map((r) => r.resource),
      records.map((r) => JSON.stringify(r.detail)),
      records.map((r) => r.prevHash),
      records.map((r) => r.hash),
    ],
  );
}

// In a `u` regex only a lone surrogate can match \p{Surrogate} (a pair reads as one code point).
const LONE_SURROGATE = /\p{Surrogate}/u;

/** An entry as queued: checked, its detail in canonical JSON form. */
interface CheckedEntry extends AccessEntry {
  readonly detail: Record<string, unknown>;
}

/** The path of the first string (key or value) holding NUL, which PostgreSQL's text and jsonb refuse. */
function nulPath(value: unknown, path: string): string | undefined {
  if (typeof value === "string") return value.includes("\u0000") ? path : undefined;
  if (value === null || typeof value !== "object") return undefined;
  for (const [key, inner] of Object.entries(value)) {
    const at = `${path}.${key.replaceAll("\u0000", "\\u0000")}`;
    if (key.includes("\u0000")) return at;
    const found = nulPath(inner, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Refuses, before the entry joins a group commit, what the database or the
 * hash would refuse later (and so fail every caller in the batch): empty or
 * NUL-bearing text, strings with lone surrogates, a detail with no canonical
 * JSON form or not a JSON object, an invalid date.
 */
function checkEntry(e: AccessEntry, i: number): CheckedEntry {
  const issues: Array<{ path: string; rule: string; message: string }> = [];
  for (const k of ["department", "action", "resource"] as const) {
    const v: unknown = e[k];
    const path = `entries.${i}.${k}`;
    if (typeof v !== "string" || v.length === 0) issues.push({ path, rule: "required", message: `${k} must be a non-empty string` });
    else if (v.includes("\u0000"))
      issues.push({ path, rule: "no-nul", message: `${k} must not contain NUL (\\u0000): PostgreSQL refuses it` });
    else if (LONE_SURROGATE.test(v)) issues.push({ path, rule: "well-formed", message: `${k} must not contain a lone surrogate` });
  }
  if (e.at !== undefined && Number.isNaN(new Date(e.at).getTime())) {
    issues.push({ path: `entries.${i}.at`, rule: "date", message: "at must be a valid date" });
  }
  let detail: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(canonicalize(e.detail ?? {}));
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      issues.push({ path: `entries.${i}.detail`, rule: "object", message: "detail must be a JSON object" });
    } else {
      detail = parsed as Record<string, unknown>;
      const nul = nulPath(detail, `entries.${i}.detail`);
      if (nul !== undefined)
        issues.push({ path: nul, rule: "no-nul", message: `${nul} must not contain NUL (\\u0000): PostgreSQL refuses it in jsonb` });
    }
  } catch (error) {
    if (!(error instanceof CanonicalFormError)) throw error;
    // The message names the spot as "$…": give it the entry's path.
    issues.push({
      path: `entries.${i}.detail`,
      rule: "canonical-json",
      message: `detail has no canonical JSON form: ${error.message.replace(/^\$/, `entries.${i}.detail`)}`,
    });
  }
  if (issues.length > 0) throw new ContractViolationError("access log entry", issues);
  return { ...e, detail };
}
