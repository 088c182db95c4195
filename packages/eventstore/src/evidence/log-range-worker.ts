// Runs in a worker thread of PostgresRangeChecker (log-ranges.ts): checks the ranges it is sent, one
// at a time in the order they come, over a connection of its own (checkRange).
import type pg from "pg";
import { parentPort, workerData } from "node:worker_threads";
import type { LogRange, RangeCheck } from "@shenguan/evidence";
import { checkRange } from "./log-range-read.js";

/** What the worker is started with. */
export interface RangeWorkerData {
  /** The store's connection options (its pool's: server, credentials, search_path). */
  readonly connection: pg.ClientConfig;
}

/** A range to check. */
export interface RangeRequest {
  readonly range: LogRange;
}

export type RangeReply =
  | { readonly index: number; readonly progress: number }
  | { readonly index: number; readonly result: RangeCheck }
  | { readonly index: number; readonly error: string };

/**
 * node-postgres, loaded without its probe for Cloudflare's runtime: `new Response(…)`, whose first use
 * in a Node 20 thread loads the fetch implementation (undici), ~0.1 s of CPU per worker for nothing it
 * uses. Response is hidden from the probe only, and put back as soon as pg is loaded.
 */
async function loadPg(): Promise<typeof pg> {
  const response = Object.getOwnPropertyDescriptor(globalThis, "Response");
  Object.defineProperty(globalThis, "Response", { value: undefined, configurable: true, writable: true });
  try {
    return (await import("pg")).default;
  } finally {
    if (response === undefined) delete (globalThis as { Response?: unknown }).Response;
    else Object.defineProperty(globalThis, "Response", response);
  }
}

const port = parentPort;
if (port === null) throw new Error("log-range-worker must run in a worker thread");
const { connection } = workerData as RangeWorkerData;
const connected = loadPg().then(async (pgModule) => {
  const client = new pgModule.Client(connection);
  // A connection lost while idle must not crash the thread: the next query reports it.
  client.on("error", () => undefined);
  await client.connect();
  return client;
});
connected.catch(() => undefined);

let queue: Promise<void> = Promise.resolve();
port.on("message", ({ range }: RangeRequest) => {
  queue = queue.then(async () => {
    let reply: RangeReply;
    try {
      const client = await connected;
      const result = await checkRange(client, range, (progress) => port.postMessage({ index: range.index, progress } satisfies RangeReply));
      reply = { index: range.index, result };
    } catch (error) {
      reply = { index: range.index, error: error instanceof Error ? error.message : String(error) };
    }
    port.postMessage(reply);
  });
});
