import type { Limit } from "@shenguan/contracts";
import { DomainRefusal } from "@shenguan/eventstore";
import { NotFoundError } from "@shenguan/service-kit";
import type { SqlQueryable } from "@shenguan/eventstore";

/** One line of the 审管职责清单: who supervises this item in this region, and on what terms. */
export interface Route {
  readonly routeId: string;
  readonly itemCode: string;
  /** 6 or 12 digits; a 12-digit code of a whole county (…000000) is kept in its 6-digit form. */
  readonly regionCode: string;
  /** Department code of the responsible regulator. */
  readonly regulator: string;
  readonly claimLimit: Limit;
  /** 推送即认领: the push counts as the claim. */
  readonly pushIsClaim: boolean;
  /** 告知承诺事后核查 within this many months of the decision. */
  readonly verificationMonths: number;
}

export type RouteFields = Omit<Route, "routeId">;

export const DEFAULT_CLAIM_LIMIT: Limit = { amount: 5, unit: "WORKING_DAYS" };
export const DEFAULT_VERIFICATION_MONTHS = 3;

/** A 12-digit code whose township and village parts are zero names the county: keep the 6-digit form so both spellings find one route. */
export function normaliseRegion(code: string): string {
  return code.length === 12 && code.endsWith("000000") ? code.slice(0, 6) : code;
}

/**
 * The regions to try, most specific first: the 12-digit code itself, its
 * township (…000), its 6-digit county, the city (first 4 digits + 00), the
 * province (first 2 + 0000). Duplicates (a city-level code is its own
 * county) appear once.
 */
export function regionCandidates(regionCode: string): string[] {
  const code = normaliseRegion(regionCode);
  const out: string[] = [];
  if (code.length === 12) {
    out.push(code, `${code.slice(0, 9)}000`);
  }
  const county = code.slice(0, 6);
  out.push(county, `${county.slice(0, 4)}00`, `${county.slice(0, 2)}0000`);
  return [...new Set(out.map(normaliseRegion))];
}

/** The route that applies: the one of the most specific candidate region that has one. Pure, for the lookup order's own tests. */
export function pickRoute<R extends { regionCode: string }>(routes: readonly R[], regionCode: string): R | undefined {
  for (const candidate of regionCandidates(regionCode)) {
    const hit = routes.find((r) => r.regionCode === candidate);
    if (hit) return hit;
  }
  return undefined;
}

interface RouteRow {
  route_id: string;
  item_code: string;
  region_code: string;
  regulator: string;
  claim_limit_amount: number;
  claim_limit_unit: Limit["unit"];
  push_is_claim: boolean;
  verification_months: number;
}

const ROUTE_COLUMNS = `route_id, item_code, region_code, regulator, claim_limit_amount, claim_limit_unit, push_is_claim, verification_months`;

function toRoute(r: RouteRow): Route {
  return {
    routeId: r.route_id,
    itemCode: r.item_code,
    regionCode: r.region_code,
    regulator: r.regulator,
    claimLimit: { amount: Number(r.claim_limit_amount), unit: r.claim_limit_unit },
    pushIsClaim: r.push_is_claim,
    verificationMonths: Number(r.verification_months),
  };
}

/** The routes' version as a scalar subquery: a statement that returns it says which routes were current for it. */
export const ROUTES_VERSION_SQL = `(select version from linkage_routes_version)`;

/** The route for an item in a region, searching from the most specific region to the province. */
export async function lookupRoute(db: SqlQueryable, itemCode: string, regionCode: string): Promise<Route | undefined> {
  return (await lookupRoutes(db, [{ itemCode, regionCode }])).routes.get(routeKeyOf(itemCode, regionCode));
}

/** The key lookupRoutes answers by: an item code and a region code. */
export const routeKeyOf = (itemCode: string, regionCode: string): string => `${itemCode}\u0000${regionCode}`;

/**
 * lookupRoute for every (item, region) pair a consumer chunk needs, in one
 * statement however many there are: a chunk of a city's grants spans many
 * items and regions, and a look-up each was a round trip each in the
 * transaction the loop's latency waits on. By routeKeyOf; with them the
 * routes' version the statement saw (undefined when nothing was looked up).
 */
export async function lookupRoutes(
  db: SqlQueryable,
  keys: ReadonlyArray<{ readonly itemCode: string; readonly regionCode: string }>,
): Promise<{ readonly routes: Map<string, Route | undefined>; readonly version: string | undefined }> {
  const found = new Map<string, Route | undefined>();
  const wanted = new Map(keys.map((k) => [routeKeyOf(k.itemCode, k.regionCode), k]));
  if (wanted.size === 0) return { routes: found, version: undefined };
  const pairs = [
    ...new Map(
      [...wanted.values()].flatMap((k) =>
        regionCandidates(k.regionCode).map((region) => [routeKeyOf(k.itemCode, region), [k.itemCode, region]] as const),
      ),
    ).values(),
  ];
  const { rows } = await db.query<RouteRow & { routes_version: string }>(
    // A probe of the unique key per pair (the limit keeps the planner from turning it into a join it may hash);
    // the version on every row, and on a row of its own (its route columns null) when no pair has a route.
    `select v.routes_version, r.* from (select ${ROUTES_VERSION_SQL} as routes_version) v
     left join lateral (select found.* from unnest($1::text[], $2::text[]) as k(item_code, region_code)
       cross join lateral (select ${ROUTE_COLUMNS} from linkage_routes l where l.item_code = k.item_code and l.region_code = k.region_code limit 1) found) r on true`,
    [pairs.map(([item]) => item), pairs.map(([, region]) => region)],
  );
  const routes = rows.filter((r) => r.route_id !== null).map(toRoute);
  for (const [key, k] of wanted) {
    found.set(
      key,
      pickRoute(
        routes.filter((r) => r.itemCode === k.itemCode),
        k.regionCode,
      ),
    );
  }
  return { routes: found, version: rows[0]?.routes_version };
}

/**
 * Routes a linkage process looked up, reused while the routes' version (a
 * trigger makes a new one on every change of linkage_routes, whoever makes
 * it) is the one they were read at. A consumer chunk reads the version with
 * its grants' rows, in the statement it runs anyway, and looks up only the
 * pairs it has not seen at that version: the routes' own statement leaves
 * the chunk the loop's latency waits on, as the 审管职责清单 changes seldom.
 * A chunk may so use routes as of its first statement rather than a later
 * one, as any concurrent change could have landed either side of it.
 */
export class RouteCache {
  #version: string | undefined;
  readonly #routes = new Map<string, Route | undefined>();

  constructor(private readonly maxEntries = 10_000) {}

  /** The routes for `keys` (by routeKeyOf), as of `version` (read in `db`'s transaction; undefined: unknown, look everything up). */
  async lookup(
    db: SqlQueryable,
    keys: ReadonlyArray<{ readonly itemCode: string; readonly regionCode: string }>,
    version: string | undefined,
  ): Promise<Map<string, Route | undefined>> {
    if (version !== this.#version) this.#reset(undefined);
    const found = new Map<string, Route | undefined>();
    const missing: Array<{ readonly itemCode: string; readonly regionCode: string }> = [];
    for (const k of keys) {
      const key = routeKeyOf(k.itemCode, k.regionCode);
      if (this.#routes.has(key)) found.set(key, this.#routes.get(key));
      else missing.push(k);
    }
    if (missing.length === 0) return found;
    const looked = await lookupRoutes(db, missing);
    // Kept only under the version they were read at: a change between the two statements starts the cache again.
    if (looked.version !== this.#version) this.#reset(looked.version);
    if (this.#routes.size + looked.routes.size > this.maxEntries) this.#reset(looked.version);
    for (const [key, route] of looked.routes) {
      found.set(key, route);
      this.#routes.set(key, route);
    }
    return found;
  }

  #reset(version: string | undefined): void {
    this.#routes.clear();
    this.#version = version;
  }
}

export async function listRoutes(
  db: SqlQueryable,
  filter: { itemCode?: string | undefined; regionCode?: string | undefined; regulator?: string | undefined },
): Promise<Route[]> {
  const { rows } = await db.query<RouteRow>(
    `select ${ROUTE_COLUMNS} from linkage_routes
     where ($1::text is null or item_code = $1) and ($2::text is null or region_code = $2) and ($3::text is null or regulator = $3)
     order by item_code, region_code`,
    [filter.itemCode ?? null, filter.regionCode ? normaliseRegion(filter.regionCode) : null, filter.regulator ?? null],
  );
  return rows.map(toRoute);
}

async function routeById(db: SqlQueryable, routeId: string, lock = false): Promise<Route> {
  const { rows } = await db.query<RouteRow>(`select ${ROUTE_COLUMNS} from linkage_routes where route_id = $1${lock ? " for update" : ""}`, [
    routeId,
  ]);
  const row = rows[0];
  if (!row) throw new NotFoundError(`no route ${routeId}`);
  return toRoute(row);
}

async function record(
  db: SqlQueryable,
  routeId: string,
  action: "create" | "update" | "delete",
  by: ChangeBy,
  before: Route | null,
  after: Route | null,
) {
  await db.query(
    `insert into linkage_route_history (route_id, action, department, at, before, after) values ($1, $2, $3, $4, $5::jsonb, $6::jsonb)`,
    [routeId, action, by.department, by.at, before && JSON.stringify(before), after && JSON.stringify(after)],
  );
}

export interface ChangeBy {
  readonly department: string;
  readonly at: Date;
}

function duplicate(fields: RouteFields): DomainRefusal {
  return new DomainRefusal(
    "route.duplicate",
    `a route for item ${fields.itemCode} in region ${fields.regionCode} exists already: change it (PUT /routes/:id)`,
    "regionCode",
  );
}

/** Adds a route and records the change; run it in a transaction. */
export async function createRoute(db: SqlQueryable, routeId: string, fields: RouteFields, by: ChangeBy): Promise<Route> {
  const route: Route = { routeId, ...fields, regionCode: normaliseRegion(fields.regionCode) };
  const { rows } = await db.query(
    `insert into linkage_routes (${ROUTE_COLUMNS}, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
     on conflict do nothing returning route_id`,
    [
      route.routeId,
      route.itemCode,
      route.regionCode,
      route.regulator,
      route.claimLimit.amount,
      route.claimLimit.unit,
      route.pushIsClaim,
      route.verificationMonths,
      by.at,
    ],
  );
  if (rows.length === 0) throw duplicate(route);
  await record(db, routeId, "create", by, null, route);
  return route;
}

/** Replaces a route's fields and records before/after; run it in a transaction. */
export async function updateRoute(
  db: SqlQueryable,
  routeId: string,
  fields: RouteFields,
  by: ChangeBy,
): Promise<{ before: Route; after: Route }> {
  const before = await routeById(db, routeId, true);
  const after: Route = { routeId, ...fields, regionCode: normaliseRegion(fields.regionCode) };
  const clash = await db.query(`select 1 from linkage_routes where item_code = $1 and region_code = $2 and route_id <> $3`, [
    after.itemCode,
    after.regionCode,
    routeId,
  ]);
  if (clash.rows.length > 0) throw duplicate(after);
  await db.query(
    `update linkage_routes set item_code = $2, region_code = $3, regulator = $4, claim_limit_amount = $5, claim_limit_unit = $6,
       push_is_claim = $7, verification_months = $8, updated_at = $9 where route_id = $1`,
    [
      routeId,
      after.itemCode,
      after.regionCode,
      after.regulator,
      after.claimLimit.amount,
      after.claimLimit.unit,
      after.pushIsClaim,
      after.verificationMonths,
      by.at,
    ],
  );
  await record(db, routeId, "update", by, before, after);
  return { before, after };
}

/** Removes a route; its history stays. Handoffs already pushed keep their regulator. */
export async function deleteRoute(db: SqlQueryable, routeId: string, by: ChangeBy): Promise<Route> {
  const before = await routeById(db, routeId, true);
  await db.query(`delete from linkage_routes where route_id = $1`, [routeId]);
  await record(db, routeId, "delete", by, before, null);
  return before;
}

export interface RouteChange {
  readonly changeId: string;
  readonly routeId: string;
  readonly action: "create" | "update" | "delete";
  readonly department: string;
  readonly at: string;
  readonly before: Route | null;
  readonly after: Route | null;
}

export async function routeHistory(db: SqlQueryable, filter: { routeId?: string | undefined; limit: number }): Promise<RouteChange[]> {
  const { rows } = await db.query<{
    change_id: string | number;
    route_id: string;
    action: RouteChange["action"];
    department: string;
    at: Date;
    before: Route | null;
    after: Route | null;
  }>(
    `select change_id, route_id, action, department, at, before, after from linkage_route_history
     where ($1::text is null or route_id = $1) order by change_id desc limit $2`,
    [filter.routeId ?? null, filter.limit],
  );
  return rows.map((r) => ({
    changeId: String(r.change_id),
    routeId: r.route_id,
    action: r.action,
    department: r.department,
    at: new Date(r.at).toISOString(),
    before: r.before,
    after: r.after,
  }));
}
