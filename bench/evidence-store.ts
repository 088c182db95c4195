/**
 * The evidence layer at append: 16 writers appending through EvidenceStore
 * (department signature + SM3 chain link per event, SM2-SM3 and Ed25519),
 * with batch signatures (the default: a department's events gathered
 * together share one signature) signed inline (on the main thread, the
 * default) and on a SigningPool of 2 worker threads, and one SM2 signature
 * per event on 2 threads (batchSignatures: false, the default before batch
 * signatures), beside the same appends straight to PostgresEventStore, in the
 * same run on the same server, alternating within each round. Then the LogSealer sealing
 * the whole log, and verifyStore reading it back (sealed-only).
 *
 *   pnpm --filter @shenguan/bench run evidence-store
 *   DATABASE_URL=postgres://… EVENTS=20000 pnpm --filter @shenguan/bench run evidence-store
 *
 * Runs in a fresh schema that it drops afterwards. Writes results/evidence-store.json.
 */
import os from "node:os";
import { performance } from "node:perf_hooks";
import {
  BUS_DEPARTMENT,
  EvidenceStore,
  LogSealer,
  MemoryKeyStore,
  openEventStore,
  verifyStore,
  type EventStore,
} from "@shenguan/eventstore";
import { KeyRing, type SignatureAlgorithm } from "@shenguan/evidence";
import { runConcurrently, SAMPLE_EVENT, writeResult } from "./machine.js";

const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/shenguan_test";
const CONCURRENCY = 16;
const EVENTS = Number(process.env.EVENTS ?? 10_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const BATCH = 10;

const event = SAMPLE_EVENT;

interface Measurement {
  readonly events: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number };
}

/** `appends` appends of `perAppend` events each, shared by CONCURRENCY loops. */
async function measure(appends: number, perAppend: number, append: (i: number) => Promise<unknown>): Promise<Measurement> {
  const { seconds, latencyMs } = await runConcurrently(appends, CONCURRENCY, append);
  const events = appends * perAppend;
  return { events, seconds: Number(seconds.toFixed(3)), eventsPerSecond: Math.round(events / seconds), latencyMs };
}

const schema = `bench_evidence_${Date.now()}`;
const opened = await openEventStore({ url, schema, poolSize: CONCURRENCY });
if (opened.kind === "kurrentdb") throw new Error("unreachable: a PostgreSQL URL was given");
const { store: direct, executor: sql } = opened;

const POOL_SIZE = 2;

/** signingPool: 0 signs on the main thread, POOL_SIZE on that many worker threads (closed with the store). */
function evidence(alg: SignatureAlgorithm, signingPool: number, batchSignatures = true): EvidenceStore {
  return new EvidenceStore(direct, { keys: new MemoryKeyStore({ autoProvision: true, alg }), signingPool, batchSignatures });
}

const stores = {
  direct,
  sm2: evidence("SM2-SM3", 0),
  sm2Pool: evidence("SM2-SM3", POOL_SIZE),
  sm2Unbatched: evidence("SM2-SM3", POOL_SIZE, false),
  ed25519: evidence("Ed25519", 0),
  ed25519Pool: evidence("Ed25519", POOL_SIZE),
} satisfies Record<string, EventStore>;
type Mode = keyof typeof stores;
const MODES = Object.keys(stores) as Mode[];

function run(mode: Mode, round: number, perAppend: number) {
  const events = Array.from({ length: perAppend }, () => event);
  return measure(Math.floor(EVENTS / perAppend), perAppend, (i) =>
    stores[mode].append(`${mode}-${perAppend}-${round}-${i}`, events, "no_stream"),
  );
}

/** The median round (by events/s) of each mode; every round kept. */
async function compare(perAppend: number) {
  const rounds: Record<Mode, Measurement>[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const r = {} as Record<Mode, Measurement>;
    for (const mode of MODES) r[mode] = await run(mode, round, perAppend);
    rounds.push(r);
    console.log(
      `${perAppend} per append, round ${round + 1}: direct ${r.direct.eventsPerSecond}/s, ` +
        `SM2 inline ${r.sm2.eventsPerSecond}/s (p99 ${r.sm2.latencyMs.p99} ms), SM2 pool ${r.sm2Pool.eventsPerSecond}/s (p99 ${r.sm2Pool.latencyMs.p99} ms), ` +
        `SM2 one signature per event on the pool ${r.sm2Unbatched.eventsPerSecond}/s, ` +
        `Ed25519 inline ${r.ed25519.eventsPerSecond}/s, Ed25519 pool ${r.ed25519Pool.eventsPerSecond}/s`,
    );
  }
  const median = (mode: Mode) =>
    [...rounds].sort((a, b) => a[mode].eventsPerSecond - b[mode].eventsPerSecond)[Math.floor(rounds.length / 2)]![mode];
  return {
    direct: median("direct"),
    evidenceSm2: median("sm2"),
    evidenceSm2Pool: median("sm2Pool"),
    evidenceSm2UnbatchedPool: median("sm2Unbatched"),
    evidenceEd25519: median("ed25519"),
    evidenceEd25519Pool: median("ed25519Pool"),
    rounds: rounds.map((r) => Object.fromEntries(MODES.map((mode) => [mode, r[mode].eventsPerSecond]))),
  };
}

try {
  const loadAverageAtStart = os.loadavg()[0];
  console.log(`warming up (${schema})…`);
  for (const mode of MODES) await measure(500, 1, (i) => stores[mode].append(`warmup-${mode}-${i}`, [event], "no_stream"));

  const onePerAppend = await compare(1);
  const batchOf10 = await compare(BATCH);

  // Only the evidenced events can be sealed and verified: seal and verify a log of them alone.
  const sealed = await openEventStore({ url, schema: `${schema}_seal`, poolSize: CONCURRENCY });
  let sealer: { events: number; seconds: number; eventsPerSecond: number; blocks: number };
  let verify: { events: number; seconds: number; eventsPerSecond: number; ok: boolean };
  try {
    const keys = new MemoryKeyStore({ autoProvision: true });
    await keys.ensure(BUS_DEPARTMENT);
    const store = new EvidenceStore(sealed.store, { keys });
    await measure(Math.floor(EVENTS / BATCH), BATCH, (i) =>
      store.append(
        `seal-${i}`,
        Array.from({ length: BATCH }, () => event),
        "no_stream",
      ),
    );
    const logSealer = new LogSealer({ store, blockSize: 1000 });
    await logSealer.start();
    let started = performance.now();
    const seals = await logSealer.flush();
    let seconds = (performance.now() - started) / 1000;
    await logSealer.stop();
    const covered = seals.reduce((n, s) => n + s.count, 0);
    sealer = { events: covered, seconds: Number(seconds.toFixed(3)), eventsPerSecond: Math.round(covered / seconds), blocks: seals.length };
    console.log(`sealer: ${sealer.eventsPerSecond} events/s (${sealer.blocks} blocks)`);
    started = performance.now();
    const result = await verifyStore(store, { keys: new KeyRing(await keys.publicKeys()) });
    seconds = (performance.now() - started) / 1000;
    verify = {
      events: result.events,
      seconds: Number(seconds.toFixed(3)),
      eventsPerSecond: Math.round(result.events / seconds),
      ok: result.ok,
    };
    console.log(`verifyStore (sealed-only): ${verify.eventsPerSecond} events/s, ok ${verify.ok}`);
  } finally {
    await sealed.executor?.query(`drop schema ${schema}_seal cascade`);
    await sealed.close();
  }

  const results = {
    loadAverageAtStart,
    writers: CONCURRENCY,
    signingPoolSize: POOL_SIZE,
    payloadBytes: JSON.stringify(event.data).length + JSON.stringify(event.metadata).length,
    appends: { onePerAppend, [`batchOf${BATCH}`]: batchOf10 },
    sealer,
    verifyStoreSealedOnly: verify,
  };
  console.log(JSON.stringify(results, null, 2));
  console.log(`written to ${writeResult("evidence-store", results)}`);
} finally {
  await sql.query(`drop schema ${schema} cascade`);
  // Closes the signing pools; the inner store (shared) is closed once, below.
  await Promise.all([stores.sm2Pool, stores.ed25519Pool].map((s) => s.close()));
  await opened.close();
}
