import pg from "pg";
import type { PGlite, Transaction } from "@electric-sql/pglite";
import { StoreUnavailableError } from "../errors.js";

/**
 * The smallest surface the PostgreSQL adapter needs, so the same SQL runs on
 * node-postgres and on PGlite. Services reuse it for read models and
 * checkpoints in the same database as the event store.
 *
 * Values come back as each driver parses them: int8 is a string on
 * node-postgres and a number or bigint on PGlite, so read them through
 * `toBigInt` (or select them as text) to stay driver-independent.
 */
export interface SqlResult<Row> {
  readonly rows: Row[];
  /** Rows inserted, updated or deleted (0 for a plain select on PGlite). */
  readonly rowCount: number;
}

/** Writes as WITH queries (`name as (…)`, comma-separated) over parameters $1…$n of `params`, for another statement to run. */
export interface WithQueries {
  readonly with: string;
  readonly params: readonly unknown[];
}

export interface SqlQueryable {
  /** One statement with `$n` parameters; errors that mean "the database is out of reach" become StoreUnavailableError. */
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<SqlResult<Row>>;
}

export interface SqlExecutor extends SqlQueryable {
  readonly kind: "postgres" | "pglite";
  /**
   * node-postgres only: the options the pool opens its connections with
   * (server, credentials, search_path), for a connection of another thread.
   * Not every option crosses threads (a password callback, custom type parsers): see structuredClone.
   */
  readonly connectionOptions?: () => pg.ClientConfig;
  /** Runs `fn` in one transaction on one connection; commits if it resolves, rolls back if it throws. Not re-entrant. */
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T>;
  /** LISTEN on `channel`; resolves to the function that stops listening. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/**
 * int8 / xid8 from either driver, never through a lossy number: node-postgres
 * gives strings, PGlite a number when the value is a safe integer and a
 * bigint otherwise.
 */
export function toBigInt(value: unknown): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "string" || (typeof value === "number" && Number.isSafeInteger(value))) return BigInt(value);
  throw new TypeError(`expected an int8, got ${typeof value} ${String(value)}`);
}

/** SQLSTATE classes and socket errors after which a retry later may succeed. */
const UNAVAILABLE_SQLSTATES = new Set(["57P01", "57P02", "57P03", "53300", "53400"]);
const UNAVAILABLE_ERRNOS = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EPIPE", "EHOSTUNREACH"]);

function isUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") {
    return code.startsWith("08") || UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_ERRNOS.has(code);
  }
  // node-postgres and PGlite report a lost or closed connection without a code.
  return /Connection terminated|connection timeout|Client was closed|Cannot use a pool after calling end|PGlite is closed/i.test(
    err.message,
  );
}

export function translateError(err: unknown): unknown {
  if (err instanceof StoreUnavailableError || !isUnavailable(err)) return err;
  return new StoreUnavailableError(`event store database unavailable: ${(err as Error).message}`, { cause: err });
}

async function translated<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw translateError(err);
  }
}

type PgQueryable = Pick<pg.ClientBase, "query">;

function pgQueryable(client: PgQueryable): SqlQueryable {
  return {
    async query<Row>(sql: string, params: readonly unknown[] = []) {
      const result = await translated(client.query(sql, params as unknown[]));
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
    },
  };
}

/**
 * node-postgres. The pool is the caller's: pass one sized for the expected
 * concurrency (appends are single statements, so each holds a connection for
 * one round trip). LISTEN uses one extra dedicated connection, opened on the
 * first `listen`; if it drops, it is reopened by the next `listen` and
 * subscribers fall back on polling meanwhile.
 */
export function pgExecutor(pool: pg.Pool): SqlExecutor {
  // An idle client that loses its connection is discarded by the pool; without
  // a listener the 'error' event would crash the process.
  pool.on("error", () => {});
  let listener: Promise<pg.Client> | undefined;
  const handlers = new Map<string, Set<(payload: string) => void>>();

  function listenerClient(): Promise<pg.Client> {
    if (listener) return listener;
    const client = new pg.Client(pool.options);
    const connecting = (async () => {
      await client.connect();
      for (const channel of handlers.keys()) await client.query(`listen ${pg.escapeIdentifier(channel)}`);
      return client;
    })();
    // Forget only this client: a replacement may already be connecting.
    const forget = () => {
      if (listener === connecting) listener = undefined;
    };
    client.on("error", () => {
      forget();
      void client.end().catch(() => {});
    });
    client.on("end", forget);
    client.on("notification", (n) => handlers.get(n.channel)?.forEach((h) => h(n.payload ?? "")));
    connecting.catch(() => {
      forget();
      void client.end().catch(() => {});
    });
    listener = connecting;
    return connecting;
  }

  return {
    kind: "postgres",
    ...pgQueryable(pool),
    connectionOptions() {
      // The pool hides the password and an SSL key from enumeration (and so from copies): name them.
      const options = pool.options as pg.PoolConfig;
      const ssl = options.ssl !== null && typeof options.ssl === "object" ? { ...options.ssl, key: options.ssl.key } : options.ssl;
      return { ...options, password: options.password, ssl } as pg.ClientConfig;
    },
    async transaction(fn) {
      const client = await translated(pool.connect());
      const tx = pgQueryable(client);
      let broken = false;
      try {
        await tx.query("begin");
        const result = await fn(tx);
        await tx.query("commit");
        return result;
      } catch (err) {
        // A failed rollback means the connection is gone: do not return it to the pool.
        await client.query("rollback").catch(() => (broken = true));
        throw translateError(err);
      } finally {
        client.release(broken);
      }
    },
    async listen(channel, onNotify) {
      const set = handlers.get(channel) ?? new Set();
      handlers.set(channel, set.add(onNotify));
      const unlisten = async () => {
        set.delete(onNotify);
        if (set.size > 0) return;
        handlers.delete(channel);
        if (handlers.size > 0 || !listener) return;
        const closing = listener;
        listener = undefined;
        await (await closing.catch(() => undefined))?.end();
      };
      try {
        // LISTEN is idempotent, so repeating it for a channel already listened to is harmless.
        await (await listenerClient()).query(`listen ${pg.escapeIdentifier(channel)}`);
      } catch (err) {
        await unlisten();
        throw translateError(err);
      }
      return unlisten;
    },
    async close() {
      if (listener) await (await listener.catch(() => undefined))?.end();
      await pool.end();
    },
  };
}

function pgliteQueryable(db: Pick<PGlite, "query"> | Transaction): SqlQueryable {
  return {
    async query<Row>(sql: string, params: readonly unknown[] = []) {
      const result = await translated(db.query<Row>(sql, params as unknown[]));
      return { rows: result.rows, rowCount: result.affectedRows ?? 0 };
    },
  };
}

/**
 * PGlite: one embedded connection. PGlite itself queues queries behind an open
 * transaction, so transactions from concurrent callers run one after another.
 */
export function pgliteExecutor(db: PGlite): SqlExecutor {
  return {
    kind: "pglite",
    ...pgliteQueryable(db),
    transaction: (fn) => translated(db.transaction((tx) => fn(pgliteQueryable(tx)))),
    async listen(channel, onNotify) {
      const unlisten = await translated(db.listen(channel, onNotify));
      return () => unlisten();
    },
    close: () => db.close(),
  };
}
