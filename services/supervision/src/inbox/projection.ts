import type { EventName, EventPayloads } from "@shenguan/contracts";
import type { WithQueries } from "@shenguan/eventstore";
import type { Queryable } from "@shenguan/service-kit";

/**
 * A decoded contract event; the consumer's ConsumedEvent fits (extra fields are ignored). `ce.id`, when given, is
 * kept with a push: the regulator's handoff stream names it as the cause of its first event.
 */
export type InboxEvent = {
  [N in EventName]: { readonly name: N; readonly payload: EventPayloads[N]; readonly ce?: { readonly id: string } };
}[EventName];

export const inboxStatuses = ["pushed", "claimed", "supervising", "fed_back", "closed"] as const;

/** The inbox's consumer, by its name in consumer_offsets and consumer_inbox: what a rebuild resets. */
export const INBOX_PROJECTION = "supervision-inbox";
/** The inbox's tables (migrateInbox): what a rebuild empties. */
export const INBOX_TABLES = ["supervision_inbox_handoffs", "supervision_inbox_activity", "supervision_inbox_licence_ends"] as const;
export type InboxStatus = (typeof inboxStatuses)[number];

/**
 * The regulators' inbox, over three tables so that the order in which the
 * linkage, supervision and approval topics are consumed does not matter:
 * - supervision_inbox_handoffs: one row per pushed handoff (and its claim), with
 *   the push as linkage published it (`push`, `push_event_id`): the regulator's
 *   handoff stream begins from it when the regulator first acts (SupervisionService);
 * - supervision_inbox_activity: what the regulator did with a licence, per
 *   (licence, regulator), since most supervision contracts carry no handoff id;
 * - supervision_inbox_licence_ends: licences cancelled or revoked upstream.
 * The view derives the status, the furthest step reached, mirroring the
 * linkage lifecycle: closed once the licence ended; fed_back once a concluded
 * result went back to the approval bureau (an inspection needing no
 * rectification, a completed rectification round, a commitment verification,
 * a transfer to enforcement, a revocation request); supervising once any
 * supervision event exists (e.g. a rectification round still open); claimed;
 * pushed.
 *
 * Idempotent and safe from several processes at once: one DO block, under an
 * advisory lock, in its own transaction.
 */
export async function migrateInbox(db: Queryable): Promise<void> {
  await db.query(`
    do $$
    begin
      perform pg_advisory_xact_lock(hashtext('shenguan_supervision_inbox'));
      create table if not exists supervision_inbox_handoffs (
        handoff_id text primary key,
        case_id text,
        licence_id text not null,
        holder_name text,
        holder_uscc text,
        item_code text,
        region_code text,
        regulator text not null,
        approval_authority text,
        pushed_at bigint,
        claim_due date not null,
        auto_claimed boolean not null default false,
        under_commitment boolean,
        verification_due date,
        claimed_at bigint,
        claimed_on_time boolean
      );
      alter table supervision_inbox_handoffs add column if not exists push jsonb, add column if not exists push_event_id text;
      create index if not exists supervision_inbox_handoffs_regulator on supervision_inbox_handoffs (regulator, claim_due);
      create index if not exists supervision_inbox_handoffs_licence on supervision_inbox_handoffs (licence_id);
      create table if not exists supervision_inbox_activity (
        licence_id text not null,
        regulator text not null,
        inspections int not null default 0,
        rectification_rounds int not null default 0,
        open_round int,
        commitment_truthful boolean,
        transfers int not null default 0,
        revocation_requests int not null default 0,
        concluded boolean not null default false,
        primary key (licence_id, regulator)
      );
      create table if not exists supervision_inbox_licence_ends (
        licence_id text primary key,
        ended text not null,
        decision_date date not null
      );
      -- h's columns by name: the push kept for the handoff's stream is not the inbox's to show, and a view made
      -- with h.* before the push's columns came could not be replaced by one with them (a view's columns only grow at the end).
      create or replace view supervision_inbox as
        select h.handoff_id, h.case_id, h.licence_id, h.holder_name, h.holder_uscc, h.item_code, h.region_code, h.regulator,
               h.approval_authority, h.pushed_at, h.claim_due, h.auto_claimed, h.under_commitment, h.verification_due,
               h.claimed_at, h.claimed_on_time,
               coalesce(a.inspections, 0) as inspections,
               coalesce(a.rectification_rounds, 0) as rectification_rounds,
               a.open_round,
               a.commitment_truthful,
               coalesce(a.transfers, 0) as transfers,
               coalesce(a.revocation_requests, 0) as revocation_requests,
               e.ended,
               case
                 when e.licence_id is not null then 'closed'
                 when a.concluded then 'fed_back'
                 when a.licence_id is not null then 'supervising'
                 when h.claimed_at is not null or h.auto_claimed then 'claimed'
                 else 'pushed'
               end as status
          from supervision_inbox_handoffs h
          left join supervision_inbox_activity a on a.licence_id = h.licence_id and a.regulator = h.regulator
          left join supervision_inbox_licence_ends e on e.licence_id = h.licence_id;
    end
    $$`);
}

/**
 * The events projectInbox acts on: the consumer passes over the rest of its
 * topics undecoded (a unit test checks every other event is a no-op here).
 */
export const INBOX_EVENTS = [
  "HandoffPushed",
  "HandoffClaimed",
  "InspectionRecorded",
  "RectificationOrdered",
  "RectificationCompleted",
  "CommitmentVerified",
  "TransferredToEnforcement",
  "RevocationRequested",
  "LicenceCancelled",
  "LicenceRevoked",
] as const satisfies readonly EventName[];

/**
 * Applies one contract event to the inbox through `tx`, the consumer's
 * transaction that also stores the offset (exactly-once). Other events are
 * ignored (see INBOX_EVENTS). Pushes and
 * claims are idempotent upserts; counters rely on the consumer's ce_id inbox.
 */
export async function projectInbox(event: InboxEvent, tx: Queryable): Promise<void> {
  switch (event.name) {
    case "HandoffPushed": {
      const p = event.payload;
      await tx.query(
        UPSERT_PUSHES(`values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16)`),
        pushColumns([p], [event.ce?.id ?? null]).map(([values]) => values),
      );
      return;
    }
    case "HandoffClaimed": {
      // The claim may be consumed before the push: the row starts from what the claim knows.
      const p = event.payload;
      await tx.query(
        `insert into supervision_inbox_handoffs (handoff_id, licence_id, regulator, claim_due, claimed_at, claimed_on_time)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (handoff_id) do update set claimed_at = excluded.claimed_at, claimed_on_time = excluded.claimed_on_time`,
        [p.handoffId, p.licenceId, p.regulator, p.claimDue, p.claimedAt, p.onTime],
      );
      return;
    }
    case "InspectionRecorded":
      // An inspection that calls for rectification is not a concluded result yet.
      return activity(tx, event.payload, `inspections = a.inspections + 1, concluded = a.concluded or $3`, [
        event.payload.rectificationDue === null,
      ]);
    case "RectificationOrdered":
      return activity(tx, event.payload, `rectification_rounds = greatest(a.rectification_rounds, $3), open_round = $3`, [
        event.payload.round,
      ]);
    case "RectificationCompleted":
      return activity(tx, event.payload, `open_round = nullif(a.open_round, $3), concluded = true`, [event.payload.round]);
    case "CommitmentVerified":
      return activity(tx, event.payload, `commitment_truthful = $3, concluded = true`, [event.payload.truthful]);
    case "TransferredToEnforcement":
      return activity(tx, event.payload, `transfers = a.transfers + 1, concluded = true`, []);
    case "RevocationRequested":
      return activity(tx, event.payload, `revocation_requests = a.revocation_requests + 1, concluded = true`, []);
    case "LicenceCancelled":
    case "LicenceRevoked": {
      const p = event.payload;
      await tx.query(
        `insert into supervision_inbox_licence_ends (licence_id, ended, decision_date) values ($1, $2, $3) on conflict (licence_id) do nothing`,
        [p.licenceId, event.name === "LicenceCancelled" ? "cancelled" : "revoked", p.decisionDate],
      );
      return;
    }
    default:
      return;
  }
}

type Pushed = Extract<InboxEvent, { name: "HandoffPushed" }>["payload"];

const PUSH_COLUMNS = `handoff_id, case_id, licence_id, holder_name, holder_uscc, item_code, region_code, regulator, approval_authority,
  pushed_at, claim_due, auto_claimed, under_commitment, verification_due, push, push_event_id`;
/** PUSH_COLUMNS selected from unnestPushes: the push travels as JSON text (an array of jsonb is not sent alike by every driver). */
const SELECT_PUSHES = PUSH_COLUMNS.replace("push,", "push::jsonb,");

/** The pushes' values in PUSH_COLUMNS' order, each column with its SQL type: one upsert for one push or many. */
const pushColumns = (pushes: readonly Pushed[], eventIds: readonly (string | null)[]) =>
  [
    pushes.map((p) => p.handoffId),
    pushes.map((p) => p.caseId),
    pushes.map((p) => p.licenceId),
    pushes.map((p) => p.holderName),
    pushes.map((p) => p.holderUscc),
    pushes.map((p) => p.itemCode),
    pushes.map((p) => p.regionCode),
    pushes.map((p) => p.regulator),
    pushes.map((p) => p.approvalAuthority),
    pushes.map((p) => p.pushedAt),
    pushes.map((p) => p.claimDue),
    pushes.map((p) => p.autoClaimed),
    pushes.map((p) => p.underCommitment),
    pushes.map((p) => p.verificationDue),
    pushes.map((p) => JSON.stringify(p)),
    eventIds,
  ] as const;
const PUSH_TYPES = [
  ...["text", "text", "text", "text", "text", "text", "text", "text", "text", "bigint", "date", "boolean", "boolean", "date"],
  ...["text", "text"],
];

/** The pushes' upsert, `rows` giving PUSH_COLUMNS (VALUES or a SELECT): a push's facts replace an earlier push's. */
const UPSERT_PUSHES = (rows: string) => `insert into supervision_inbox_handoffs (${PUSH_COLUMNS})
  ${rows}
  on conflict (handoff_id) do update set
    case_id = excluded.case_id, licence_id = excluded.licence_id, holder_name = excluded.holder_name, holder_uscc = excluded.holder_uscc,
    item_code = excluded.item_code, region_code = excluded.region_code, regulator = excluded.regulator,
    approval_authority = excluded.approval_authority, pushed_at = excluded.pushed_at, claim_due = excluded.claim_due,
    auto_claimed = excluded.auto_claimed, under_commitment = excluded.under_commitment, verification_due = excluded.verification_due,
    push = excluded.push, push_event_id = excluded.push_event_id`;

/** unnest of the push columns from parameter `first` on, as PUSH_COLUMNS (and `extra` more text columns after them). */
const unnestPushes = (first: number, extra: readonly string[] = []) =>
  `unnest(${[...PUSH_TYPES, ...extra.map(() => "text")].map((t, i) => `$${first + i}::${t}[]`).join(", ")}) as u(${PUSH_COLUMNS}${extra.map((c) => `, ${c}`).join("")})`;

/**
 * A consumer chunk of pushes of distinct handoffs as one statement's WITH
 * query (the consumer's chunkStatement): the upsert takes the pushes whose
 * ce_id the consumer's `claimed` query claimed, so the chunk, its claims and
 * its offset are one round trip with no transaction. Any other chunk:
 * undefined (projectInboxChunk).
 */
export function inboxChunkStatement(
  events: readonly (InboxEvent & { readonly ce: { readonly id: string } })[],
  at: { readonly claimed: string; readonly firstParam: number },
): WithQueries | undefined {
  const pushes: Pushed[] = [];
  for (const e of events) {
    if (e.name !== "HandoffPushed") return undefined;
    pushes.push(e.payload);
  }
  if (new Set(pushes.map((p) => p.handoffId)).size !== pushes.length) return undefined;
  const eventIds = events.map((e) => e.ce.id);
  return {
    with: `supervision_inbox_pushed as (${UPSERT_PUSHES(
      `select ${SELECT_PUSHES} from ${unnestPushes(at.firstParam, ["ce_id"])} where u.ce_id in (select ce_id from ${at.claimed})`,
    )})`,
    params: [...pushColumns(pushes, eventIds), eventIds],
  };
}

/**
 * projectInbox for a consumer chunk: each run of consecutive pushes is one
 * upsert (unnest of the run's columns), everything else goes through
 * projectInbox in order. The same handoff pushed twice in a run keeps its
 * last push, as one upsert after the other would.
 */
export async function projectInboxChunk(events: readonly InboxEvent[], tx: Queryable): Promise<void> {
  let run = new Map<string, { push: Pushed; eventId: string | null }>();
  const flush = async () => {
    if (run.size === 0) return;
    const pushes = [...run.values()];
    run = new Map();
    await tx.query(UPSERT_PUSHES(`select ${SELECT_PUSHES} from ${unnestPushes(1)}`), [
      ...pushColumns(
        pushes.map((p) => p.push),
        pushes.map((p) => p.eventId),
      ),
    ]);
  };
  for (const event of events) {
    if (event.name === "HandoffPushed") {
      run.delete(event.payload.handoffId);
      run.set(event.payload.handoffId, { push: event.payload, eventId: event.ce?.id ?? null });
      continue;
    }
    await flush();
    await projectInbox(event, tx);
  }
  await flush();
}

/** Upserts the (licence, regulator) activity row, then applies `set` (parameters from $3) to it. */
async function activity(tx: Queryable, about: { licenceId: string; regulator: string }, set: string, params: unknown[]): Promise<void> {
  await tx.query(`insert into supervision_inbox_activity (licence_id, regulator) values ($1, $2) on conflict do nothing`, [
    about.licenceId,
    about.regulator,
  ]);
  await tx.query(`update supervision_inbox_activity a set ${set} where a.licence_id = $1 and a.regulator = $2`, [
    about.licenceId,
    about.regulator,
    ...params,
  ]);
}

/** A push as the regulators' inbox received it, with the id of the event that carried it. */
export interface ReceivedPush {
  readonly push: Pushed;
  readonly eventId: string | null;
}

/** The push of a handoff, if the inbox has taken it in (a row made by a claim consumed first has none yet). */
export async function pushOf(db: Queryable, handoffId: string): Promise<ReceivedPush | undefined> {
  const { rows } = await db.query<{ push: Pushed; push_event_id: string | null }>(
    `select push, push_event_id from supervision_inbox_handoffs where handoff_id = $1 and push is not null`,
    [handoffId],
  );
  const row = rows[0];
  return row && { push: row.push, eventId: row.push_event_id };
}

export interface InboxFilter {
  readonly regulator: string;
  readonly status?: InboxStatus | undefined;
  /** Claim due strictly before this date. */
  readonly claimDueBefore?: string | undefined;
  /** 1-based. */
  readonly page: number;
  readonly pageSize: number;
}

export interface InboxItem {
  readonly handoffId: string;
  readonly caseId: string | null;
  readonly licenceId: string;
  readonly holderName: string | null;
  readonly holderUscc: string | null;
  readonly itemCode: string | null;
  readonly regionCode: string | null;
  readonly regulator: string;
  readonly approvalAuthority: string | null;
  readonly pushedAt: number | null;
  readonly claimDue: string;
  readonly status: InboxStatus;
  readonly claimedAt: number | null;
  readonly claimedOnTime: boolean | null;
  readonly autoClaimed: boolean;
  readonly underCommitment: boolean | null;
  readonly verificationDue: string | null;
  readonly inspections: number;
  readonly rectificationRounds: number;
  readonly openRound: number | null;
  readonly commitmentTruthful: boolean | null;
  readonly transfers: number;
  readonly revocationRequests: number;
  readonly ended: "cancelled" | "revoked" | null;
}

/** One page of a regulator's inbox, the claims due soonest first. */
export async function queryInbox(
  db: Queryable,
  filter: InboxFilter,
): Promise<{ items: InboxItem[]; total: number; page: number; pageSize: number }> {
  const where = `where regulator = $1 and ($2::text is null or status = $2) and ($3::date is null or claim_due < $3::date)`;
  const params = [filter.regulator, filter.status ?? null, filter.claimDueBefore ?? null];
  // Dates and int8 are read as text (and int8 turned into numbers here): node-postgres and PGlite parse them differently.
  const [page, count] = await Promise.all([
    db.query<Record<string, unknown>>(
      `select handoff_id as "handoffId", case_id as "caseId", licence_id as "licenceId", holder_name as "holderName",
              holder_uscc as "holderUscc", item_code as "itemCode", region_code as "regionCode", regulator,
              approval_authority as "approvalAuthority", pushed_at::text as "pushedAt", claim_due::text as "claimDue", status,
              claimed_at::text as "claimedAt", claimed_on_time as "claimedOnTime", auto_claimed as "autoClaimed",
              under_commitment as "underCommitment", verification_due::text as "verificationDue", inspections,
              rectification_rounds as "rectificationRounds", open_round as "openRound", commitment_truthful as "commitmentTruthful",
              transfers, revocation_requests as "revocationRequests", ended
         from supervision_inbox ${where}
        order by claim_due, handoff_id
        limit $4 offset $5`,
      [...params, filter.pageSize, (filter.page - 1) * filter.pageSize],
    ),
    db.query<{ total: string | number }>(`select count(*) as total from supervision_inbox ${where}`, params),
  ]);
  const items = page.rows.map((r) => ({
    ...r,
    pushedAt: r["pushedAt"] === null ? null : Number(r["pushedAt"]),
    claimedAt: r["claimedAt"] === null ? null : Number(r["claimedAt"]),
  })) as unknown as InboxItem[];
  return { items, total: Number(count.rows[0]?.total ?? 0), page: filter.page, pageSize: filter.pageSize };
}
