import pg from "pg";
import { v7 as uuidv7 } from "uuid";
import { pgExecutor, type SqlExecutor } from "../../src/postgres/index.js";

export const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/shenguan_test";

/** Whether the test server answers; under CI a missing server must fail the run, so callers register a failing test. */
export async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export interface TestSchema {
  readonly name: string;
  readonly sql: SqlExecutor;
  /** A pool of its own on the same schema, for tests that need raw connections. */
  newPool(max?: number): pg.Pool;
  drop(): Promise<void>;
}

/** A fresh schema per test file, so runs never see each other's events; every connection's search_path points at it. */
export async function createTestSchema(poolSize = 20): Promise<TestSchema> {
  const name = `t_${uuidv7().replaceAll("-", "")}`;
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  await admin.query(`create schema ${name}`);
  await admin.end();
  const newPool = (max = poolSize) => new pg.Pool({ connectionString: DATABASE_URL, max, options: `-c search_path=${name}` });
  const sql = pgExecutor(newPool());
  return {
    name,
    sql,
    newPool,
    async drop() {
      await sql.close();
      const client = new pg.Client({ connectionString: DATABASE_URL });
      await client.connect();
      await client.query(`drop schema ${name} cascade`);
      await client.end();
    },
  };
}

export const unavailableMessage = `PostgreSQL not reachable at ${DATABASE_URL}`;
