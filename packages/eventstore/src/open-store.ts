import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import type { EventStore } from "./port.js";
import { PostgresEventStore, pgExecutor, pgliteExecutor, type SqlExecutor } from "./postgres/index.js";

export interface OpenEventStoreConfig {
  /** PostgreSQL connection string; defaults to DATABASE_URL. */
  readonly url?: string;
  /** KurrentDB connection string (esdb://…), used when there is no PostgreSQL URL; defaults to KURRENTDB_URL. */
  readonly kurrentdbUrl?: string;
  /** PGlite data directory when neither URL is set; defaults to <repo>/.data/pglite. `memory://` keeps it in memory. */
  readonly dataDir?: string;
  /** PostgreSQL/PGlite schema for the store's tables (created if missing); defaults to DATABASE_SCHEMA, else the connection's search_path. */
  readonly schema?: string;
  /** node-postgres pool size: concurrent appends each hold a connection for one round trip. */
  readonly poolSize?: number;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export type OpenedEventStore =
  | {
      readonly kind: "postgres" | "pglite";
      readonly store: PostgresEventStore;
      /** The same database, for read models and checkpoints committed beside the events. */
      readonly executor: SqlExecutor;
      close(): Promise<void>;
    }
  | {
      readonly kind: "kurrentdb";
      readonly store: EventStore;
      readonly executor: undefined;
      close(): Promise<void>;
    };

/** The workspace root (where pnpm-workspace.yaml is), so the default data dir does not depend on the cwd. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "pnpm-workspace.yaml"))) {
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]*$/;

/**
 * The store the environment asks for (its tables in DATABASE_SCHEMA when set): PostgreSQL if DATABASE_URL (or
 * config.url) is set, else KurrentDB if KURRENTDB_URL is, else embedded
 * PGlite on local disk, so a fresh checkout runs with no database server.
 * PostgreSQL and PGlite stores are migrated before they are returned.
 */
export async function openEventStore(config: OpenEventStoreConfig = {}): Promise<OpenedEventStore> {
  const env = config.env ?? process.env;
  const url = config.url ?? env.DATABASE_URL;
  const kurrentdbUrl = config.kurrentdbUrl ?? env.KURRENTDB_URL;
  const schema = config.schema ?? (env.DATABASE_SCHEMA || undefined);
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) throw new TypeError(`not a plain schema name: ${schema}`);

  if (!url && kurrentdbUrl) {
    // Loaded only when used: the gRPC client and PGlite cost ~45 MB each in a process that never touches them.
    const { KurrentEventStore } = await import("./kurrentdb/index.js");
    const store = KurrentEventStore.connect(kurrentdbUrl);
    return { kind: "kurrentdb", store, executor: undefined, close: () => store.close() };
  }

  let executor: SqlExecutor;
  if (url) {
    // jit=off: the bus's statements are short, and PostgreSQL's JIT (on by default since 12) compiled
    // any whose estimate passed jit_above_cost, e.g. a batch statement over a young table: in the loop
    // bench a third of the database's CPU went to LLVM compiling plans that then ran for milliseconds.
    const options = `-c jit=off${schema ? ` -c search_path=${schema}` : ""}`;
    executor = pgExecutor(new pg.Pool({ connectionString: url, max: config.poolSize ?? 20, options }));
  } else {
    const dataDir = config.dataDir ?? join(repoRoot(), ".data", "pglite");
    if (!dataDir.includes("://")) mkdirSync(resolve(dataDir), { recursive: true });
    const { PGlite } = await import("@electric-sql/pglite");
    executor = pgliteExecutor(await PGlite.create(dataDir));
  }

  try {
    if (schema) {
      // Locked, because two processes creating the same schema at once can both fail the existence check.
      await executor.transaction(async (tx) => {
        await tx.query(`select pg_advisory_xact_lock(hashtext($1))`, [`shenguan_schema:${schema}`]);
        await tx.query(`create schema if not exists ${schema}`);
      });
      // PGlite is one connection, so setting it once covers every later query.
      if (executor.kind === "pglite") await executor.query(`set search_path to ${schema}`);
    }
    const store = new PostgresEventStore(executor);
    await store.migrate();
    return {
      kind: executor.kind,
      store,
      executor,
      async close() {
        await store.close();
        await executor.close();
      },
    };
  } catch (err) {
    await executor.close().catch(() => {});
    throw err;
  }
}
