import { isMainModule, resetProjection, runRebuildCommand, type SqlExecutor } from "@shenguan/eventstore";
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
  await resetProjection(sql, projection, [...READ_MODEL_TABLES, EMITTED_TABLE]);
  return { truncated: READ_MODEL_TABLES };
}

// CLI: `DATABASE_URL=… [DATABASE_SCHEMA=…] pnpm --filter @shenguan/linkage rebuild` (PGlite in .data/pglite when no URL is set).
if (isMainModule(import.meta.url)) {
  void runRebuildCommand("the linkage read models", async (sql) => {
    const { truncated } = await rebuildLinkage(sql);
    return `linkage: truncated ${truncated.join(", ")} and reset the offsets of consumer "${LINKAGE_PROJECTION}"; start the consumer to replay.`;
  });
}
