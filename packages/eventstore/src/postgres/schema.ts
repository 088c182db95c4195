import type { SqlExecutor } from "./executor.js";

/** Raised by shenguan_append when the stream is not at the expected revision; DETAIL holds the actual revision or "no_stream". */
export const CONCURRENCY_SQLSTATE = "SG001";

/** Raised by migration 4's shenguan_begin_append in a transaction that wrote before it declared itself; no longer raised since migration 7. */
export const UNDECLARED_APPEND_SQLSTATE = "SG002";

/** Raised by shenguan_append_order (every append) outside READ COMMITTED: the log order needs a fresh snapshot at the append. */
export const APPEND_ISOLATION_SQLSTATE = "SG003";

/** Stores NOTIFY this channel after appending, so subscribers wake up without waiting for their next poll. */
export const EVENTS_CHANNEL = "shenguan_events";

interface Migration {
  readonly version: number;
  readonly name: string;
  /** Statements run in order in one transaction (one each, so PGlite's extended protocol accepts them). */
  readonly statements: readonly string[];
}

/** Migration 7's shenguan_append_many (version 5's, the events ordered by K); migration 9 changes one CTE of it, migration 10 its last query. */
const APPEND_MANY_V7 = `create or replace function shenguan_append_many(p_batch jsonb)
       returns table (stream_name text, next_revision bigint, commit_id text, prepare_id bigint)
       language plpgsql as $fn$
       #variable_conflict use_column
       declare
         v_streams text[];
         v_expected text[];
         v_next bigint[];
         v_last bigint[];
         v_current bigint;
         v_order xid8 := shenguan_append_order();
       begin
         with items as materialized (
           select i.ord, i.value->>'stream' as stream, i.value->>'expected' as expected, i.value->'events' as events,
                  jsonb_array_length(i.value->'events')::bigint as n
           from jsonb_array_elements(p_batch) with ordinality as i(value, ord)
         ),
         created as (
           insert into streams (stream_name, revision)
           select it.stream, it.n - 1 from items it where it.expected = 'no_stream' order by it.stream
           on conflict do nothing
           returning streams.stream_name, streams.revision
         ),
         upserted as (
           insert into streams as s (stream_name, revision)
           select it.stream, it.n - 1 from items it where it.expected = 'any' order by it.stream
           on conflict (stream_name) do update set revision = s.revision + excluded.revision + 1
           returning s.stream_name, s.revision
         ),
         moved as (
           update streams s set revision = s.revision + it.n
           from items it
           where it.expected not in ('no_stream', 'any') and s.stream_name = it.stream
             and (it.expected = 'stream_exists' or s.revision = it.expected::bigint)
           returning s.stream_name, s.revision
         ),
         bumped as (
           select * from created union all select * from upserted union all select * from moved
         ),
         inserted as (
           insert into events (transaction_id, event_id, stream_name, revision, type, data, metadata, created_at)
           select v_order, (e.value->>'id')::uuid, it.stream, b.revision - it.n + e.ord, e.value->>'type',
                  coalesce(e.value->'data', 'null'::jsonb), e.value->'metadata',
                  coalesce((e.value->>'time')::timestamptz, now())
           from items it
           join bumped b on b.stream_name = it.stream
           cross join lateral jsonb_array_elements(it.events) with ordinality as e(value, ord)
           order by it.ord, e.ord
           returning events.stream_name, events.global_position
         )
         select array_agg(it.stream order by it.ord), array_agg(it.expected order by it.ord), array_agg(b.revision order by it.ord),
                array_agg((select max(x.global_position) from inserted x where x.stream_name = it.stream) order by it.ord)
           into v_streams, v_expected, v_next, v_last
         from items it
         left join bumped b on b.stream_name = it.stream;

         for i in 1 .. coalesce(array_length(v_streams, 1), 0) loop
           if v_next[i] is null then
             select s.revision into v_current from streams s where s.stream_name = v_streams[i];
             raise exception using errcode = '${CONCURRENCY_SQLSTATE}',
               message = format('stream %s is not at the expected revision %s', v_streams[i], v_expected[i]),
               detail = coalesce(v_current::text, 'no_stream');
           end if;
         end loop;
         return query select u.stream, u.next, v_order::text, u.last
           from unnest(v_streams, v_next, v_last) as u(stream, next, last);
       end
       $fn$`;

/** How migration 7's function finds the streams an expected revision moves: a join the planner may hash. */
const MOVED_BY_JOIN = `         moved as (
           update streams s set revision = s.revision + it.n
           from items it
           where it.expected not in ('no_stream', 'any') and s.stream_name = it.stream
             and (it.expected = 'stream_exists' or s.revision = it.expected::bigint)
           returning s.stream_name, s.revision
         ),
`;

/**
 * Migration 9's: the streams found by key, through an index condition the
 * plan cannot drop. Joined to the batch, `streams` was a relation the planner
 * could hash whole; with sequential scans off (migration 8) it hashed a walk
 * of the whole primary key instead, whenever the connection's generic plan
 * was made while the table was under ten pages and never analyzed (1,200 rows
 * guessed: a nested loop of ~100 guessed probes cost more). Such a plan is
 * kept for the connection's life, and each append then read every stream: in
 * the loop bench that walk was a fifth of the database's CPU at 1,000 grants/s,
 * and it grew with the table. `= any(array(...))` is an index condition, so
 * whichever join comes next sees only the batch's streams.
 */
const MOVED_BY_KEY = `         moved as (
           update streams s set revision = s.revision + it.n
           from items it
           where it.expected not in ('no_stream', 'any') and s.stream_name = it.stream
             and s.stream_name = any (array(select m.stream from items m where m.expected not in ('no_stream', 'any')))
             and (it.expected = 'stream_exists' or s.revision = it.expected::bigint)
           returning s.stream_name, s.revision
         ),
`;

/** How migration 7's function finds each stream's last position: a subquery per stream over everything the batch inserted. */
const LAST_BY_SUBQUERY = `           returning events.stream_name, events.global_position
         )
         select array_agg(it.stream order by it.ord), array_agg(it.expected order by it.ord), array_agg(b.revision order by it.ord),
                array_agg((select max(x.global_position) from inserted x where x.stream_name = it.stream) order by it.ord)
           into v_streams, v_expected, v_next, v_last
         from items it
         left join bumped b on b.stream_name = it.stream;
`;

/**
 * Migration 10's: each stream's last position from one pass over the
 * inserted rows. The subquery rescanned them for every stream of the batch,
 * quadratic in its size: at 200 streams a fifth of the call, at 2,000 streams
 * 428 of its 467 ms (auto_explain); a consumer that falls behind appends its
 * largest batches exactly when it has to catch up.
 */
const LAST_BY_GROUP = `           returning events.stream_name, events.global_position
         ),
         last_positions as (
           select x.stream_name, max(x.global_position) as last from inserted x group by x.stream_name
         )
         select array_agg(it.stream order by it.ord), array_agg(it.expected order by it.ord), array_agg(b.revision order by it.ord),
                array_agg(l.last order by it.ord)
           into v_streams, v_expected, v_next, v_last
         from items it
         left join bumped b on b.stream_name = it.stream
         left join last_positions l on l.stream_name = it.stream;
`;

function replacedOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error("schema: the text to replace is not in the function exactly once");
  return text.slice(0, at) + to + text.slice(at + from.length);
}

/** Migration 9's shenguan_append_many: migration 7's, its streams found by key. */
const APPEND_MANY_V9 = replacedOnce(APPEND_MANY_V7, MOVED_BY_JOIN, MOVED_BY_KEY);

/**
 * Append-only list: never edit a released migration, add the next version.
 * Tables are created unqualified, in the first schema of the search_path.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "streams and events",
    statements: [
      `create table streams (
         stream_name text primary key,
         revision bigint not null
       )`,
      // Global order is (transaction_id, global_position): global_position
      // alone is assigned before commit, so a later-committing transaction
      // can hold a smaller one. Readers only read transactions below the
      // oldest one still running (see readAll in postgres-event-store.ts).
      `create table events (
         global_position bigserial primary key,
         transaction_id xid8 not null default pg_current_xact_id(),
         event_id uuid not null unique,
         stream_name text not null,
         revision bigint not null,
         type text not null,
         data jsonb not null,
         metadata jsonb not null,
         created_at timestamptz not null default now(),
         case_key text generated always as (metadata->>'caseId') stored,
         subject_key text generated always as (metadata->>'subject') stored,
         unique (stream_name, revision)
       )`,
      `create index events_log_order on events (transaction_id, global_position)`,
      `create index events_case_key on events (case_key) where case_key is not null`,
      `create index events_subject_key on events (subject_key) where subject_key is not null`,
      // One round trip per append: check the expectation and bump the stream
      // row (which also serialises concurrent appends to one stream), then
      // insert the events. p_expected is 'no_stream' | 'any' |
      // 'stream_exists' | the exact last revision as text. It does not
      // NOTIFY: a notifying transaction holds a database-wide lock through
      // its commit's WAL flush, which serialised concurrent appends and
      // halved their throughput (bench/eventstore.ts); the store notifies
      // after the commit instead, coalesced.
      `create function shenguan_append(p_stream text, p_expected text, p_events jsonb)
       returns table (next_revision bigint, commit_id text, prepare_id bigint)
       language plpgsql as $fn$
       declare
         v_count bigint := jsonb_array_length(p_events);
         v_current bigint;
         v_next bigint;
       begin
         if v_count = 0 then
           select s.revision into v_current from streams s where s.stream_name = p_stream;
           -- Parenthesised: PL/pgSQL would otherwise end the IF condition at the CASE's first THEN.
           if (case p_expected
                 when 'no_stream' then v_current is not null
                 when 'any' then false
                 when 'stream_exists' then v_current is null
                 else v_current is distinct from p_expected::bigint
               end) then
             raise exception using errcode = '${CONCURRENCY_SQLSTATE}',
               message = format('stream %s is not at the expected revision %s', p_stream, p_expected),
               detail = coalesce(v_current::text, 'no_stream');
           end if;
           return query
             select coalesce(v_current, -1), coalesce(e.transaction_id::text, '0'), coalesce(e.global_position, 0)
             from (select 1) one
             left join events e on e.stream_name = p_stream and e.revision = v_current;
           return;
         end if;

         if p_expected = 'no_stream' then
           insert into streams (stream_name, revision) values (p_stream, v_count - 1)
             on conflict do nothing
             returning revision into v_next;
         elsif p_expected = 'any' then
           insert into streams as s (stream_name, revision) values (p_stream, v_count - 1)
             on conflict (stream_name) do update set revision = s.revision + v_count
             returning s.revision into v_next;
         elsif p_expected = 'stream_exists' then
           update streams s set revision = s.revision + v_count
             where s.stream_name = p_stream
             returning s.revision into v_next;
         else
           update streams s set revision = s.revision + v_count
             where s.stream_name = p_stream and s.revision = p_expected::bigint
             returning s.revision into v_next;
         end if;

         if v_next is null then
           select s.revision into v_current from streams s where s.stream_name = p_stream;
           raise exception using errcode = '${CONCURRENCY_SQLSTATE}',
             message = format('stream %s is not at the expected revision %s', p_stream, p_expected),
             detail = coalesce(v_current::text, 'no_stream');
         end if;

         return query
           with inserted as (
             insert into events (event_id, stream_name, revision, type, data, metadata)
             select (e.value->>'id')::uuid, p_stream, v_next - v_count + e.ordinality, e.value->>'type',
                    coalesce(e.value->'data', 'null'::jsonb), e.value->'metadata'
             from jsonb_array_elements(p_events) with ordinality e
             order by e.ordinality
             returning global_position
           )
           select v_next, pg_current_xact_id()::text, max(global_position) from inserted;
       end
       $fn$`,
    ],
  },
  {
    version: 2,
    name: "appender's time",
    statements: [
      // The same function, now keeping each event's "time" (the appender's
      // clock, an ISO instant) as created_at when given: the EvidenceStore
      // signs that time, so the store must return exactly it. `create or
      // replace` with an unchanged signature: safe on a database where
      // version 1 is applied and appends are running (each call sees one
      // version of the function or the other).
      `create or replace function shenguan_append(p_stream text, p_expected text, p_events jsonb)
       returns table (next_revision bigint, commit_id text, prepare_id bigint)
       language plpgsql as $fn$
       declare
         v_count bigint := jsonb_array_length(p_events);
         v_current bigint;
         v_next bigint;
       begin
         if v_count = 0 then
           select s.revision into v_current from streams s where s.stream_name = p_stream;
           -- Parenthesised: PL/pgSQL would otherwise end the IF condition at the CASE's first THEN.
           if (case p_expected
                 when 'no_stream' then v_current is not null
                 when 'any' then false
                 when 'stream_exists' then v_current is null
                 else v_current is distinct from p_expected::bigint
               end) then
             raise exception using errcode = '${CONCURRENCY_SQLSTATE}',
               message = format('stream %s is not at the expected revision %s', p_stream, p_expected),
               detail = coalesce(v_current::text, 'no_stream');
           end if;
           return query
             select coalesce(v_current, -1), coalesce(e.transaction_id::text, '0'), coalesce(e.global_position, 0)
             from (select 1) one
             left join events e on e.stream_name = p_stream and e.revision = v_current;
           return;
         end if;

         if p_expected = 'no_stream' then
           insert into streams (stream_name, revision) values (p_stream, v_count - 1)
             on conflict do nothing
             returning revision into v_next;
         elsif p_expected = 'any' then
           insert into streams as s (stream_name, revision) values (p_stream, v_count - 1)
             on conflict (stream_name) do update set revision = s.revision + v_count
             returning s.revision into v_next;
         elsif p_expected = 'stream_exists' then
           update streams s set revision = s.revision + v_count
             where s.stream_name = p_stream
             returning s.revision into v_next;
         else
           update streams s set revision = s.revision + v_count
             where s.stream_name = p_stream and s.revision = p_expected::bigint
             returning s.revision into v_next;
         end if;

         if v_next is null then
           select s.revision into v_current from streams s where s.stream_name = p_stream;
           raise exception using errcode = '${CONCURRENCY_SQLSTATE}',
             message = format('stream %s is not at the expected revision %s', p_stream, p_expected),
             detail = coalesce(v_current::text, 'no_stream');
         end if;

         return query
           with inserted as (
             insert into events (event_id, stream_name, revision, type, data, metadata, created_at)
             select (e.value->>'id')::uuid, p_stream, v_next - v_count + e.ordinality, e.value->>'type',
                    coalesce(e.value->'data', 'null'::jsonb), e.value->'metadata',
                    coalesce((e.value->>'time')::timestamptz, now())
             from jsonb_array_elements(p_events) with ordinality e
             order by e.ordinality
             returning global_position
           )
           select v_next, pg_current_xact_id()::text, max(global_position) from inserted;
       end
       $fn$`,
    ],
  },
  {
    version: 3,
    name: "append to several streams in one call",
    statements: [
      // One round trip for a consumer chunk's appends (each to its own
      // stream): shenguan_append per element, in order, in the caller's
      // statement, so they all succeed or the statement fails as a whole (the
      // caller then appends one by one to learn which stream conflicted).
      `create or replace function shenguan_append_many(p_batch jsonb)
       returns table (stream_name text, next_revision bigint, commit_id text, prepare_id bigint)
       language plpgsql as $fn$
       declare
         v_item jsonb;
       begin
         for v_item in select value from jsonb_array_elements(p_batch) loop
           return query
             select v_item->>'stream', a.next_revision, a.commit_id, a.prepare_id
             from shenguan_append(v_item->>'stream', v_item->>'expected', v_item->'events') a;
         end loop;
       end
       $fn$`,
    ],
  },
  {
    version: 4,
    name: "readers wait only for declared appenders",
    statements: [
      // Readers of the log used to wait for every transaction older than the
      // oldest one still running (pg_snapshot_xmin): any write anywhere on the
      // server, a projection's read-model transaction, an idempotency key, a
      // report in another database, held back every subscriber until it
      // committed. Now a transaction that appends declares itself before it
      // has a transaction id (before its first write): it takes events' ROW
      // EXCLUSIVE lock, which it then holds until it ends. A running
      // transaction that has an id but holds no such lock never appends to
      // this log (it would have had to declare first), so readers pass it by
      // (shenguan_log_horizon). The declaration is remembered per events
      // table in a transaction-local setting, so it survives the caller's
      // savepoints exactly as the lock does.
      `create or replace function shenguan_begin_append() returns void
       language plpgsql as $fn$
       declare
         v_log text := 'events'::regclass::oid::text;
         v_declared text := coalesce(current_setting('shenguan.appending', true), '');
       begin
         if position(',' || v_log || ',' in v_declared) > 0 then
           return;
         end if;
         if pg_current_xact_id_if_assigned() is not null then
           raise exception using errcode = '${UNDECLARED_APPEND_SQLSTATE}',
             message = 'this transaction wrote before appending events: call shenguan_begin_append() before its first write',
             hint = 'readers of the log wait only for transactions that declared themselves appenders before they had a transaction id';
         end if;
         lock table events in row exclusive mode;
         perform set_config('shenguan.appending', v_declared || ',' || v_log || ',', true);
       end
       $fn$`,
      // Version 2's function, declaring the appender before its first write
      // (an autocommit append declares itself; so does shenguan_append_many,
      // through it, on its first stream).
      `create or replace function shenguan_append(p_stream text, p_expected text, p_events jsonb)
       returns table (next_revision bigint, commit_id text, prepare_id bigint)
       language plpgsql as $fn$
       declare
         v_count bigint := jsonb_array_length(p_events);
         v_current bigint;
         v_next bigint;
       begin
         if v_count = 0 then
           select s.revision into v_current from streams s where s.stream_name = p_stream;
           -- Parenthesised: PL/pgSQL would otherwise end the IF condition at the CASE's first THEN.
           if (case p_expected
                 when 'no_stream' then v_current is not null
                 when 'any' then false
                 when 'stream_exists' then v_current is null
                 else v_current is distinct from p_expected::bigint
               end) then
             raise exception using errcode = '${CONCURRENCY_SQLSTATE}',
               message = format('stream %s is not at the expected revision %s', p_stream, p_expected),
               detail = coalesce(v_current::text, 'no_stream');
           end if;
           return query
             select coalesce(v_current, -1), coalesce(e.transaction_id::text, '0'), coalesce(e.global_position, 0)
             from (select 1) one
             left join events e on e.stream_name = p_stream and e.revision = v_current;
           return;
         end if;

         -- Before this transaction's first write, or refused: see shenguan_begin_append.
         perform shenguan_begin_append();

         if p_expected = 'no_stream' then
           insert into streams (stream_name, revision) values (p_stream, v_count - 1)
             on conflict do nothing
             returning revision into v_next;
         elsif p_expected = 'any' then
           insert into streams as s (stream_name, revision) values (p_stream, v_count - 1)
             on conflict (stream_name) do update set revision = s.revision + v_count
             returning s.revision into v_next;
         elsif p_expected = 'stream_exists' then
           update streams s set revision = s.revision + v_count
             where s.stream_name = p_stream
             returning s.revision into v_next;
         else
           update streams s set revision = s.revision + v_count
             where s.stream_name = p_stream and s.revision = p_expected::bigint
             returning s.revision into v_next;
         end if;

         if v_next is null then
           select s.revision into v_current from streams s where s.stream_name = p_stream;
           raise exception using errcode = '${CONCURRENCY_SQLSTATE}',
             message = format('stream %s is not at the expected revision %s', p_stream, p_expected),
             detail = coalesce(v_current::text, 'no_stream');
         end if;

         return query
           with inserted as (
             insert into events (event_id, stream_name, revision, type, data, metadata, created_at)
             select (e.value->>'id')::uuid, p_stream, v_next - v_count + e.ordinality, e.value->>'type',
                    coalesce(e.value->'data', 'null'::jsonb), e.value->'metadata',
                    coalesce((e.value->>'time')::timestamptz, now())
             from jsonb_array_elements(p_events) with ordinality e
             order by e.ordinality
             returning global_position
           )
           select v_next, pg_current_xact_id()::text, max(global_position) from inserted;
       end
       $fn$`,
      // Everything below it is settled: no transaction with a smaller id can
      // still add events. That is the smallest id in the statement's own
      // snapshot (STABLE: the caller's snapshot) that is either still
      // running as a declared appender of this log, or has ended since the
      // snapshot was taken (its events, if any, are not visible to it);
      // failing any, the snapshot's xmax. pg_locks is read after the
      // snapshot: an appender in it held events' lock since before it had its
      // id, so it shows it until it ends; one that got its id after the
      // snapshot is at or above xmax.
      `create or replace function shenguan_log_horizon() returns xid8
       language plpgsql stable as $fn$
       declare
         v_snapshot pg_snapshot := pg_current_snapshot();
         v_horizon xid8;
       begin
         if not exists (select from pg_snapshot_xip(v_snapshot)) then
           return pg_snapshot_xmax(v_snapshot);
         end if;
         with locks as materialized (
           select l.locktype, l.transactionid, l.virtualtransaction from pg_locks l
           where l.granted and (
             (l.locktype = 'transactionid' and l.mode = 'ExclusiveLock')
             or (l.locktype = 'relation' and l.relation = 'events'::regclass
                 and l.database = (select d.oid from pg_database d where d.datname = current_database())))
         ),
         bystanders as (
           select t.transactionid from locks t
           where t.locktype = 'transactionid'
             and not exists (select from locks r where r.locktype = 'relation' and r.virtualtransaction = t.virtualtransaction)
         )
         select min(x.id) into v_horizon
         from pg_snapshot_xip(v_snapshot) as x(id)
         where not exists (select from bystanders b where b.transactionid = x.id::xid);
         return coalesce(v_horizon, pg_snapshot_xmax(v_snapshot));
       end
       $fn$`,
    ],
  },
  {
    version: 5,
    name: "append to several streams set-based",
    statements: [
      // The same contract as version 3's function (all streams or none; the
      // first conflicting stream, in batch order, raised as SG001 with its
      // actual revision), in one pass over the batch instead of one
      // shenguan_append call per stream: the streams' rows moved by one
      // statement each kind of expectation, the events inserted by one, in
      // batch order. In the loop bench the per-stream calls cost some 150 µs
      // of the database per event, the set ~110 µs, most of what is left
      // being the JSON itself.
      `create or replace function shenguan_append_many(p_batch jsonb)
       returns table (stream_name text, next_revision bigint, commit_id text, prepare_id bigint)
       language plpgsql as $fn$
       #variable_conflict use_column
       declare
         v_streams text[];
         v_expected text[];
         v_next bigint[];
         v_last bigint[];
         v_current bigint;
       begin
         perform shenguan_begin_append();
         with items as materialized (
           select i.ord, i.value->>'stream' as stream, i.value->>'expected' as expected, i.value->'events' as events,
                  jsonb_array_length(i.value->'events')::bigint as n
           from jsonb_array_elements(p_batch) with ordinality as i(value, ord)
         ),
         created as (
           insert into streams (stream_name, revision)
           select it.stream, it.n - 1 from items it where it.expected = 'no_stream' order by it.stream
           on conflict do nothing
           returning streams.stream_name, streams.revision
         ),
         upserted as (
           insert into streams as s (stream_name, revision)
           select it.stream, it.n - 1 from items it where it.expected = 'any' order by it.stream
           on conflict (stream_name) do update set revision = s.revision + excluded.revision + 1
           returning s.stream_name, s.revision
         ),
         moved as (
           update streams s set revision = s.revision + it.n
           from items it
           where it.expected not in ('no_stream', 'any') and s.stream_name = it.stream
             and (it.expected = 'stream_exists' or s.revision = it.expected::bigint)
           returning s.stream_name, s.revision
         ),
         bumped as (
           select * from created union all select * from upserted union all select * from moved
         ),
         inserted as (
           insert into events (event_id, stream_name, revision, type, data, metadata, created_at)
           select (e.value->>'id')::uuid, it.stream, b.revision - it.n + e.ord, e.value->>'type',
                  coalesce(e.value->'data', 'null'::jsonb), e.value->'metadata',
                  coalesce((e.value->>'time')::timestamptz, now())
           from items it
           join bumped b on b.stream_name = it.stream
           cross join lateral jsonb_array_elements(it.events) with ordinality as e(value, ord)
           order by it.ord, e.ord
           returning events.stream_name, events.global_position
         )
         select array_agg(it.stream order by it.ord), array_agg(it.expected order by it.ord), array_agg(b.revision order by it.ord),
                array_agg((select max(x.global_position) from inserted x where x.stream_name = it.stream) order by it.ord)
           into v_streams, v_expected, v_next, v_last
         from items it
         left join bumped b on b.stream_name = it.stream;

         for i in 1 .. coalesce(array_length(v_streams, 1), 0) loop
           if v_next[i] is null then
             select s.revision into v_current from streams s where s.stream_name = v_streams[i];
             raise exception using errcode = '${CONCURRENCY_SQLSTATE}',
               message = format('stream %s is not at the expected revision %s', v_streams[i], v_expected[i]),
               detail = coalesce(v_current::text, 'no_stream');
           end if;
         end loop;
         return query select u.stream, u.next, pg_current_xact_id()::text, u.last
           from unnest(v_streams, v_next, v_last) as u(stream, next, last);
       end
       $fn$`,
    ],
  },
  {
    version: 6,
    name: "append to several streams inside a transaction, conflicts answered",
    statements: [
      // shenguan_append_many for the caller's open transaction: a conflict
      // rolls back only the batch (the block's own subtransaction) and comes
      // back as one row with conflict set, where the caller would otherwise
      // need a savepoint and its release around the call: two more round
      // trips per consumer chunk that appends. The caller declares itself an
      // appender first, outside this block (rolled back, the block would take
      // a declaration made inside it along).
      `create or replace function shenguan_append_many_within(p_batch jsonb)
       returns table (stream_name text, next_revision bigint, commit_id text, prepare_id bigint, conflict boolean)
       language plpgsql as $fn$
       #variable_conflict use_column
       declare
         v_streams text[];
         v_next bigint[];
         v_commit text[];
         v_last bigint[];
       begin
         begin
           select array_agg(a.stream_name), array_agg(a.next_revision), array_agg(a.commit_id), array_agg(a.prepare_id)
             into v_streams, v_next, v_commit, v_last
             from shenguan_append_many(p_batch) a;
         exception when sqlstate '${CONCURRENCY_SQLSTATE}' then
           return query select null::text, null::bigint, null::text, null::bigint, true;
           return;
         end;
         return query select u.stream, u.next, u.commit, u.last, false
           from unnest(v_streams, v_next, v_commit, v_last) as u(stream, next, commit, last);
       end
       $fn$`,
    ],
  },
  {
    version: 7,
    name: "appenders are waited for from their first append",
    statements: [
      // Version 4 made a transaction that appends declare itself before its
      // first write, and readers wait for it from then on: a consumer chunk
      // that writes its read model and then appends held every reader of
      // the log back for its whole length (the linkage chunk's ~14 round
      // trips; in the loop bench a grant reached Kafka p50 113 ms after its
      // commit, most of it behind such chunks). Now an event's place in the
      // log is not its transaction's id X but K = greatest(X, xmax of a
      // snapshot taken once the transaction holds events' ROW EXCLUSIVE
      // lock), fixed at its first append. A reader's horizon H is as before:
      // the smallest id in its snapshot S still running as a holder of that
      // lock (or ended since S), else S's xmax. Why nothing can still arrive
      // below H: take an appender A not committed when S was taken. If A
      // held the lock when the reader looked at pg_locks, then either X is in
      // S (H <= X <= K) or X is at or above S's xmax (H <= xmax <= X <= K). If
      // A took the lock later, its snapshot is later than S, and xmax never
      // goes back: H <= xmax(S) <= K. So a transaction may write anything
      // before it appends; readers wait for it only from its first append to
      // its end. Transactions may share a K (ordered by position among them):
      // a reader takes a K only once every transaction holding it has ended.
      // K is kept in a transaction-local setting per events table, rolled
      // back with the lock by a savepoint's rollback, after which the next
      // append takes a new one. It needs a snapshot of the moment: under
      // REPEATABLE READ it would be the transaction's first, so appends
      // there are refused (SG003).
      `create or replace function shenguan_append_order() returns xid8
       language plpgsql as $fn$
       declare
         v_log text := 'events'::regclass::oid::text;
         v_declared text := coalesce(current_setting('shenguan.appending', true), '');
         v_order xid8;
       begin
         v_order := substring(v_declared from ',' || v_log || ':([0-9]+),')::xid8;
         if v_order is not null then
           return v_order;
         end if;
         if current_setting('transaction_isolation') <> 'read committed' then
           raise exception using errcode = '${APPEND_ISOLATION_SQLSTATE}',
             message = format('appending to the log needs READ COMMITTED isolation, this transaction is %s', current_setting('transaction_isolation')),
             hint = 'an event''s place in the log is taken from a fresh snapshot at its transaction''s first append';
         end if;
         lock table events in row exclusive mode;
         select greatest(pg_current_xact_id(), pg_snapshot_xmax(pg_current_snapshot())) into v_order;
         perform set_config('shenguan.appending', v_declared || ',' || v_log || ':' || v_order::text || ',', true);
         return v_order;
       end
       $fn$`,
      // Kept for callers of version 4: declaring now only fixes the
      // transaction's place early, which readers then wait at; no need to.
      `create or replace function shenguan_begin_append() returns void
       language plpgsql as $fn$
       begin
         perform shenguan_append_order();
       end
       $fn$`,
      // Version 4's function, the events ordered by K.
      `create or replace function shenguan_append(p_stream text, p_expected text, p_events jsonb)
       returns table (next_revision bigint, commit_id text, prepare_id bigint)
       language plpgsql as $fn$
       declare
         v_count bigint := jsonb_array_length(p_events);
         v_current bigint;
         v_next bigint;
         v_order xid8;
       begin
         if v_count = 0 then
           select s.revision into v_current from streams s where s.stream_name = p_stream;
           -- Parenthesised: PL/pgSQL would otherwise end the IF condition at the CASE's first THEN.
           if (case p_expected
                 when 'no_stream' then v_current is not null
                 when 'any' then false
                 when 'stream_exists' then v_current is null
                 else v_current is distinct from p_expected::bigint
               end) then
             raise exception using errcode = '${CONCURRENCY_SQLSTATE}',
               message = format('stream %s is not at the expected revision %s', p_stream, p_expected),
               detail = coalesce(v_current::text, 'no_stream');
           end if;
           return query
             select coalesce(v_current, -1), coalesce(e.transaction_id::text, '0'), coalesce(e.global_position, 0)
             from (select 1) one
             left join events e on e.stream_name = p_stream and e.revision = v_current;
           return;
         end if;

         v_order := shenguan_append_order();

         if p_expected = 'no_stream' then
           insert into streams (stream_name, revision) values (p_stream, v_count - 1)
             on conflict do nothing
             returning revision into v_next;
         elsif p_expected = 'any' then
           insert into streams as s (stream_name, revision) values (p_stream, v_count - 1)
             on conflict (stream_name) do update set revision = s.revision + v_count
             returning s.revision into v_next;
         elsif p_expected = 'stream_exists' then
           update streams s set revision = s.revision + v_count
             where s.stream_name = p_stream
             returning s.revision into v_next;
         else
           update streams s set revision = s.revision + v_count
             where s.stream_name = p_stream and s.revision = p_expected::bigint
             returning s.revision into v_next;
         end if;

         if v_next is null then
           select s.revision into v_current from streams s where s.stream_name = p_stream;
           raise exception using errcode = '${CONCURRENCY_SQLSTATE}',
             message = format('stream %s is not at the expected revision %s', p_stream, p_expected),
             detail = coalesce(v_current::text, 'no_stream');
         end if;

         return query
           with inserted as (
             insert into events (transaction_id, event_id, stream_name, revision, type, data, metadata, created_at)
             select v_order, (e.value->>'id')::uuid, p_stream, v_next - v_count + e.ordinality, e.value->>'type',
                    coalesce(e.value->'data', 'null'::jsonb), e.value->'metadata',
                    coalesce((e.value->>'time')::timestamptz, now())
             from jsonb_array_elements(p_events) with ordinality e
             order by e.ordinality
             returning global_position
           )
           select v_next, v_order::text, max(global_position) from inserted;
       end
       $fn$`,
      // Version 5's function, the events ordered by K.
      APPEND_MANY_V7,
      // Version 4's horizon, with two changes. Only a lock that an append
      // takes (ROW EXCLUSIVE or stronger) makes a transaction an appender: a
      // reader of events (ACCESS SHARE: a consumer reading stream heads
      // before it appends) is not waited for until it appends. And a
      // bystander must still be running after pg_locks was read: a
      // committing appender releases its locks one by one after it became
      // visible, so pg_locks could show its id's lock without its events
      // lock, and a reader whose snapshot predates the commit would pass
      // events it cannot see (version 4 had this race; the stress test with
      // appenders that write first found it). Locks are released only after
      // pg_xact_status stops saying 'in progress'.
      `create or replace function shenguan_log_horizon() returns xid8
       language plpgsql stable as $fn$
       declare
         v_snapshot pg_snapshot := pg_current_snapshot();
         v_lockless xid8[];
         v_horizon xid8;
       begin
         if not exists (select from pg_snapshot_xip(v_snapshot)) then
           return pg_snapshot_xmax(v_snapshot);
         end if;
         with locks as materialized (
           select l.locktype, l.transactionid, l.virtualtransaction from pg_locks l
           where l.granted and (
             (l.locktype = 'transactionid' and l.mode = 'ExclusiveLock')
             or (l.locktype = 'relation' and l.relation = 'events'::regclass
                 and l.mode not in ('AccessShareLock', 'RowShareLock')
                 and l.database = (select d.oid from pg_database d where d.datname = current_database())))
         )
         select array_agg(x.id) into v_lockless
         from pg_snapshot_xip(v_snapshot) as x(id)
         where exists (
           select from locks t
           where t.locktype = 'transactionid' and t.transactionid = x.id::xid
             and not exists (select from locks r where r.locktype = 'relation' and r.virtualtransaction = t.virtualtransaction));
         -- A separate statement, so it runs after pg_locks was read.
         select min(x.id) into v_horizon
         from pg_snapshot_xip(v_snapshot) as x(id)
         where not (x.id = any(coalesce(v_lockless, '{}')) and pg_xact_status(x.id) = 'in progress');
         return coalesce(v_horizon, pg_snapshot_xmax(v_snapshot));
       end
       $fn$`,
    ],
  },
  {
    version: 8,
    name: "appends find their streams by key",
    statements: [
      // A batch's streams are each found by their primary key. The function's
      // plans are made once per connection and kept until the table's
      // statistics change; made while streams was young and never analyzed
      // (10 pages guessed, 100 items guessed for the batch), the update of
      // the batch's streams was a hash join over a sequential scan of
      // streams, kept for the connection's life on a server without
      // autovacuum: at 600 grants/s the loop bench read 420,000 stream rows
      // a second. Without sequential scans the planner's only cheap plan is
      // a nested loop with an index probe per stream (a full index scan
      // costs more at any table size). Hash joins stay: the batch's own CTEs
      // are joined by hashing, and a nested loop there is quadratic in the
      // batch (tried: a linkage chunk of 200 pushes took 140 µs more per
      // event). A later migration that recreates the function must repeat
      // it (the conformance suite checks the plan's reads).
      `alter function shenguan_append_many(jsonb) set enable_seqscan = off`,
    ],
  },
  {
    version: 9,
    name: "appends find their streams by key, whatever the plan",
    statements: [
      // Recreating the function drops migration 8's setting: repeated.
      APPEND_MANY_V9,
      `alter function shenguan_append_many(jsonb) set enable_seqscan = off`,
    ],
  },
  {
    version: 10,
    name: "appends find each stream's last position in one pass",
    statements: [
      // Migration 9's function with LAST_BY_GROUP; recreating it drops migration 8's setting again.
      replacedOnce(APPEND_MANY_V9, LAST_BY_SUBQUERY, LAST_BY_GROUP),
      `alter function shenguan_append_many(jsonb) set enable_seqscan = off`,
    ],
  },
];

/**
 * Brings the schema up to date; safe to call from several processes at once
 * (they queue on an advisory lock, and each applies only what is missing).
 */
export async function migrate(sql: SqlExecutor, options: { readonly upTo?: number } = {}): Promise<void> {
  const upTo = options.upTo ?? Number.POSITIVE_INFINITY;
  await sql.transaction(async (tx) => {
    // Keyed by schema, so stores in different schemas of one database do not wait for each other.
    await tx.query(`select pg_advisory_xact_lock(hashtext('shenguan_migrations:' || coalesce(current_schema(), '')))`);
    await tx.query(
      `create table if not exists shenguan_migrations (
         version int primary key,
         name text not null,
         applied_at timestamptz not null default now()
       )`,
    );
    const { rows } = await tx.query<{ version: number }>(`select version from shenguan_migrations`);
    const applied = new Set(rows.map((r) => r.version));
    for (const migration of MIGRATIONS) {
      // upTo: stop at an older version (tests of an upgrade from it).
      if (applied.has(migration.version) || migration.version > upTo) continue;
      for (const statement of migration.statements) await tx.query(statement);
      await tx.query(`insert into shenguan_migrations (version, name) values ($1, $2)`, [migration.version, migration.name]);
    }
  });
}
