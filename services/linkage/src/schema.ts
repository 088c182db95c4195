import { calendar2026 } from "@shenguan/deadlines";
import type { SqlExecutor } from "@shenguan/eventstore";

/**
 * The linkage service's tables, beside the event store in the same database.
 *
 * Configuration (kept across a rebuild): linkage_routes and their
 * insert-only history (the 审管职责清单), calendar_years (the holiday notices).
 * Read models (truncated by a rebuild, refilled from Kafka): everything in
 * READ_MODEL_TABLES. Every read-model write is an idempotent upsert of facts
 * ("claimed at", "first result at"), so events of different topics may
 * arrive in any order (a catching-up consumer reads partitions in parallel)
 * and still converge on the same rows.
 */
export const READ_MODEL_TABLES = [
  "linkage_handoffs",
  "linkage_deadlines",
  "linkage_deadline_facts",
  "linkage_deadline_cards",
  "linkage_feedback",
  "linkage_credit_records",
  "linkage_credit_repairs",
  "linkage_commitment_breaches",
] as const;

interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly string[];
}

const DATE = `~ '^\\d{4}-\\d{2}-\\d{2}$'`;

// Append-only: never edit a released migration, add the next version.
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "routes, calendar, handoffs, deadlines, feedback, credit",
    statements: [
      `create table linkage_routes (
         route_id text primary key,
         item_code text not null,
         region_code text not null,
         regulator text not null,
         claim_limit_amount int not null check (claim_limit_amount > 0),
         claim_limit_unit text not null check (claim_limit_unit in ('WORKING_DAYS', 'CALENDAR_DAYS', 'MONTHS')),
         push_is_claim boolean not null,
         verification_months int not null check (verification_months > 0),
         created_at timestamptz not null,
         updated_at timestamptz not null,
         unique (item_code, region_code)
       )`,
      `create table linkage_route_history (
         change_id bigserial primary key,
         route_id text not null,
         action text not null check (action in ('create', 'update', 'delete')),
         department text not null,
         at timestamptz not null,
         before jsonb,
         after jsonb
       )`,
      `create index linkage_route_history_route on linkage_route_history (route_id, change_id)`,
      // The history is evidence: rows are inserted, never changed or removed.
      `create function linkage_route_history_insert_only() returns trigger language plpgsql as $fn$
       begin
         raise exception 'linkage_route_history is insert-only (% refused)', tg_op using errcode = 'SG101';
       end
       $fn$`,
      `create trigger linkage_route_history_insert_only before update or delete on linkage_route_history
         for each row execute function linkage_route_history_insert_only()`,
      `create table if not exists calendar_years (
         year int primary key,
         calendar jsonb not null,
         revision int not null default 1,
         loaded_by text not null,
         loaded_at timestamptz not null
       )`,
      `insert into calendar_years (year, calendar, loaded_by, loaded_at)
         values (2026, '${JSON.stringify(calendar2026).replaceAll("'", "''")}'::jsonb, 'migration', now())
         on conflict (year) do nothing`,

      // One row per granted licence. status is derived from the facts, so
      // applying them in any order gives the same answer.
      `create table linkage_handoffs (
         handoff_id text primary key,
         licence_id text unique,
         case_id text,
         holder_name text,
         holder_uscc text,
         holder_id_hash text,
         item_code text,
         item_name text,
         region_code text,
         approval_authority text,
         decision_date text check (decision_date ${DATE}),
         under_commitment boolean,
         subject text,
         regulator text,
         pushed_at timestamptz,
         pushed_on text check (pushed_on ${DATE}),
         claim_limit_amount int,
         claim_limit_unit text,
         claim_due text check (claim_due ${DATE}),
         auto_claimed boolean,
         verification_due text check (verification_due ${DATE}),
         claimed_at timestamptz,
         claimed_on_time boolean,
         claim_automatic boolean,
         unrouted_at timestamptz,
         unrouted_reason text,
         held_reason text,
         first_feedback_at timestamptz,
         first_result_at timestamptz,
         verified_at timestamptz,
         closed_at timestamptz,
         closed_by text,
         status text generated always as (
           case
             when closed_at is not null then 'closed'
             when first_result_at is not null then 'fed_back'
             when first_feedback_at is not null then 'supervising'
             when claimed_at is not null then 'claimed'
             when pushed_at is not null then 'pushed'
             when held_reason is not null then 'held'
             when unrouted_at is not null then 'unrouted'
             else 'granted'
           end) stored
       )`,
      `create index linkage_handoffs_status on linkage_handoffs (status)`,
      `create index linkage_handoffs_regulator on linkage_handoffs (regulator, status)`,
      `create index linkage_handoffs_pushed_on on linkage_handoffs (pushed_on)`,

      `create table linkage_deadlines (
         deadline_id text primary key,
         kind text not null check (kind in ('CLAIM', 'COMMITMENT_VERIFICATION', 'REVOCATION_DECISION', 'SUPPLEMENT', 'RECTIFICATION')),
         subject_ref text not null,
         case_id text not null,
         licence_id text,
         subject text not null,
         responsible_department text not null,
         start_date text not null check (start_date ${DATE}),
         limit_amount int not null,
         limit_unit text not null,
         fixed_due text check (fixed_due ${DATE}),
         due_date text check (due_date ${DATE}),
         yellow_from text check (yellow_from ${DATE}),
         red_from text check (red_from ${DATE}),
         cards_error text,
         status text not null default 'open' check (status in ('open', 'warned', 'breached', 'met', 'cancelled')),
         opened_at timestamptz not null,
         met_at timestamptz,
         met_by text,
         warned_at timestamptz,
         breached_at timestamptz
       )`,
      `create index linkage_deadlines_due on linkage_deadlines (status, yellow_from, red_from)`,
      `create index linkage_deadlines_licence on linkage_deadlines (licence_id)`,
      // What happened to a deadline (met, due moved), kept even when it
      // arrives before the deadline is opened; settleDeadline folds them in.
      `create table linkage_deadline_facts (
         event_id text primary key,
         deadline_id text not null,
         fact text not null check (fact in ('met', 'moved')),
         at timestamptz not null,
         due text check (due ${DATE}),
         by text not null
       )`,
      `create index linkage_deadline_facts_deadline on linkage_deadline_facts (deadline_id)`,
      // The cards in the deadline-<id> stream: the timer's own appends and
      // their echoes from Kafka, one row per event. Their count is the
      // stream's next expected revision.
      `create table linkage_deadline_cards (
         event_id text primary key,
         deadline_id text not null,
         card text not null check (card in ('WARNED', 'BREACHED')),
         at timestamptz not null
       )`,
      `create index linkage_deadline_cards_deadline on linkage_deadline_cards (deadline_id)`,

      // Feedback to approval: every supervision, enforcement or credit
      // outcome. Rows without a licence_id (a credit record, a penalty
      // without licence) reach a licence through source_ref → ref chains.
      `create table linkage_feedback (
         event_id text primary key,
         event_type text not null,
         licence_id text,
         case_id text,
         handoff_id text,
         ref text not null,
         source_ref text,
         kind text not null,
         result boolean not null,
         summary text not null,
         department text not null,
         at timestamptz not null
       )`,
      `create index linkage_feedback_licence on linkage_feedback (licence_id, at)`,
      `create index linkage_feedback_source_ref on linkage_feedback (source_ref)`,

      `create table linkage_credit_records (
         record_id text primary key,
         holder_uscc text not null,
         holder_name text not null,
         kind text not null,
         severity text not null,
         bars_commitment boolean not null,
         source_ref text,
         publishing_department text not null,
         summary text not null,
         published_at timestamptz not null,
         public_until text
       )`,
      `create index linkage_credit_records_holder on linkage_credit_records (holder_uscc)`,
      `create index linkage_credit_records_source_ref on linkage_credit_records (source_ref)`,
      `create table linkage_credit_repairs (
         record_id text primary key,
         holder_uscc text not null,
         repairing_department text not null,
         basis text not null,
         repaired_at timestamptz not null
       )`,
      // A false commitment bars 告知承诺 at once, before the credit platform's record arrives.
      `create table linkage_commitment_breaches (
         verification_id text primary key,
         licence_id text not null,
         case_id text not null,
         holder_uscc text,
         regulator text not null,
         findings text not null,
         verified_at timestamptz not null
       )`,
      `create index linkage_commitment_breaches_holder on linkage_commitment_breaches (holder_uscc)`,
      `create index linkage_commitment_breaches_licence on linkage_commitment_breaches (licence_id)`,
    ],
  },
  {
    version: 2,
    name: "ids of the events linkage appended and already applied (their Kafka echoes are skipped)",
    statements: [
      // Not a read model of its own: a row lives from the append until its echo arrives.
      // Truncated by a rebuild (rebuildLinkage), so replayed echoes are applied again.
      `create table linkage_emitted (
         event_id text primary key
       )`,
    ],
  },
  {
    version: 3,
    name: "a version of the routes, new on every change, so a consumer chunk may reuse the routes it read before",
    statements: [
      // One row. A fresh random value, not a counter: a schema dropped and made again must not repeat a version a
      // process still holds routes for. Statement triggers: a change of any number of routes is one bump.
      `create table linkage_routes_version (
         one boolean primary key default true check (one),
         version text not null
       )`,
      `insert into linkage_routes_version (version) values (gen_random_uuid()::text)`,
      `create function linkage_routes_changed() returns trigger language plpgsql as $fn$
       begin
         update linkage_routes_version set version = gen_random_uuid()::text;
         return null;
       end
       $fn$`,
      `create trigger linkage_routes_changed after insert or update or delete or truncate on linkage_routes
         for each statement execute function linkage_routes_changed()`,
    ],
  },
];

/** The ids of events the projection or the timer appended and applied in the same transaction: their echoes are no-ops. */
export const EMITTED_TABLE = "linkage_emitted";

/** Creates or upgrades the linkage tables (and the consumer's offset tables are the consumer's). Idempotent; safe from several processes. */
export async function migrateLinkage(sql: SqlExecutor): Promise<void> {
  await sql.transaction(async (tx) => {
    await tx.query(`select pg_advisory_xact_lock(hashtext('linkage_migrations:' || coalesce(current_schema(), '')))`);
    await tx.query(
      `create table if not exists linkage_migrations (
         version int primary key,
         name text not null,
         applied_at timestamptz not null default now()
       )`,
    );
    const { rows } = await tx.query<{ version: number }>(`select version from linkage_migrations`);
    const applied = new Set(rows.map((r) => Number(r.version)));
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      for (const statement of migration.statements) await tx.query(statement);
      await tx.query(`insert into linkage_migrations (version, name) values ($1, $2)`, [migration.version, migration.name]);
    }
  });
}
