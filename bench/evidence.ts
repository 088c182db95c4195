/**
 * Evidence layer benchmark (@shenguan/evidence), one process, no I/O:
 * 1. SM2-SM3 sign/s and verify/s on one core (our implementation, standard
 *    distinguishing ID), against Node's native SM2 (OpenSSL 3, empty ID) in
 *    the same run as the raw baseline; Ed25519 for reference.
 * 2. Chain hashing: canonical form (RFC 8785) + SM3 link, events/s; and SM3
 *    alone over the canonical bytes.
 * 3. A log of BENCH_EVENTS (default 100 000) events over 5 000 streams, each
 *    signed by its department (SM2), chained, sealed in blocks of
 *    BENCH_BLOCK (1 000) by the bus (SM2).
 *    - 'sealed-only' verification (chains + seals): events/s.
 *    - 'all' verification (chains + seals + every department signature) over
 *      the worker pool (os.cpus().length workers). Target: ≥ 0.8 × cores ×
 *      the single-core verify rate of step 1.
 *
 *   pnpm --filter @shenguan/bench run evidence
 *   BENCH_EVENTS=20000 pnpm --filter @shenguan/bench run evidence
 *
 * Writes results/evidence.json.
 */
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from "node:crypto";
import os from "node:os";
import {
  SignatureWorkerPool,
  canonicalEvent,
  chainHash,
  chainLinkOf,
  generateSigningKey,
  KeyRing,
  Sealer,
  signEvent,
  sm3,
  StreamChainer,
  verifyLog,
  withEvidence,
  type LoggedEvent,
  type Seal,
  type SigningKey,
} from "@shenguan/evidence";
import { writeResult } from "./machine.js";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const BLOCK = Number(process.env.BENCH_BLOCK ?? 1_000);
const STREAMS = Math.min(5_000, Math.max(1, Math.floor(EVENTS / 20)));
const cores = os.cpus().length;

function rate(label: string, iterations: number, op: (i: number) => unknown): number {
  for (let i = 0; i < Math.max(50, iterations / 10); i++) op(i); // warm up (JIT, key tables)
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) op(i);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const perSec = Math.round(iterations / seconds);
  console.log(`${label.padEnd(44)} ${perSec.toLocaleString("en").padStart(10)} /s`);
  return perSec;
}

const departments = ["SPJ-350100", "SCJG-350100", "ZJJ-350100", "JTJ-350100"].map((code) => ({ code, key: generateSigningKey("SM2-SM3") }));
const bus = generateSigningKey("SM2-SM3");

function event(n: number, stream: string, revision: bigint, department: string) {
  return {
    id: `0190a6f2-${n.toString(16).padStart(8, "0")}-7000-8000-000000000000`.slice(0, 36),
    type: revision === 0n ? "LicenceGranted" : "InspectionRecorded",
    stream,
    revision,
    time: new Date(Date.UTC(2026, 2, 2, 9) + n),
    data: {
      caseId: stream,
      licenceId: `JY1350102${String(n).padStart(7, "0")}`,
      decisionNumber: `榕审批食许〔2026〕${n}号`,
      itemCode: "000105001000",
      itemName: "食品经营许可",
      holder: { name: "福州市鼓楼区示范餐饮管理有限公司", uscc: "91350100M000100Y43", idNumber: null },
      decisionDate: "2026-09-29",
      validUntil: "2031-09-28",
      regionCode: "350102",
      underCommitment: n % 2 === 0,
    },
    metadata: { correlationId: `corr-${n}`, causationId: null, department },
  };
}

// ── 1. Signatures, one core.
console.log(`evidence benchmark: ${EVENTS.toLocaleString("en")} events, blocks of ${BLOCK}, ${cores} cores`);
const sample = event(1, "licence-SP-350100-2026-000001", 0n, departments[0]!.code);
const message = canonicalEvent(sample);
const key: SigningKey = departments[0]!.key;
const signatures = Array.from({ length: 512 }, () => key.sign(message));
const sm2Sign = rate("SM2-SM3 sign (ours, ID 1234567812345678)", 3_000, () => key.sign(message));
const sm2Verify = rate("SM2-SM3 verify (ours, warm key)", 3_000, (i) => key.publicKey.verify(message, signatures[i % 512]!));
const nativePrivate = createPrivateKey(key.toPem());
const nativePublic = createPublicKey(key.publicKey.toPem());
const nativeSigs = Array.from({ length: 512 }, () => nodeSign(null, message, nativePrivate));
const nativeSign = rate('SM2 sign (Node/OpenSSL native, ID "")', 3_000, () => nodeSign(null, message, nativePrivate));
const nativeVerify = rate('SM2 verify (Node/OpenSSL native, ID "")', 3_000, (i) =>
  nodeVerify(null, message, nativePublic, nativeSigs[i % 512]!),
);
const ed = generateSigningKey("Ed25519");
const edSig = ed.sign(message);
const edSign = rate("Ed25519 sign", 10_000, () => ed.sign(message));
const edVerify = rate("Ed25519 verify", 10_000, () => ed.publicKey.verify(message, edSig));

// The machine's own ceiling for parallel verification: one big batch per
// worker at once (no main-thread work, no coordination), against the
// single-core rate. On SMT siblings or a shared VM this is well below cores×.
const ceilingJobs = Array.from({ length: 3_000 }, (_, i) => ({ message, signature: signatures[i % 512]!, keyId: key.keyId }));
const poolStart = performance.now();
const ceilingPool = await SignatureWorkerPool.start(new KeyRing([key.publicKey]), cores);
const poolStartSeconds = (performance.now() - poolStart) / 1000;
await Promise.all(Array.from({ length: cores }, () => ceilingPool.verify(ceilingJobs.slice(0, 200)))); // warm up each worker's tables
let ceiling = 0;
for (let round = 0; round < 3; round++) {
  // Best of three: this figure is a bound, and the host's noise only ever lowers it.
  const start = performance.now();
  await Promise.all(Array.from({ length: cores }, () => ceilingPool.verify(ceilingJobs)));
  ceiling = Math.max(ceiling, Math.round((cores * ceilingJobs.length) / ((performance.now() - start) / 1000)));
}
await ceilingPool.close();
console.log(
  `SM2-SM3 verify, ${cores} workers flat out (ceiling)`.padEnd(44),
  `${ceiling.toLocaleString("en").padStart(10)} /s (${(ceiling / sm2Verify).toFixed(2)}× one core)`,
);

// ── 2. Chain hashing.
const hashEvents = Array.from({ length: 20_000 }, (_, n) =>
  event(n, `licence-${n % 100}`, BigInt(Math.floor(n / 100)), departments[n % 4]!.code),
);
const canonicals = hashEvents.map((e) => canonicalEvent(e));
let prev: Buffer = Buffer.alloc(32);
const chainRate = rate(
  "chain link: canonical (JCS) + SM3",
  100_000,
  (i) => (prev = chainHash(prev, canonicalEvent(hashEvents[i % 20_000]!))),
);
const sm3Rate = rate(`SM3 link only (${message.length} B canonical)`, 200_000, (i) => (prev = chainHash(prev, canonicals[i % 20_000]!)));
const canonicalRate = rate("canonical form only", 100_000, (i) => canonicalEvent(hashEvents[i % 20_000]!));
void sm3;

// ── 3. A sealed log.
let t = performance.now();
const chainer = new StreamChainer();
const sealer = new Sealer({ signer: bus, blockSize: BLOCK });
const log: LoggedEvent[] = [];
const seals: Seal[] = [];
const revisions = new Map<string, bigint>();
for (let n = 0; n < EVENTS; n++) {
  const stream = `licence-SP-350100-2026-${String(n % STREAMS).padStart(6, "0")}`;
  const revision = revisions.get(stream) ?? 0n;
  revisions.set(stream, revision + 1n);
  const dept = departments[(n % STREAMS) % departments.length]!;
  const bare = { ...event(n, stream, revision, dept.code), position: { commit: 10_000n + BigInt(n >> 4), prepare: BigInt(n) } };
  const linked = chainer.link(withEvidence(bare, { signature: signEvent(bare, dept.key) }));
  log.push(linked);
  const seal = sealer.add(linked.position, chainLinkOf(linked)!.hash);
  if (seal) seals.push(seal);
}
const last = sealer.flush();
if (last) seals.push(last);
const buildSeconds = (performance.now() - t) / 1000;
console.log(`built, signed, chained and sealed the log in ${buildSeconds.toFixed(1)} s (${seals.length} seals)`);

const keys = new KeyRing(departments.map((d) => ({ key: d.key.publicKey, owner: d.code })));
const busKeys = new KeyRing([bus.publicKey]);
const progress = (label: string) => (p: { events: number; elapsedMs: number }) =>
  process.stderr.write(
    `\r  ${label}: ${p.events.toLocaleString("en")} events, ${Math.round(p.events / (p.elapsedMs / 1000)).toLocaleString("en")}/s   `,
  );

t = performance.now();
const sealedOnly = await verifyLog(log, {
  keys,
  busKeys,
  seals,
  signatures: "sealed-only",
  onProgress: progress("sealed-only"),
  progressEvery: 20_000,
});
const sealedSeconds = (performance.now() - t) / 1000;
process.stderr.write("\n");
if (!sealedOnly.ok) throw new Error(`sealed-only verification failed: ${sealedOnly.failure?.message}`);
const sealedRate = Math.round(EVENTS / sealedSeconds);
console.log(`verify sealed-only (chains + ${seals.length} seals)`.padEnd(44), `${sealedRate.toLocaleString("en").padStart(10)} events/s`);

t = performance.now();
const allProgress: { events: number; elapsedMs: number }[] = [];
const all = await verifyLog(log, {
  keys,
  busKeys,
  seals,
  signatures: "all",
  workers: cores,
  progressEvery: 10_000,
  onProgress: (p) => {
    allProgress.push(p);
    progress("all")(p);
  },
});
const allSeconds = (performance.now() - t) / 1000;
process.stderr.write("\n");
if (!all.ok || all.signatures !== EVENTS) throw new Error(`all-signature verification failed: ${all.failure?.message}`);
const allRate = Math.round(EVENTS / allSeconds);
const target = Math.round(0.8 * cores * sm2Verify);
// Steady state: from the first progress report past 20 % of the log to the end (leaves out worker start-up and table building).
const from = allProgress.find((p) => p.events >= EVENTS * 0.2)!;
const to = allProgress[allProgress.length - 1]!;
const steadyRate = Math.round((to.events - from.events) / ((to.elapsedMs - from.elapsedMs) / 1000));
console.log(
  `verify all signatures, ${cores} workers`.padEnd(44),
  `${allRate.toLocaleString("en").padStart(10)} events/s (target ≥ ${target.toLocaleString("en")}: ${allRate >= target ? "met" : "NOT met"}; ${((100 * allRate) / ceiling).toFixed(0)} % of the ceiling)`,
);
console.log(
  `  steady state (after 20 %)`.padEnd(44),
  `${steadyRate.toLocaleString("en").padStart(10)} events/s (${((100 * steadyRate) / ceiling).toFixed(0)} % of the ceiling); pool start ${poolStartSeconds.toFixed(2)} s`,
);

const path = writeResult("evidence", {
  events: EVENTS,
  blockSize: BLOCK,
  streams: STREAMS,
  canonicalEventBytes: message.length,
  signaturesPerSec: {
    sm2Sm3: { sign: sm2Sign, verify: sm2Verify, distinguishingId: "1234567812345678" },
    nodeNativeSm2EmptyId: { sign: nativeSign, verify: nativeVerify },
    ed25519: { sign: edSign, verify: edVerify },
  },
  chainHashingEventsPerSec: { canonicalPlusSm3: chainRate, sm3Only: sm3Rate, canonicalOnly: canonicalRate },
  buildLogSeconds: Number(buildSeconds.toFixed(2)),
  verify: {
    sealedOnly: { eventsPerSec: sealedRate, seconds: Number(sealedSeconds.toFixed(2)), seals: sealedOnly.seals },
    allSignatures: {
      eventsPerSec: allRate,
      seconds: Number(allSeconds.toFixed(2)),
      workers: cores,
      target: {
        rule: "≥ 0.8 × cores × single-core SM2 verify/s",
        eventsPerSec: target,
        met: allRate >= target,
        ratioToSingleCore: Number((allRate / sm2Verify).toFixed(2)),
      },
      steadyStateEventsPerSec: steadyRate,
      poolStartSeconds: Number(poolStartSeconds.toFixed(2)),
      machineCeiling: {
        rule: "cores workers verifying one batch each, nothing else running",
        verifyPerSec: ceiling,
        ratioToSingleCore: Number((ceiling / sm2Verify).toFixed(2)),
        poolShareOfCeiling: Number((allRate / ceiling).toFixed(2)),
      },
    },
  },
});
console.log(`wrote ${path}`);
