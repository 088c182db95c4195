import { pathToFileURL } from "node:url";
import { openEventStore, rebuildProjection, type SqlExecutor } from "@shenguan/eventstore";
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
  await sql.transaction(async (tx) => {
    await tx.query(`truncate ${INBOX_TABLES.join(", ")}`);
    // The consumer's tables exist once it ran; before that there is nothing to reset.
    const { rows } = await tx.query<{ n: number }>(
      `select count(*)::int as n from information_schema.tables where table_schema = current_schema() and table_name = 'consumer_offsets'`,
    );
    if (Number(rows[0]?.n ?? 0) > 0) await rebuildProjection(tx, INBOX_PROJECTION);
  });
  return { truncated: INBOX_TABLES };
}

/** CLI: `DATABASE_URL=… [DATABASE_SCHEMA=…] pnpm --filter @shenguan/supervision rebuild` (PGlite in .data/pglite when no URL is set). */
async function main(): Promise<void> {
  const opened = await openEventStore(process.env["DATABASE_SCHEMA"] ? { schema: process.env["DATABASE_SCHEMA"] } : {});
  try {
    if (!opened.executor)
      throw new Error("the regulators' inbox lives in PostgreSQL or PGlite; set DATABASE_URL (KurrentDB holds events only)");
    const { truncated } = await rebuildInbox(opened.executor);
    process.stdout.write(
      `supervision: truncated ${truncated.join(", ")} and reset the offsets of consumer "${INBOX_PROJECTION}"; start the consumer to replay.\n`,
    );
  } finally {
    await opened.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`supervision inbox rebuild failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
