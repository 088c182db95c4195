import pg from "pg";
import { performance } from "node:perf_hooks";
import { openEventStore } from "./src/open-store.js";
const url = "postgres://postgres@127.0.0.1:5432/shenguan_test";
const schema = `prof_${Date.now()}`;
const o = await openEventStore({ url, schema, poolSize: 16 });
const sql = o.executor!;
const { rows: [f] } = await sql.query<{ def: string }>(`select pg_get_functiondef('shenguan_append'::regproc) as def`);
const def = f!.def;
await sql.query(def.replace("shenguan_append", "append_nonotify").replace(/perform pg_notify\([^;]*;/, ""));
const payload = JSON.stringify([{ id: "00000000-0000-7000-8000-000000000000", type: "T", data: { a: 1, b: "x".repeat(300) }, metadata: { correlationId: "c", causationId: null, department: "d" } }]);
async function run(name: string, total: number, op: (i: number) => Promise<unknown>) {
  let next = 0; const t = performance.now();
  await Promise.all(Array.from({ length: 16 }, async () => { for (let i = next++; i < total; i = next++) await op(i); }));
  console.log(name, Math.round(total / ((performance.now() - t) / 1000)), "/s");
}
const withId = (i: number) => payload.replace("000000000000\"", (i.toString(16).padStart(12, "0")) + "\"");
let base = 0;
for (const rep of [1, 2]) {
  await run("full", 20000, (i) => sql.query(`select * from shenguan_append($1,'no_stream',$2::jsonb)`, [`f${rep}-${i}`, withId(base + i)])); base += 20000;
  await run("no notify", 20000, (i) => sql.query(`select * from append_nonotify($1,'no_stream',$2::jsonb)`, [`n${rep}-${i}`, withId(base + i)])); base += 20000;
  await run("select 1", 20000, () => sql.query(`select 1`));
}
await sql.query(`drop schema ${schema} cascade`);
await o.close();
