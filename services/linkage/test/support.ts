/**
 * What the linkage tests share: a real database (PGlite in memory, or a
 * fresh PostgreSQL schema), the projection driven as the consumer drives it
 * (one transaction per event, or per chunk), and contract payloads built from sampleOf.
 */
import { PGlite } from "@electric-sql/pglite";
import { cloudEventTypeOf, sampleOf, sourceOf, type EventName, type EventPayloads } from "@shenguan/contracts";
import { ManualClock } from "@shenguan/service-kit";
import { databaseUrl } from "@shenguan/tests/harness/services";
import pg from "pg";
import { v7 as uuidv7 } from "uuid";
import { linkageContext, type LinkageContext } from "../src/context.js";
import {
  pgExecutor,
  pgliteExecutor,
  PostgresEventStore,
  type ConsumedEvent,
  type EventStore,
  type SqlExecutor,
} from "@shenguan/eventstore";
import { createLinkageProjection, type LinkageHandler } from "../src/projection.js";
import { createRoute } from "../src/routing/routes.js";
import { migrateLinkage } from "../src/schema.js";

export type DbKind = "pglite" | "postgres";

export interface TestDb {
  readonly kind: DbKind;
  readonly sql: SqlExecutor;
  readonly store: PostgresEventStore;
  close(): Promise<void>;
}

/** The event store and the linkage tables in one fresh database. */
export async function openTestDb(kind: DbKind): Promise<TestDb> {
  let sql: SqlExecutor;
  let drop = async () => {};
  if (kind === "pglite") {
    sql = pgliteExecutor(await PGlite.create());
  } else {
    const url = await databaseUrl();
    const schema = `linkage_${uuidv7().replaceAll("-", "")}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`create schema ${schema}`);
    await admin.end();
    sql = pgExecutor(new pg.Pool({ connectionString: url, max: 5, options: `-c search_path=${schema}` }));
    drop = async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`drop schema ${schema} cascade`);
      await client.end();
    };
  }
  const store = new PostgresEventStore(sql);
  await store.migrate();
  await migrateLinkage(sql);
  return {
    kind,
    sql,
    store,
    async close() {
      await store.close();
      await sql.close();
      await drop();
    },
  };
}

export interface Harness {
  readonly db: TestDb;
  readonly clock: ManualClock;
  readonly ctx: LinkageContext & { readonly sql: SqlExecutor };
  readonly handle: LinkageHandler;
  /** Delivers an event as the consumer does: one transaction, the handler inside it. */
  deliver(event: ConsumedEvent): Promise<void>;
  /** Delivers a chunk as the consumer does with handleChunk: one transaction for all of them. */
  deliverChunk(events: readonly ConsumedEvent[]): Promise<void>;
}

export function harness(db: TestDb, options: { start?: string; yellowShare?: number; store?: EventStore } = {}): Harness {
  const clock = new ManualClock(options.start ?? "2026-09-29T02:00:00Z");
  const ctx = {
    ...linkageContext({ store: options.store ?? db.store, clock, ...(options.yellowShare ? { yellowShare: options.yellowShare } : {}) }),
    sql: db.sql,
  };
  const handle = createLinkageProjection(ctx);
  return {
    db,
    clock,
    ctx,
    handle,
    deliver: (event) => db.sql.transaction((tx) => handle(event, tx)),
    deliverChunk: (events) => db.sql.transaction((tx) => handle.handleChunk(events, tx)),
  };
}

let offset = 0;

/** A decoded contract event as runProjectionConsumer hands it over. */
export function consumed<N extends EventName>(
  name: N,
  payload: EventPayloads[N],
  options: { id?: string; time?: string; department?: string; subject?: string } = {},
): ConsumedEvent {
  return {
    name,
    payload,
    ce: {
      id: options.id ?? uuidv7(),
      source: sourceOf(options.department ?? "350100-SPJ"),
      type: cloudEventTypeOf(name),
      specversion: "1.0",
      time: options.time ?? "2026-09-29T02:00:00.000Z",
      subject: options.subject ?? "91350100M000100Y43",
    },
    topic: `test.${name}`,
    partition: 0,
    offset: String(offset++),
  } as ConsumedEvent;
}

export const ITEM = "000105001000";
export const OTHER_ITEM = "000105002000";
export const USCC = "91350100M000100Y43";
export const REGULATOR = "350102-SCJGJ";
export const BUREAU = "350100-SPJ";

/** A LicenceGranted of the sample shape with the fields a test cares about. */
export function grant(overrides: Partial<EventPayloads["LicenceGranted"]> & { licenceId: string }): EventPayloads["LicenceGranted"] {
  const base = sampleOf("LicenceGranted");
  return {
    ...base,
    caseId: `C-${overrides.licenceId}`,
    itemCode: ITEM,
    regionCode: "350102",
    decisionDate: "2026-09-29",
    issuingAuthority: BUREAU,
    underCommitment: false,
    acceptedWithDeficiency: false,
    supplementDeadline: null,
    holder: { name: "示例餐饮有限公司", uscc: USCC, idNumber: null },
    ...overrides,
  };
}

/** Inserts a route the way POST /routes does (with its history row). */
export async function addRoute(
  db: TestDb,
  route: {
    itemCode?: string;
    regionCode: string;
    regulator?: string;
    claimLimit?: { amount: number; unit: "WORKING_DAYS" | "CALENDAR_DAYS" | "MONTHS" };
    pushIsClaim?: boolean;
    verificationMonths?: number;
  },
): Promise<string> {
  const id = uuidv7();
  await db.sql.transaction((tx) =>
    createRoute(
      tx,
      id,
      {
        itemCode: route.itemCode ?? ITEM,
        regionCode: route.regionCode,
        regulator: route.regulator ?? REGULATOR,
        claimLimit: route.claimLimit ?? { amount: 5, unit: "WORKING_DAYS" },
        pushIsClaim: route.pushIsClaim ?? false,
        verificationMonths: route.verificationMonths ?? 3,
      },
      { department: "350100-OPS", at: new Date("2026-09-01T00:00:00Z") },
    ),
  );
  return id;
}

export async function rows<R = Record<string, unknown>>(db: TestDb, sql: string, params: unknown[] = []): Promise<R[]> {
  return (await db.sql.query<R>(sql, params)).rows;
}
