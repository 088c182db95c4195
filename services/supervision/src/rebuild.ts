import { isMainModule, resetProjection, runRebuildCommand, type SqlExecutor } from "@shenguan/eventstore";
import { INBOX_PROJECTION, INBOX_TABLES, migrateInbox } from "./inbox/projection.js";

/**
 * Empties the regulators' inbox and forgets its consumer's offsets and inbox,
 * in one transaction, so the next start replays the linkage, supervision and
 * approval topics from the beginning. Stop the consumer first.
 *
 * The regulators' handoff streams are not touched: a stream already begun
 * keeps its first receipt, and one not yet begun begins from the push the
 * replay puts back (until then its regulator's first command is refused as an
 * unknown handoff). Also the way to give rows written before the inbox kept
 * its pushes (`push`) theirs.
 */
export async function rebuildInbox(sql: SqlExecutor): Promise<{ truncated: readonly string[] }> {
  await migrateInbox(sql);
  await resetProjection(sql, INBOX_PROJECTION, INBOX_TABLES);
  return { truncated: INBOX_TABLES };
}

// CLI: `DATABASE_URL=… [DATABASE_SCHEMA=…] pnpm --filter @shenguan/supervision rebuild` (PGlite in .data/pglite when no URL is set).
if (isMainModule(import.meta.url)) {
  void runRebuildCommand("the regulators' inbox", async (sql) => {
    const { truncated } = await rebuildInbox(sql);
    return `supervision: truncated ${truncated.join(", ")} and reset the offsets of consumer "${INBOX_PROJECTION}"; start the consumer to replay.`;
  });
}
