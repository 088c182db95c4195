/**
 * One range of sealed blocks read from PostgreSQL and checked (SealedRangeCheck of @shenguan/evidence),
 * over a connection of its own: by the worker threads of PostgresRangeChecker (log-range-worker.ts) and
 * by the thread that starts them. Imports nothing else of the event store: the workers bundle it.
 *
 * The range is one query whose rows are checked as they arrive and dropped: nothing is kept but the
 * check's state, so V8's young generation collects almost only garbage, while the server produces the
 * next rows. Pages of rows held until checked cost this thread twice the CPU: most of it collecting them.
 */
import { canonicalEventJson, canonicalEventJsonOf, SealedRangeCheck, type LogRange, type RangeCheck } from "@shenguan/evidence";
import type pg from "pg";
import { canonicalJsonOfJsonb } from "./jsonb-canonical.js";

// The log between two positions, in log order, with readAll's visibility rule (READ_LOG in
// log-reader.ts), shaped for the check rather than for a StoredEvent, in few columns (each column of
// each row costs node-postgres a string and a parser call):
// - id, revision, position and time in one, space-separated (none of them can hold a space); the
//   time as the epoch milliseconds of the Date node-postgres would parse (it cuts microseconds off:
//   floor(µs / 1000), the same for every fraction and for times before 1970), '-' for ±infinity
//   (which node-postgres gives as a number: no canonical form either way);
// - the metadata without its evidence (what the canonical form leaves out), null when it is not an
//   object (no canonical form either);
// - the chain link as stored.
// No signature: sealed events are proven by chain and seal.
const READ_RANGE = `select event_id::text || ' ' || revision::text || ' ' || transaction_id::text || '/' || global_position::text
      || ' ' || case when isfinite(created_at) then floor(extract(epoch from created_at) * 1000)::int8::text else '-' end,
    type, stream_name, data,
    case when jsonb_typeof(metadata) = 'object' then metadata - 'evidence' end,
    metadata #> '{evidence,chain}'
  from events
  where (transaction_id, global_position) > ($1::xid8, $2::bigint)
    and (transaction_id, global_position) <= ($3::xid8, $4::bigint)
    and transaction_id < (select shenguan_log_horizon())
  order by transaction_id, global_position`;

// Every column as the server's text: the loop below parses what it needs.
const AS_TEXT = { getTypeParser: () => (value: string) => value };

type Row = [head: string, type: string, stream: string, data: string, metadata: string | null, chain: string | null];

const POSITION = /^(\d{1,20})\/(\d{1,19})$/;
const MAX_XID8 = 2n ** 64n - 1n;
const MAX_INT8 = 2n ** 63n - 1n;

/** A position as the query's two parameters, if the server can take it (seals are untrusted input). */
function positionParams(position: string | undefined): [string, string] | undefined {
  if (position === undefined) return ["0", "0"];
  const m = POSITION.exec(position);
  if (m === null || BigInt(m[1]!) > MAX_XID8 || BigInt(m[2]!) > MAX_INT8) return undefined;
  return [m[1]!, m[2]!];
}

/** A chain link as stored: jsonb text, as PostgreSQL prints a link with its two members, or any other JSON. */
function linkOf(chain: string | null): { readonly prev: unknown; readonly hash: unknown } {
  if (chain === null) return NO_LINK;
  // {"hash": "<64>", "prev": "<64>"}: jsonb orders keys by length, then bytes.
  if (chain.length === 152 && chain.startsWith('{"hash": "') && chain.startsWith('", "prev": "', 74) && chain.endsWith('"}'))
    return { prev: chain.slice(86, 150), hash: chain.slice(10, 74) };
  const link = JSON.parse(chain) as { prev?: unknown; hash?: unknown } | null;
  return link !== null && typeof link === "object" ? { prev: link.prev, hash: link.hash } : NO_LINK;
}

const NO_LINK = { prev: undefined, hash: undefined };

/** Events between progress reports. */
const PROGRESS_EVERY = 2000;

/** Reads the range's events over `client` (a connection of its own) and checks them with SealedRangeCheck; `onEvents` hears of events checked as they go. */
export function checkRange(client: pg.ClientBase, range: LogRange, onEvents: (events: number) => void): Promise<RangeCheck> {
  const from = positionParams(range.after);
  const to = positionParams(range.last);
  if (from === undefined || to === undefined)
    return Promise.resolve({ ok: false, events: 0, reason: `a sealed position the log cannot hold: ${range.after} or ${range.last}` });
  const checker = new SealedRangeCheck(range.blocks);
  return new Promise<RangeCheck>((resolve, reject) => {
    // A Query with a row listener hands each row over and keeps none (client.query(config) would keep them all).
    const Query = (client.constructor as typeof pg.Client & { readonly Query: typeof pg.Query }).Query;
    const config: pg.QueryArrayConfig = { text: READ_RANGE, values: [...from, ...to], rowMode: "array", types: AS_TEXT };
    const query = new Query(config);
    let going = true;
    let reported = 0;
    query.on("row", (row: Row) => {
      // Once the range has failed, the rest of it goes by unchecked: verifyLog reads it again.
      if (!going) return;
      try {
        going = checkRow(checker, row);
      } catch (error) {
        // Not for the connection's reader to catch: the check could not be made (verifyLog reads the range instead).
        going = false;
        reject(error as Error);
        return;
      }
      if (checker.events - reported >= PROGRESS_EVERY) {
        onEvents(checker.events - reported);
        reported = checker.events;
      }
    });
    query.on("error", reject);
    query.on("end", () => {
      onEvents(checker.events - reported);
      resolve(checker.finish());
    });
    client.query(query);
  });
}

/**
 * Checks one row; false once the range cannot verify. The hot path of a range is this plain synchronous
 * function, which V8 optimizes once: the same work inside an async loop was compiled again and again, at
 * tens of milliseconds per compile and per thread.
 */
function checkRow(checker: SealedRangeCheck, row: Row): boolean {
  const [head, type, stream, data, metadata, chain] = row;
  const [id, revision, position, millis] = head.split(" ") as [string, string, string, string];
  const time = new Date(millis === "-" ? Number.NaN : Number(millis));
  let canonical: string;
  try {
    // Data and metadata canonicalized from their jsonb text where it is in PostgreSQL's usual form, else parsed first.
    const dataJson = canonicalJsonOfJsonb(data);
    const metadataJson = metadata === null ? undefined : canonicalJsonOfJsonb(metadata);
    canonical =
      dataJson !== undefined && metadataJson !== undefined
        ? canonicalEventJsonOf({ id, type, stream, revision, time }, dataJson, metadataJson)
        : parsedCanonical(id, type, stream, revision, time, data, metadata);
  } catch (error) {
    return checker.reject(position, `no canonical form (${(error as Error).message})`);
  }
  const { prev, hash } = linkOf(chain);
  return checker.addCanonical({ stream, revision, position, prev, hash }, canonical);
}

/** The canonical form the general way, for data or metadata not in the form canonicalJsonOfJsonb vouches for. */
function parsedCanonical(
  id: string,
  type: string,
  stream: string,
  revision: string,
  time: Date,
  data: string,
  metadata: string | null,
): string {
  return canonicalEventJson({
    id,
    type,
    stream,
    revision,
    time,
    data: JSON.parse(data) as unknown,
    metadata: metadata === null ? (null as unknown as object) : (JSON.parse(metadata) as object),
  });
}
