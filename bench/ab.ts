/**
 * An A/B of the loop on this machine, in one sitting: the loop bench
 * (BENCH_ONLY=loop) run alternately on a base revision and on this work
 * tree, so that both meet the same machine state (on a loaded 2-core VM the
 * spread between runs of one commit is as large as most changes).
 *
 *   pnpm --filter @shenguan/bench run ab <base-rev>
 *   AB_RATE=600 AB_RUNS=3 AB_SECONDS=15 pnpm --filter @shenguan/bench run ab 082586a
 *
 * The base is checked out (detached) in a git worktree under .data/ab/<rev>,
 * its dependencies installed from the store and built; the worktree is kept
 * for the next A/B against the same revision. Both sides run this work
 * tree's bench/loop.ts (copied over the base's): the same measurement of two
 * products (AB_BASE_BENCH=1 keeps the base's own). Writes results/ab.json:
 * every run's figures and, per side, the median of each.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { writeResult } from "./machine.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const head = path.resolve(here, "..");
const base = process.argv[2];
if (!base) throw new Error("usage: pnpm --filter @shenguan/bench run ab <base-rev>  (AB_RATE, AB_RUNS, AB_SECONDS)");
const RATE = Number(process.env.AB_RATE ?? 400);
const RUNS = Number(process.env.AB_RUNS ?? 3);
const SECONDS = Number(process.env.AB_SECONDS ?? 15);

const git = (...args: string[]) => execFileSync("git", args, { cwd: head, encoding: "utf8" }).trim();
const sha = git("rev-parse", "--verify", `${base}^{commit}`);
const baseTree = path.join(head, ".data", "ab", sha.slice(0, 12));

function prepareBase(): void {
  if (existsSync(path.join(baseTree, "bench", "package.json"))) return;
  mkdirSync(path.dirname(baseTree), { recursive: true });
  git("worktree", "add", "--force", "--detach", baseTree, sha);
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { cwd: baseTree, stdio: "inherit" });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed in ${baseTree}`);
  };
  run("pnpm", ["install", "--frozen-lockfile", "--prefer-offline"]);
  run("npx", ["tsc", "-b"]);
}

interface Figures {
  readonly side: "base" | "head";
  readonly grantsPerSecond: number;
  readonly handoffsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly acceptedToChunkStartP50: number;
  readonly chunkStartToVisibleP50: number;
  readonly regulatorInboxP99: number;
  readonly issuedToAcceptedP50: number;
  readonly issuedToAcceptedP99: number;
  readonly issuedToVisibleP50: number;
  readonly issuedToVisibleP99: number;
  readonly walBytesPerGrant: number;
  readonly postgresCores: number;
}

/** The base runs this tree's loop bench unless AB_BASE_BENCH=1 (a bench newer than the base may need what the base lacks: then it fails, naming it). */
const SAME_BENCH = process.env.AB_BASE_BENCH !== "1";

function runLoop(side: "base" | "head"): Figures {
  const tree = side === "base" ? baseTree : head;
  if (side === "base" && SAME_BENCH) copyFileSync(path.join(head, "bench", "loop.ts"), path.join(baseTree, "bench", "loop.ts"));
  const r = spawnSync("pnpm", ["run", "loop"], {
    cwd: path.join(tree, "bench"),
    env: { ...process.env, BENCH_ONLY: "loop", BENCH_RATE: String(RATE), BENCH_SECONDS: String(SECONDS), BENCH_PROFILE_SECONDS: "1" },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`the loop failed on ${side}:\n${r.stdout}\n${r.stderr}`);
  const { loop } = JSON.parse(readFileSync(path.join(tree, "bench", "results", "loop-only.json"), "utf8"));
  const latency = loop.latencyMs;
  return {
    side,
    grantsPerSecond: loop.grantsPerSecond,
    handoffsPerSecond: loop.handoffsPerSecond,
    p50: latency.grantAcceptedToLinkageHandoffPushed.p50,
    p99: latency.grantAcceptedToLinkageHandoffPushed.p99,
    // Older revisions' loop bench may not split by stage.
    acceptedToChunkStartP50: latency.stages?.acceptedToLinkageChunkStart.p50 ?? Number.NaN,
    chunkStartToVisibleP50: latency.stages?.linkageChunkStartToVisible.p50 ?? Number.NaN,
    regulatorInboxP99: latency.grantAcceptedToRegulatorInboxRow.p99,
    // The API's own queue, and the whole way from the request (older revisions of the loop bench do not report it).
    issuedToAcceptedP50: latency.grantIssuedToAccepted.p50,
    issuedToAcceptedP99: latency.grantIssuedToAccepted.p99,
    issuedToVisibleP50: latency.grantIssuedToLinkageHandoffPushed?.p50 ?? Number.NaN,
    issuedToVisibleP99: latency.grantIssuedToLinkageHandoffPushed?.p99 ?? Number.NaN,
    walBytesPerGrant: loop.wal?.bytesPerGrant ?? Number.NaN,
    postgresCores: loop.cpu.coresUsed.postgres,
  };
}

const median = (xs: readonly number[]) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length === 0 ? null : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

prepareBase();
const runs: Figures[] = [];
for (let i = 0; i < RUNS; i++) {
  // Alternating, base first in even rounds and head first in odd ones: neither side always follows the other.
  const order: Array<"base" | "head"> = i % 2 === 0 ? ["base", "head"] : ["head", "base"];
  for (const side of order) {
    const f = runLoop(side);
    runs.push(f);
    console.log(`${side} ${i + 1}/${RUNS}: p50 ${f.p50} ms, p99 ${f.p99} ms, ${f.handoffsPerSecond} handoffs/s`);
  }
}
const keys = Object.keys(runs[0]!).filter((k) => k !== "side") as Array<Exclude<keyof Figures, "side">>;
const medians = (side: "base" | "head") =>
  Object.fromEntries(keys.map((k) => [k, median(runs.filter((r) => r.side === side).map((r) => r[k]))]));
const summary = { base: medians("base"), head: medians("head") };
console.log(JSON.stringify(summary, null, 2));
writeResult("ab", {
  config: {
    base: sha,
    head: git("rev-parse", "HEAD"),
    headDirty: git("status", "--porcelain") !== "",
    rate: RATE,
    runs: RUNS,
    seconds: SECONDS,
    benchFile: SAME_BENCH ? "this tree's bench/loop.ts on both sides" : "each side's own bench/loop.ts",
  },
  medians: summary,
  runs,
});
