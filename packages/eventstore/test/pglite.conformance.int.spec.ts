import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll } from "vitest";
import { PostgresEventStore, pgliteExecutor, type SqlExecutor } from "../src/postgres/index.js";
import { describeEventStoreConformance } from "./conformance.js";
import { itLingersAfterAWakeUp, itWakesSubscribersOnNotify } from "./support/wake-up.js";

let sql: SqlExecutor;
beforeAll(async () => {
  sql = pgliteExecutor(await PGlite.create("memory://"));
  await new PostgresEventStore(sql).migrate();
});
afterAll(() => sql.close());

describeEventStoreConformance("PGlite (in memory)", async () => new PostgresEventStore(sql, { pollIntervalMs: 50 }));
itWakesSubscribersOnNotify(() => sql);
itLingersAfterAWakeUp(() => sql);
