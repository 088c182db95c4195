/**
 * The gateway (issue 5): HTTP publish through it — token authentication,
 * contract validation, ACL, custody signing and SM3 chain (EvidenceStore),
 * append to PostgreSQL — beside the same events appended directly to the
 * EvidenceStore (signed, no HTTP) and to the bare PostgresEventStore, in the
 * same run, with the same concurrency. Then SSE fan-out: 20 subscribers on
 * real HTTP connections while publishing runs at a fixed rate.
 *
 *   pnpm --filter @shenguan/bench run gateway
 *   DURATION=10 SSE_SECONDS=20 RATE=1000 SUBSCRIBERS=20 pnpm --filter @shenguan/bench run gateway
 *
 * The gateway runs in a child process (as it does in production: its own
 * process, its own event loop); this process is the load: publishers, SSE
 * readers, and the direct baselines. Plain HTTP (no TLS): the figures are the
 * gateway's, not the TLS stack's. Runs in a fresh schema that it drops
 * afterwards. Writes results/gateway.json.
 */
import { fork, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import os from "node:os";
import { performance } from "node:perf_hooks";
import { sampleOf } from "@shenguan/contracts";
import { EvidenceStore, MemoryKeyStore, openEventStore, parsePosition, type EventStore, type NewEvent } from "@shenguan/eventstore";
import { generateSigningKey, type SigningKey } from "@shenguan/evidence";
import { buildGatewayApp, mintToken, PiiProtector, verifyToken } from "@shenguan/gateway";
import { DepartmentRegistry } from "@shenguan/registry";
import { NO_GRANTS, systemClock, type Grants } from "@shenguan/service-kit";
import pg from "pg";
import { Pool } from "undici";
import { percentile, writeResult } from "./machine.js";

const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/shenguan_test";
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const DURATION_S = Number(process.env.DURATION ?? 10);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const SSE_SECONDS = Number(process.env.SSE_SECONDS ?? 20);
const SUBSCRIBERS = Number(process.env.SUBSCRIBERS ?? 20);
const TARGET = 1_000;
const RATE = Number(process.env.RATE ?? TARGET);
const PUBLISHER = "SPJ-350100";
const SUBSCRIBER = "SCJG-350100";

interface Measurement {
  readonly events: number;
  readonly errors: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number };
}

/** `CONCURRENCY` loops, each awaiting its previous operation, for `seconds`. */
async function measureFor(seconds: number, operation: (i: number) => Promise<boolean>): Promise<Measurement> {
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        const i = next++;
        const t = performance.now();
        if (await operation(i)) latencies.push(performance.now() - t);
        else errors += 1;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    events: latencies.length,
    errors,
    seconds: Number(elapsed.toFixed(3)),
    eventsPerSecond: Math.round(latencies.length / elapsed),
    latencyMs: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) },
  };
}

/** A licence grant as a department system publishes it: valid against its contract, unique id, subject and case. */
function publishBody(run: string, i: number) {
  const subject = `LIC-${run}-${i}`;
  return {
    type: "LicenceGranted",
    subject,
    id: randomUUID(),
    data: { ...sampleOf("LicenceGranted"), caseId: subject, licenceId: subject },
  };
}
/** What the publish route appends for that body (routes/publish.ts), for the direct baselines. */
function appended(body: ReturnType<typeof publishBody>): { stream: string; event: NewEvent } {
  return {
    stream: `published-${PUBLISHER}-${body.subject}`,
    event: {
      id: body.id,
      type: body.type,
      data: body.data,
      metadata: { correlationId: randomUUID(), causationId: null, department: PUBLISHER, subject: body.subject },
    },
  };
}

// ─── the gateway process ────────────────────────────────────────────────────
async function serve(schema: string): Promise<void> {
  const opened = await openEventStore({ url, schema, poolSize: CONCURRENCY + 8 });
  if (opened.kind === "kurrentdb") throw new Error("expected PostgreSQL");
  const registry = await new DepartmentRegistry({ store: opened.store, clock: systemClock, follow: false }).start();
  // Custody signing, the default: the bus holds the publisher's SM2 key.
  const custody = new MemoryKeyStore({ autoProvision: true });
  await custody.ensure(PUBLISHER, "SM2-SM3");
  const store = new EvidenceStore(opened.store, { keys: custody });
  const app = await buildGatewayApp({
    store,
    registry,
    gatewaySecret: randomBytes(32),
    // The default budget is 6 000 requests a minute per department (100/s): lifted, or it is what the bench measures.
    rateLimit: { max: 100_000_000, timeWindow: "1 minute" },
    subscriptions: {
      sql: opened.executor,
      clock: systemClock,
      pii: new PiiProtector({ mode: "sm4", keys: { current: "k1", secrets: { k1: randomBytes(32).toString("base64") } } }),
      auditKeys: { publicKeys: async () => [...registry.keyRing()] },
    },
    logger: false,
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  process.send!({ port: typeof address === "object" && address ? address.port : 0 });
  await once(process, "message");
  await app.close();
  await registry.close();
  await opened.close();
  process.exit(0);
}

// ─── SSE readers ────────────────────────────────────────────────────────────
interface Reader {
  readonly positions: string[];
  readonly receivedAt: number[];
  subscribed: boolean;
  close(): void;
}

function subscribe(pool: Pool, token: string, after: string): Reader {
  const controller = new AbortController();
  const reader: Reader = { positions: [], receivedAt: [], subscribed: false, close: () => controller.abort() };
  void (async () => {
    const res = await pool.request({
      method: "GET",
      path: "/v1/subscribe/sse?families=approval",
      headers: { authorization: `Bearer ${token}`, "last-event-id": after },
      signal: controller.signal,
    });
    if (res.statusCode !== 200) throw new Error(`SSE: HTTP ${res.statusCode} ${await res.body.text()}`);
    res.body.setEncoding("utf8");
    let buffer = "";
    for await (const chunk of res.body as AsyncIterable<string>) {
      const now = performance.now();
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (block.startsWith(": subscribed")) reader.subscribed = true;
        if (!block.includes("\ndata: ")) continue; // comments, heartbeats, id-only moves
        const id = block.startsWith("id: ") ? block.slice(4, block.indexOf("\n")) : undefined;
        if (id === undefined) throw new Error(`SSE: an event without an id: ${block.slice(0, 80)}`);
        reader.positions.push(id);
        reader.receivedAt.push(now);
      }
    }
  })().catch((err: unknown) => {
    if (!controller.signal.aborted) console.error("SSE reader failed:", err);
  });
  return reader;
}

const compareLog = (a: string, b: string) => {
  const pa = parsePosition(a);
  const pb = parsePosition(b);
  return pa.commit === pb.commit ? (pa.prepare < pb.prepare ? -1 : pa.prepare > pb.prepare ? 1 : 0) : pa.commit < pb.commit ? -1 : 1;
};

function lagStats(lags: number[]) {
  const sorted = [...lags].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: Number((sorted.at(-1) ?? 0).toFixed(3)) };
}

// ─── the run ────────────────────────────────────────────────────────────────
async function main(): Promise<void> {
  const schema = `bench_gw_${Date.now()}`;
  const opened = await openEventStore({ url, schema, poolSize: CONCURRENCY });
  if (opened.kind === "kurrentdb") throw new Error("expected PostgreSQL");
  const bare: EventStore = opened.store;
  let child: ChildProcess | undefined;
  const pools: Pool[] = [];
  try {
    const loadAverageAtStart = os.loadavg()[0];
    const registry = await new DepartmentRegistry({ store: bare, clock: systemClock, follow: false }).start();
    const keys = { sm2: generateSigningKey("SM2-SM3"), ed25519: generateSigningKey("Ed25519"), reader: generateSigningKey("Ed25519") };
    const by = { department: "SHENGUAN-BUS", correlationId: "bench" };
    const publisherGrants: Grants = { ...NO_GRANTS, publish: ["LicenceGranted", "ApplicationAccepted"] };
    const readerGrants: Grants = { ...NO_GRANTS, subscribe: { families: ["approval"], regions: ["*"] } };
    const departments: Array<[string, string, "approval-bureau" | "regulator", SigningKey[], Grants]> = [
      [PUBLISHER, "福州市行政审批局", "approval-bureau", [keys.sm2, keys.ed25519], publisherGrants],
      [SUBSCRIBER, "福州市市场监督管理局", "regulator", [keys.reader], readerGrants],
    ];
    for (const [code, name, kind, deptKeys, grants] of departments) {
      await registry.execute(code, "RegisterDepartment", { code, name, uscc: "91350100M000100Y43", region: "350100", kind }, by);
      for (const key of deptKeys) await registry.execute(code, "AddKey", { pem: key.publicKey.toPem(), custody: "department" }, by);
      await registry.execute(code, "ChangeGrants", { grants: grants as never }, by);
    }

    // What one token check costs: every request verifies one signature (access/token.ts).
    const tokenCost: Record<string, number> = {};
    for (const [alg, key] of [
      ["SM2-SM3", keys.sm2],
      ["Ed25519", keys.ed25519],
    ] as const) {
      const token = mintToken(key, PUBLISHER, { ttlSeconds: 900 });
      const t = performance.now();
      for (let i = 0; i < 300; i++) verifyToken(token, registry, new Date());
      tokenCost[alg] = Number(((performance.now() - t) / 300).toFixed(3));
    }
    console.log("token verification, ms per request:", tokenCost);

    child = fork(new URL(import.meta.url).pathname, ["serve", schema], { execArgv: process.execArgv, stdio: "inherit" });
    const [ready] = (await once(child, "message")) as [{ port: number }];
    const origin = `http://127.0.0.1:${ready.port}`;
    console.log(`gateway on ${origin} (${schema})`);

    const publishPool = new Pool(origin, { connections: CONCURRENCY, pipelining: 1 });
    pools.push(publishPool);
    const tokens = {
      "SM2-SM3": mintToken(keys.sm2, PUBLISHER, { ttlSeconds: 900 }),
      Ed25519: mintToken(keys.ed25519, PUBLISHER, { ttlSeconds: 900 }),
    };
    const publish = async (token: string, body: ReturnType<typeof publishBody>): Promise<string | undefined> => {
      const res = await publishPool.request({
        method: "POST",
        path: "/v1/events",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      const text = await res.body.text();
      if (res.statusCode !== 201) {
        console.error(`publish: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
        return undefined;
      }
      return (JSON.parse(text) as { position: string }).position;
    };
    const custody = new MemoryKeyStore({ autoProvision: true });
    await custody.ensure(PUBLISHER, "SM2-SM3");
    const evidence = new EvidenceStore(bare, { keys: custody });
    const direct = (store: EventStore, run: string) => async (i: number) => {
      const { stream, event } = appended(publishBody(run, i));
      await store.append(stream, [event], "any");
      return true;
    };
    const viaGateway = (token: string, run: string) => async (i: number) => (await publish(token, publishBody(run, i))) !== undefined;

    console.log("warming up…");
    await measureFor(3, viaGateway(tokens.Ed25519, "warmup"));
    await measureFor(2, direct(evidence, "warmup-e"));

    type Round = Record<"gatewayEd25519Token" | "gatewaySm2Token" | "evidenceStoreDirect" | "bareStoreDirect", Measurement>;
    const rounds: Round[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternating within the round, so each sees the same background load (the box is shared).
      const round: Round = {
        gatewayEd25519Token: await measureFor(DURATION_S, viaGateway(tokens.Ed25519, `g-ed-${r}`)),
        gatewaySm2Token: await measureFor(DURATION_S, viaGateway(tokens["SM2-SM3"], `g-sm2-${r}`)),
        evidenceStoreDirect: await measureFor(DURATION_S, direct(evidence, `e-${r}`)),
        bareStoreDirect: await measureFor(DURATION_S, direct(bare, `b-${r}`)),
      };
      rounds.push(round);
      console.log(
        `round ${r + 1}: gateway (Ed25519 token) ${round.gatewayEd25519Token.eventsPerSecond}/s, gateway (SM2 token) ${round.gatewaySm2Token.eventsPerSecond}/s, ` +
          `EvidenceStore ${round.evidenceStoreDirect.eventsPerSecond}/s, bare store ${round.bareStoreDirect.eventsPerSecond}/s`,
      );
    }
    const median = (k: keyof Round) =>
      [...rounds].map((r) => r[k]).sort((a, b) => a.eventsPerSecond - b.eventsPerSecond)[Math.floor(rounds.length / 2)]!;
    const publishResult = {
      gatewayEd25519Token: median("gatewayEd25519Token"),
      gatewaySm2Token: median("gatewaySm2Token"),
      evidenceStoreDirect: median("evidenceStoreDirect"),
      bareStoreDirect: median("bareStoreDirect"),
      rounds: rounds.map((r) => Object.fromEntries(Object.entries(r).map(([k, m]) => [k, m.eventsPerSecond]))),
    };
    const ratio = (a: Measurement, b: Measurement) => Number((a.eventsPerSecond / b.eventsPerSecond).toFixed(3));
    const best = Math.max(publishResult.gatewayEd25519Token.eventsPerSecond, publishResult.gatewaySm2Token.eventsPerSecond);

    // ── SSE fan-out at a fixed publish rate ──
    const fanOutAt = async (rate: number, run: string) => {
      const marker = await publish(tokens.Ed25519, publishBody(`marker-${run}`, 0));
      if (!marker) throw new Error("marker publish failed");
      const readerToken = mintToken(keys.reader, SUBSCRIBER, { ttlSeconds: 900 });
      const ssePool = new Pool(origin, { connections: SUBSCRIBERS });
      const readers = Array.from({ length: SUBSCRIBERS }, () => subscribe(ssePool, readerToken, marker));
      const deadline = Date.now() + 10_000;
      while (!readers.every((r) => r.subscribed)) {
        if (Date.now() > deadline) throw new Error("SSE subscribers did not connect");
        await new Promise((r) => setTimeout(r, 20));
      }
      console.log(`${SUBSCRIBERS} SSE subscribers connected; publishing ${rate}/s for ${SSE_SECONDS} s…`);

      const ackAt = new Map<string, number>();
      const sentAt = new Map<string, number>();
      let outstanding = 0;
      let skipped = 0;
      let failed = 0;
      const MAX_OUTSTANDING = CONCURRENCY * 4;
      const publishLatencies: number[] = [];
      const sseStart = performance.now();
      const sseEnd = sseStart + SSE_SECONDS * 1000;
      let issued = 0;
      const inflight = new Set<Promise<void>>();
      // Open loop: requests go out on the schedule, whatever the answers; a schedule slot with MAX_OUTSTANDING requests in flight is skipped (counted).
      while (performance.now() < sseEnd) {
        const due = Math.floor(((performance.now() - sseStart) / 1000) * rate);
        while (issued < due) {
          issued += 1;
          if (outstanding >= MAX_OUTSTANDING) {
            skipped += 1;
            continue;
          }
          outstanding += 1;
          const t = performance.now();
          const p = publish(tokens.Ed25519, publishBody(`sse-${run}`, issued)).then((position) => {
            outstanding -= 1;
            const now = performance.now();
            if (position === undefined) failed += 1;
            else {
              ackAt.set(position, now);
              sentAt.set(position, t);
              publishLatencies.push(now - t);
            }
          });
          inflight.add(p);
          void p.finally(() => inflight.delete(p));
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      await Promise.all(inflight);
      const publishDone = performance.now();
      const acked = [...ackAt.keys()].sort(compareLog);
      const drainDeadline = Date.now() + 30_000;
      while (!readers.every((r) => r.positions.length >= acked.length) && Date.now() < drainDeadline)
        await new Promise((r) => setTimeout(r, 20));
      const drained = performance.now();
      for (const r of readers) r.close();
      await ssePool.destroy().catch(() => {});

      const quarter = (SSE_SECONDS * 1000) / 4;
      const perSubscriber = readers.map((r) => {
        const seen = new Set<string>();
        let duplicates = 0;
        let unknown = 0;
        for (const p of r.positions) {
          if (seen.has(p)) duplicates += 1;
          seen.add(p);
          if (!ackAt.has(p)) unknown += 1;
        }
        const inOrder = r.positions.length === acked.length && r.positions.every((p, i) => p === acked[i]);
        const lags: number[] = [];
        const first: number[] = [];
        const last: number[] = [];
        r.positions.forEach((p, i) => {
          const ack = ackAt.get(p);
          if (ack === undefined) return;
          // Floored at 0: the event can reach a subscriber before its publisher has parsed the 201.
          const lag = Math.max(0, r.receivedAt[i]! - ack);
          lags.push(lag);
          const sent = sentAt.get(p)! - sseStart;
          if (sent < quarter) first.push(lag);
          else if (sent >= 3 * quarter) last.push(lag);
        });
        const lastReceived = r.receivedAt.at(-1) ?? sseStart;
        return {
          delivered: r.positions.length,
          missing: acked.filter((p) => !seen.has(p)).length,
          duplicates,
          unknown,
          exactlyOnceInOrder: inOrder && duplicates === 0,
          deliveredPerSecond: Math.round(r.positions.length / ((lastReceived - sseStart) / 1000)),
          lagMs: lagStats(lags),
          lagFirstQuarterMs: lagStats(first),
          lagLastQuarterMs: lagStats(last),
          msAfterLastAck: Number((lastReceived - publishDone).toFixed(1)),
        };
      });
      publishLatencies.sort((a, b) => a - b);
      const publishedPerSecond = Math.round(acked.length / ((publishDone - sseStart) / 1000));
      const allLags = perSubscriber.map((s) => s.lagMs);
      const fanOut = {
        subscribers: SUBSCRIBERS,
        targetRate: rate,
        seconds: SSE_SECONDS,
        published: acked.length,
        publishedPerSecond,
        skippedSlots: skipped,
        failedPublishes: failed,
        publishLatencyMs: { p50: percentile(publishLatencies, 0.5), p99: percentile(publishLatencies, 0.99) },
        allExactlyOnceInOrder: perSubscriber.every((s) => s.exactlyOnceInOrder),
        deliveredPerSecond: {
          min: Math.min(...perSubscriber.map((s) => s.deliveredPerSecond)),
          max: Math.max(...perSubscriber.map((s) => s.deliveredPerSecond)),
        },
        lagMsAcrossSubscribers: {
          p50: Math.max(...allLags.map((l) => l.p50)),
          p99: Math.max(...allLags.map((l) => l.p99)),
          max: Math.max(...allLags.map((l) => l.max)),
        },
        lagTrend: {
          firstQuarterP99: Math.max(...perSubscriber.map((s) => s.lagFirstQuarterMs.p99)),
          lastQuarterP99: Math.max(...perSubscriber.map((s) => s.lagLastQuarterMs.p99)),
        },
        drainMsAfterLastAck: Number((drained - publishDone).toFixed(1)),
        perSubscriber,
      };
      const keptUp: boolean =
        fanOut.allExactlyOnceInOrder &&
        publishedPerSecond >= rate * 0.95 &&
        fanOut.drainMsAfterLastAck < 2_000 &&
        fanOut.lagTrend.lastQuarterP99 <= Math.max(2 * fanOut.lagTrend.firstQuarterP99, 250);

      console.log(
        `fan-out at ${rate}/s: published ${publishedPerSecond}/s, delivered ${fanOut.deliveredPerSecond.min}-${fanOut.deliveredPerSecond.max}/s per subscriber, ` +
          `lag p50 ${fanOut.lagMsAcrossSubscribers.p50} p99 ${fanOut.lagMsAcrossSubscribers.p99} max ${fanOut.lagMsAcrossSubscribers.max} ms, ` +
          `p99 first/last quarter ${fanOut.lagTrend.firstQuarterP99}/${fanOut.lagTrend.lastQuarterP99} ms, exactly once in order: ${fanOut.allExactlyOnceInOrder}, kept up: ${keptUp}`,
      );
      return { ...fanOut, keptUp };
    };
    // Fixed rates: the target (or RATE), then what the publish phase sustained and fractions of it, highest first.
    const rates = (process.env.RATE ? [RATE] : [TARGET, Math.floor(best * 0.9), Math.floor(best * 0.5), Math.floor(best * 0.25)])
      .filter((r, i, all) => r > 0 && all.indexOf(r) === i)
      .sort((x, y) => y - x);
    const fanOuts = [];
    for (const [i, rate] of rates.entries()) fanOuts.push(await fanOutAt(rate, `r${i}`));
    const sustained = fanOuts.filter((f) => f.keptUp).map((f) => f.targetRate);
    const [server] = (
      await opened.executor.query<{ version: string; synchronous_commit: string }>(
        `select version(), current_setting('synchronous_commit') as synchronous_commit`,
      )
    ).rows;
    const results = {
      database: { server: server?.version, synchronous_commit: server?.synchronous_commit },
      loadAverageAtStart,
      setup: {
        transport: "plain HTTP/1.1 keep-alive (no TLS), gateway in its own process, load from this process (undici Pool)",
        concurrency: CONCURRENCY,
        custodySigning: "SM2-SM3 (MemoryKeyStore), SM3 chain per stream, one new stream per subject",
        rateLimit: "lifted for the bench (default 6 000 requests/min per department = 100/s)",
        pii: "sm4 (subscriber has no pii grant)",
      },
      tokenVerificationMsPerRequest: tokenCost,
      publish: publishResult,
      ratios: {
        gatewayEd25519OverEvidenceStore: ratio(publishResult.gatewayEd25519Token, publishResult.evidenceStoreDirect),
        gatewaySm2OverEvidenceStore: ratio(publishResult.gatewaySm2Token, publishResult.evidenceStoreDirect),
        evidenceStoreOverBare: ratio(publishResult.evidenceStoreDirect, publishResult.bareStoreDirect),
        gatewayEd25519OverBare: ratio(publishResult.gatewayEd25519Token, publishResult.bareStoreDirect),
      },
      sseFanOut: fanOuts,
      target: {
        publishEventsPerSecond: TARGET,
        publishMet: best >= TARGET,
        sseFanOutSubscribers: SUBSCRIBERS,
        sseKeptUpAtTarget: fanOuts.some((f) => f.keptUp && f.targetRate >= TARGET),
        sseHighestRateKeptUp: sustained.length > 0 ? Math.max(...sustained) : null,
      },
    };
    console.log(
      JSON.stringify({ ...results, sseFanOut: fanOuts.map((f) => ({ ...f, perSubscriber: f.perSubscriber.slice(0, 1) })) }, null, 2),
    );
    console.log(`written to ${writeResult("gateway", results)}`);
  } finally {
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
    if (child?.connected) {
      child.send("stop");
      await once(child, "exit");
    }
    await opened.close();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  }
}

if (process.argv[2] === "serve") await serve(process.argv[3]!);
else await main();
