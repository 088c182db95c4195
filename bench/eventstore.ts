/**
 * Event store throughput on PostgreSQL, beside a raw baseline measured in the
 * same run on the same server: a plain INSERT of the same JSON payload into
 * a table with no constraints, through the same driver and pool, so the
 * adapter's own cost (stream check, revision, indexes, notify) is visible.
 *
 *   pnpm --filter @shenguan/bench run eventstore
 *   DATABASE_URL=postgres://… EVENTS=40000 pnpm --filter @shenguan/bench run eventstore
 *
 * Runs in a fresh schema that it drops afterwards. Writes results/eventstore.json.
 */
import os from "node:os";
import { performance } from "node:perf_hooks";
// Relative until @shenguan/eventstore's index exports openEventStore.
import { openEventStore, type LogPosition } from "@shenguan/eventstore";
import { runConcurrently, SAMPLE_EVENT, writeResult } from "./machine.js";

const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/shenguan_test";
const CONCURRENCY = 16;
const EVENTS = Number(process.env.EVENTS ?? 40_000);
const SINGLE_WRITER_EVENTS = Math.min(EVENTS, 5_000);
const READ_BATCH = 1_000;
const ROUNDS = Number(process.env.ROUNDS ?? 3);

const event = SAMPLE_EVENT;

interface Measurement {
  readonly operations: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly latencyMs?: { readonly p50: number; readonly p99: number };
}

/** `total` operations shared by `workers` loops, each awaiting its previous operation. */
async function measure(total: number, workers: number, operation: (i: number) => Promise<unknown>): Promise<Measurement> {
  const { seconds, latencyMs } = await runConcurrently(total, workers, operation);
  return { operations: total, seconds: Number(seconds.toFixed(3)), perSecond: Math.round(total / seconds), latencyMs };
}

interface Comparison {
  readonly adapter: Measurement;
  readonly rawInsertBaseline: Measurement;
}

/**
 * Adapter and baseline alternate within each round, so both see the same
 * background load (this box is shared); the round with the median adapter
 * throughput is reported, and every round is kept.
 */
async function compare(label: string, run: (round: number) => Promise<Comparison>) {
  const rounds: Comparison[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    rounds.push(await run(round));
    console.log(
      `${label} round ${round + 1}: adapter ${rounds.at(-1)!.adapter.perSecond}/s, raw ${rounds.at(-1)!.rawInsertBaseline.perSecond}/s`,
    );
  }
  const median = [...rounds].sort((a, b) => a.adapter.perSecond - b.adapter.perSecond)[Math.floor(rounds.length / 2)]!;
  return { ...median, rounds: rounds.map((r) => ({ adapter: r.adapter.perSecond, rawInsertBaseline: r.rawInsertBaseline.perSecond })) };
}

const schema = `bench_${Date.now()}`;
const opened = await openEventStore({ url, schema, poolSize: CONCURRENCY });
if (opened.kind === "kurrentdb") throw new Error("unreachable: a PostgreSQL URL was given");
const { store, executor: sql } = opened;

try {
  const loadAverageAtStart = os.loadavg()[0];
  const [server] = (
    await sql.query<{ version: string; synchronous_commit: string; fsync: string; wal_sync_method: string }>(
      `select version(), current_setting('synchronous_commit') as synchronous_commit,
              current_setting('fsync') as fsync, current_setting('wal_sync_method') as wal_sync_method`,
    )
  ).rows;
  await sql.query(`create table raw_events (id bigserial primary key, data jsonb not null, metadata jsonb not null)`);
  const rawInsert = () =>
    sql.query(`insert into raw_events (data, metadata) values ($1::jsonb, $2::jsonb)`, [
      JSON.stringify(event.data),
      JSON.stringify(event.metadata),
    ]);
  const append = (prefix: string) => (i: number) => store.append(`${prefix}-${i}`, [event], "no_stream");

  console.log(`warming up (${schema})…`);
  await measure(2_000, CONCURRENCY, append("warmup"));
  await measure(2_000, CONCURRENCY, rawInsert);

  const singleWriter = await compare("single writer", async (round) => ({
    rawInsertBaseline: await measure(SINGLE_WRITER_EVENTS, 1, rawInsert),
    adapter: await measure(SINGLE_WRITER_EVENTS, 1, append(`single-${round}`)),
  }));
  const concurrent = await compare(`${CONCURRENCY} writers`, async (round) => ({
    rawInsertBaseline: await measure(EVENTS, CONCURRENCY, rawInsert),
    adapter: await measure(EVENTS, CONCURRENCY, append(`concurrent-${round}`)),
  }));

  const readRounds: Measurement[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let read = 0;
    const started = performance.now();
    let after: LogPosition | undefined;
    for (;;) {
      const page = await store.readAll({ after, maxCount: READ_BATCH });
      if (page.length === 0) break;
      read += page.length;
      after = page.at(-1)!.position;
    }
    const seconds = (performance.now() - started) / 1000;
    readRounds.push({ operations: read, seconds: Number(seconds.toFixed(3)), perSecond: Math.round(read / seconds) });
    console.log(`readAll round ${round + 1}: ${readRounds.at(-1)!.perSecond} events/s`);
  }
  const readAll = [...readRounds].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(readRounds.length / 2)]!;

  const results = {
    database: {
      server: server?.version,
      // Recorded to show the figures come with full durability: nothing is relaxed for the benchmark.
      settings: { synchronous_commit: server?.synchronous_commit, fsync: server?.fsync, wal_sync_method: server?.wal_sync_method },
    },
    loadAverageAtStart,
    payloadBytes: JSON.stringify(event.data).length + JSON.stringify(event.metadata).length,
    appendsPerSecond: { singleWriter, [`writers${CONCURRENCY}`]: concurrent },
    readAll: { batch: READ_BATCH, ...readAll, rounds: readRounds.map((r) => r.perSecond) },
    target: { appendsPerSecondWith16Writers: 10_000, met: concurrent.adapter.perSecond >= 10_000 },
  };
  console.log(JSON.stringify(results, null, 2));
  console.log(`written to ${writeResult("eventstore", results)}`);
} finally {
  await sql.query(`drop schema ${schema} cascade`);
  await opened.close();
}
