import { pathToFileURL } from "node:url";
import { openEventStore } from "./open-store.js";
import type { SqlExecutor } from "./postgres/executor.js";

/** Whether the module at `moduleUrl` is the script node was started with (a command's main, not an import). */
export function isMainModule(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && moduleUrl === pathToFileURL(process.argv[1]).href;
}

/**
 * The main of a projection's rebuild command (`pnpm --filter <service> rebuild`): the store the bus would open from
 * the environment (DATABASE_URL, DATABASE_SCHEMA; PGlite in .data/pglite when no URL is set), `rebuild` run on its
 * SQL database, and the line it returns said; a failure is said on stderr with exit code 1. Read models live in
 * PostgreSQL or PGlite: with KurrentDB alone there is nothing to rebuild into.
 */
export async function runRebuildCommand(what: string, rebuild: (sql: SqlExecutor) => Promise<string>): Promise<void> {
  try {
    const opened = await openEventStore();
    try {
      if (!opened.executor) throw new Error(`${what} lives in PostgreSQL or PGlite; set DATABASE_URL (KurrentDB holds events only)`);
      process.stdout.write(`${await rebuild(opened.executor)}\n`);
    } finally {
      await opened.close();
    }
  } catch (err) {
    process.stderr.write(`rebuilding ${what} failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  }
}
