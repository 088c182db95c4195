import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NewEvent } from "@shenguan/eventstore";

/** What every result file records about where it ran, so figures are comparable. */
export function machine() {
  const cpus = os.cpus();
  return { cpuModel: cpus[0]?.model ?? "unknown", cores: cpus.length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}` };
}

export function writeResult(name: string, result: object): string {
  const dir = join(fileURLToPath(new URL(".", import.meta.url)), "results");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.json`);
  writeFileSync(path, `${JSON.stringify({ benchmark: name, at: new Date().toISOString(), machine: machine(), ...result }, null, 2)}\n`);
  return path;
}

/** The p-quantile (0..1) of ascending `sorted` values, to the microsecond (ms units). */
export function percentile(sorted: readonly number[], p: number): number {
  return Number((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0).toFixed(3));
}

/**
 * `total` operations shared by `workers` loops, each awaiting its previous
 * operation: the elapsed seconds and the p50/p99 latency in ms.
 */
export async function runConcurrently(
  total: number,
  workers: number,
  operation: (i: number) => Promise<unknown>,
): Promise<{ readonly seconds: number; readonly latencyMs: { readonly p50: number; readonly p99: number } }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let i = next++; i < total; i = next++) {
        const t = performance.now();
        await operation(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { seconds, latencyMs: { p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) } };
}

/** The size and shape of a real integration event, a licence grant: what the store benchmarks append. */
export const SAMPLE_EVENT: NewEvent = {
  type: "LicenceGranted",
  data: {
    caseId: "LIC-2024-330100-000123",
    licenceNo: "JY33010020240001234",
    holder: { uscc: "91330100MA2GXXXX1X", name: "杭州示例食品有限公司" },
    items: ["食品销售", "餐饮服务"],
    validFrom: "2024-05-01",
    validTo: "2029-04-30",
    decidedBy: "330100-SAMR",
  },
  metadata: {
    correlationId: "018f3c2a-7b1e-7c4d-9a51-3e0f6b2d8c11",
    causationId: "018f3c2a-7b1e-7c4d-9a51-3e0f6b2d8c10",
    department: "330100-SAMR",
    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    subject: "91330100MA2GXXXX1X",
    caseId: "LIC-2024-330100-000123",
  },
};
