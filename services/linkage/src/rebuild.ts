import { pathToFileURL } from "node:url";
import { openEventStore, rebuildProjection, type SqlExecutor } from "@shenguan/eventstore";
import { LINKAGE_PROJECTION } from "./projection.js";
import { EMITTED_TABLE, migrateLinkage, READ_MODEL_TABLES } from "./schema.js";

/**
 * Empties the linkage read models and forgets the consumer's offsets and
 * inbox, in one transaction, so the next start replays every topic from the
 * beginning. Routes, their history and the calendar are configuration and
 * stay. Stop the consumer first.
 *
 * On the replay the process manager does not emit again: each handoff and
 * deadline stream exists already, so its append (expected "no_stream" or the
 * recorded revision) fails and counts as done, and the echoes of what was
 * emitted then rebuild the rows.
 */
export async function rebuildLinkage(sql: SqlExecutor, projection = LINKAGE_PROJECTION): Promise<{ truncated: readonly string[] }> {
  await migrateLinkage(sql);
  await sql.transaction(async (tx) => {
    await tx.query(`truncate ${[...READ_MODEL_TABLES, EMITTED_TABLE].join(", ")}`);
    // The consumer's tables exist once it ran; before that there is nothing to reset.
    const { rows } = await tx.query<{ n: number }>(
      `select count(*)::int as n from information_schema.tables where table_schema = current_schema() and table_name = 'consumer_offsets'`,
    );
    if (Number(rows[0]?.n ?? 0) > 0) await rebuildProjection(tx, projection);
  });
  return { truncated: READ_MODEL_TABLES };
}

/** CLI: `DATABASE_URL=… [DATABASE_SCHEMA=…] pnpm --filter @shenguan/linkage rebuild` (PGlite in .data/pglite when no URL is set). */
async function main(): Promise<void> {
  const opened = await openEventStore(process.env["DATABASE_SCHEMA"] ? { schema: process.env["DATABASE_SCHEMA"] } : {});
  try {
    if (!opened.executor)
      throw new Error("the linkage read models live in PostgreSQL or PGlite; set DATABASE_URL (KurrentDB holds events only)");
    const { truncated } = await rebuildLinkage(opened.executor);
    process.stdout.write(
      `linkage: truncated ${truncated.join(", ")} and reset the offsets of consumer "${LINKAGE_PROJECTION}"; start the consumer to replay.\n`,
    );
  } finally {
    await opened.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`linkage rebuild failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
