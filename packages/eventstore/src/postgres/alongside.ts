import type { SqlQueryable, WithQueries } from "./executor.js";

/**
 * Writes of the caller's that ride in the append's own statement, as WITH
 * queries over parameters $1…$n (the append's own come after them): a round
 * trip fewer for a transaction that writes its read model and then appends.
 * They run exactly once, whatever becomes of the append (a conflict, or
 * appends one by one); where the append cannot carry them they run just
 * before it, in the same transaction.
 */
export interface AlongsideAppend extends WithQueries {
  /**
   * The names of those WITH queries, each ending in RETURNING: the append
   * waits for them. A data-modifying WITH query that nothing reads runs after
   * the statement's main query, here the append, and readers of the log wait
   * for an appending transaction from its append to its end: an append that
   * came first would have them wait for the caller's writes too.
   */
  readonly written: readonly string[];
  /** A query over the WITH queries whose rows the caller wants back, and where they go (each row as an object of its columns). */
  readonly returning?: { readonly query: string; readonly rows: (rows: Record<string, unknown>[]) => void };
}

/** `alongside` in a statement of its own (where no append can carry it). */
export async function runAlongside(tx: SqlQueryable, alongside: AlongsideAppend): Promise<void> {
  const { returning } = alongside;
  const { rows } = await tx.query<{ alongside: Record<string, unknown> }>(
    `with ${alongside.with} ${returning ? `select row_to_json(r) as alongside from (${returning.query}) r` : "select 1"}`,
    alongside.params,
  );
  returning?.rows(rows.map((r) => r.alongside));
}
