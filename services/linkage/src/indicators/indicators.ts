import type { SqlQueryable } from "@shenguan/eventstore";

export type IndicatorGrouping = "department" | "item" | "region" | "all";

/** Domain step 10 for one group (a regulator, an item or a region) and period. Rates are null when nothing was there to count. */
export interface Indicators {
  /** The regulator's department code, the item code or the region code; null for the whole set. */
  readonly group: string | null;
  readonly pushes: number;
  readonly claimed: number;
  readonly claimedOnTime: number;
  readonly fedBack: number;
  readonly closedLoop: number;
  readonly dueForVerification: number;
  readonly verified: number;
  /** 认领率: claimed / pushes. */
  readonly claimRate: number | null;
  /** 按时认领率: claimed within the claim limit / pushes. */
  readonly onTimeClaimRate: number | null;
  /** 反馈率: pushes about which any supervision or enforcement information came back / pushes. */
  readonly feedbackRate: number | null;
  /** 核查率: verified / commitments whose verification is due (or done). */
  readonly verificationRate: number | null;
  /** 闭环率: pushes whose supervision result came back / pushes. */
  readonly closedLoopRate: number | null;
  /** Deadlines started in the period that hold a yellow card now. */
  readonly openYellowCards: number;
  /** Deadlines started in the period that hold a red card now. */
  readonly openRedCards: number;
}

// Whitelisted group expressions: the only SQL that depends on the request.
const HANDOFF_GROUP: Record<IndicatorGrouping, string> = {
  department: "h.regulator",
  item: "h.item_code",
  region: "h.region_code",
  all: "''",
};
const DEADLINE_GROUP: Record<IndicatorGrouping, string> = {
  department: "d.responsible_department",
  item: "h.item_code",
  region: "h.region_code",
  all: "''",
};

/**
 * Computed in SQL from the read models: pushes in [from, to] (local push
 * dates) with what became of them, and the cards of deadlines started in
 * that period (a cohort), with what became of them as of `asOf` (today),
 * which also decides which verifications are due.
 */
export async function indicators(
  db: SqlQueryable,
  query: { groupBy: IndicatorGrouping; from?: string | undefined; to?: string | undefined; asOf: string },
): Promise<Indicators[]> {
  const from = query.from ?? "0001-01-01";
  const to = query.to ?? "9999-12-31";
  const { rows } = await db.query<Record<string, unknown>>(
    `with pushes as (
       select coalesce(${HANDOFF_GROUP[query.groupBy]}, '') as grp,
              count(*) as pushes,
              count(*) filter (where h.claimed_at is not null) as claimed,
              count(*) filter (where h.claimed_at is not null and h.claimed_on_time) as claimed_on_time,
              count(*) filter (where h.first_feedback_at is not null) as fed_back,
              count(*) filter (where h.first_result_at is not null) as closed_loop,
              count(*) filter (where h.verification_due is not null and (h.verified_at is not null or h.verification_due <= $3)) as due_for_verification,
              count(*) filter (where h.verification_due is not null and h.verified_at is not null) as verified
         from linkage_handoffs h
        where h.pushed_at is not null and h.pushed_on between $1 and $2
        group by 1
     ), cards as (
       select coalesce(${DEADLINE_GROUP[query.groupBy]}, '') as grp,
              count(*) filter (where d.status = 'warned') as yellow,
              count(*) filter (where d.status = 'breached') as red
         from linkage_deadlines d left join linkage_handoffs h on h.licence_id = d.licence_id
        where d.start_date between $1 and $2
        group by 1
     )
     select coalesce(p.grp, c.grp) as grp,
            coalesce(p.pushes, 0)::int as pushes,
            coalesce(p.claimed, 0)::int as claimed,
            coalesce(p.claimed_on_time, 0)::int as claimed_on_time,
            coalesce(p.fed_back, 0)::int as fed_back,
            coalesce(p.closed_loop, 0)::int as closed_loop,
            coalesce(p.due_for_verification, 0)::int as due_for_verification,
            coalesce(p.verified, 0)::int as verified,
            p.claimed::float8 / nullif(p.pushes, 0) as claim_rate,
            p.claimed_on_time::float8 / nullif(p.pushes, 0) as on_time_claim_rate,
            p.fed_back::float8 / nullif(p.pushes, 0) as feedback_rate,
            p.verified::float8 / nullif(p.due_for_verification, 0) as verification_rate,
            p.closed_loop::float8 / nullif(p.pushes, 0) as closed_loop_rate,
            coalesce(c.yellow, 0)::int as open_yellow_cards,
            coalesce(c.red, 0)::int as open_red_cards
       from pushes p full join cards c on p.grp = c.grp
      order by 1`,
    [from, to, query.asOf],
  );
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return rows.map((r) => ({
    group: query.groupBy === "all" || r["grp"] === "" ? null : String(r["grp"]),
    pushes: Number(r["pushes"]),
    claimed: Number(r["claimed"]),
    claimedOnTime: Number(r["claimed_on_time"]),
    fedBack: Number(r["fed_back"]),
    closedLoop: Number(r["closed_loop"]),
    dueForVerification: Number(r["due_for_verification"]),
    verified: Number(r["verified"]),
    claimRate: num(r["claim_rate"]),
    onTimeClaimRate: num(r["on_time_claim_rate"]),
    feedbackRate: num(r["feedback_rate"]),
    verificationRate: num(r["verification_rate"]),
    closedLoopRate: num(r["closed_loop_rate"]),
    openYellowCards: Number(r["open_yellow_cards"]),
    openRedCards: Number(r["open_red_cards"]),
  }));
}
