import { randomUUID } from "node:crypto";
import { once } from "node:events";
import type { ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { sampleOf } from "@shenguan/contracts";
import { pgExecutor, PostgresEventStore, type EventStore, type NewEvent, type SqlExecutor, type StoredEvent } from "@shenguan/eventstore";
import { AccessLog, createServiceApp, ManualClock, NO_GRANTS, type Caller, type Grants, type ServiceApp } from "@shenguan/service-kit";
import { databaseUrl } from "@shenguan/tests/harness/services";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deliveryPlugin, PiiProtector } from "../src/index.js";

// SSE backpressure on a real port over a real PostgreSQL store: a subscriber
// that stops reading its socket must stop the gateway taking events for it
// (the stream asks for its next batch only once the socket drains), so what
// the gateway holds for it stays bounded however much is appended; the
// gateway's one shared reader of the log keeps a bounded buffer meanwhile.
// Once the subscriber reads again it gets everything, exactly once, in order.
const DEPT = "350000-XYB";
const grants: Grants = { ...NO_GRANTS, subscribe: { families: ["approval"], regions: ["*"] }, pii: true };
const BATCH = 10;
const EVENTS = 2_000;
/** Each event ~5 KB on the wire, so the run (~10 MB) is well past what the kernel's socket buffers absorb. */
const PAD = "x".repeat(5_000);

let url: string;
let schema: string;
let sql: SqlExecutor;
let inner: PostgresEventStore;
let app: ServiceApp;
/** Events the shared reader took from the store's subscription. */
let handedOver = 0;
let accessLog: AccessLog;
/** Events taken for the stream: each batch is in the access log before it is written to the socket. */
async function takenForStream(): Promise<number> {
  const rows = await accessLog.list({ action: "delivery.sse", limit: 10_000 });
  return rows.reduce((n, r) => n + (r.detail["events"] as string[]).length, 0);
}
const streams: ServerResponse[] = [];

beforeAll(async () => {
  url = await databaseUrl();
  schema = `t_gateway_bp_${randomUUID().replaceAll("-", "")}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  sql = pgExecutor(new pg.Pool({ connectionString: url, max: 5, options: `-c search_path=${schema}` }));
  inner = new PostgresEventStore(sql, { pollIntervalMs: 50 });
  await inner.migrate();
  const clock = new ManualClock("2026-10-12T01:00:00.000Z");
  accessLog = new AccessLog(sql, clock);
  await accessLog.migrate();
  // The store as the plugin sees it, counting what its subscriptions hand over.
  const store: EventStore = {
    append: (...args) => inner.append(...args),
    readStream: (...args) => inner.readStream(...args),
    readAll: (...args) => inner.readAll(...args),
    readByCorrelationKey: (...args) => inner.readByCorrelationKey(...args),
    subscribeToAll: (onEvents, options) =>
      inner.subscribeToAll(async (events: readonly StoredEvent[]) => {
        handedOver += events.length;
        await onEvents(events);
      }, options),
  } as EventStore;

  app = await createServiceApp({ name: "gateway-sse-backpressure", description: "test", logger: false, authentication: "own" });
  app.addHook("onRequest", async (request, reply) => {
    if (request.headers["x-test-department"] === DEPT) request.caller = { department: DEPT, grants } satisfies Caller;
    if (request.url.startsWith("/v1/subscribe/sse")) streams.push(reply.raw);
  });
  await app.register(deliveryPlugin, {
    store,
    sql,
    accessLog,
    pii: new PiiProtector({ mode: "mask" }),
    clock,
    grantsOf: async () => grants,
    sse: { heartbeatMs: 60_000, batchSize: BATCH, maxBuffered: 300 },
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
});

afterAll(async () => {
  await app?.close();
  await inner?.close().catch(() => {});
  await sql?.close().catch(() => {});
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`drop schema if exists ${schema} cascade`);
  await c.end();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `value()` has not changed for `quietMs`; returns it. */
async function settled(value: () => Promise<number>, quietMs: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = await value();
  let since = Date.now();
  while (Date.now() < deadline) {
    await sleep(50);
    const now = await value();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return now;
  }
  throw new Error(`still moving after ${timeoutMs} ms (at ${last})`);
}

describe("SSE backpressure", () => {
  it("stops reading the store while a subscriber's socket does not drain, holds a bounded buffer, and delivers everything in order once it reads again", async () => {
    const port = (app.server.address() as AddressInfo).port;
    // A raw socket, so the test decides when the client reads: paused, nothing is taken from the kernel.
    const socket: Socket = connect(port, "127.0.0.1");
    await once(socket, "connect");
    socket.setEncoding("utf8");
    let text = "";
    const onData = (chunk: string) => (text += chunk);
    socket.on("data", onData);
    socket.write(`GET /v1/subscribe/sse?families=approval HTTP/1.1\r\nhost: 127.0.0.1\r\nx-test-department: ${DEPT}\r\naccept: text/event-stream\r\n\r\n`);
    const deadline = Date.now() + 10_000;
    while (!text.includes(": subscribed")) {
      if (Date.now() > deadline) throw new Error(`no SSE stream: ${text.slice(0, 200)}`);
      await sleep(10);
    }
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    socket.pause();
    const response = streams.at(-1)!;

    const expected: string[] = [];
    for (let i = 0; i < EVENTS / 100; i++) {
      const events: NewEvent[] = Array.from({ length: 100 }, () => {
        const id = randomUUID();
        expected.push(id);
        return {
          id,
          type: "LicenceGranted",
          data: { ...sampleOf("LicenceGranted"), licenceContent: PAD },
          metadata: { correlationId: id, causationId: null, department: "350100-SPJ" },
        };
      });
      await inner.append(`bp-${i}`, events, "no_stream");
    }

    // Paused: the gateway fills the socket, then stops; it takes no more of the log for this subscriber.
    const stalledAt = await settled(takenForStream, 1_000, 30_000);
    expect(stalledAt).toBeLessThan(EVENTS);
    expect(stalledAt).toBeGreaterThan(0);
    // The shared reader went on reading the log (it waits for nobody) into a buffer of at most 300.
    await settled(async () => handedOver, 500, 30_000);
    expect(handedOver).toBe(EVENTS);
    expect(app.sseTail.buffered).toBeLessThanOrEqual(300);
    // What the gateway holds in user space for the stream: at most the high-water mark plus one event, not the backlog.
    const eventBytes = PAD.length + 2_000;
    expect(response.writableLength).toBeLessThanOrEqual(response.writableHighWaterMark + eventBytes);
    expect(response.socket!.writableLength).toBeLessThanOrEqual(response.writableHighWaterMark + eventBytes);
    // Still stalled a while later: nothing more read, nothing more buffered.
    await sleep(500);
    expect(await takenForStream()).toBe(stalledAt);
    expect(response.writableLength).toBeLessThanOrEqual(response.writableHighWaterMark + eventBytes);

    // Reading again: every event, exactly once, in log order.
    socket.resume();
    const idsOf = () => [...text.matchAll(/^data: (\{.*\})$/gm)].map((m) => (JSON.parse(m[1]!) as { id: string }).id);
    const until = Date.now() + 30_000;
    while (idsOf().length < EVENTS) {
      if (Date.now() > until) throw new Error(`only ${idsOf().length} of ${EVENTS} events after resuming`);
      await sleep(50);
    }
    await sleep(200);
    expect(idsOf()).toEqual(expected);
    // The events the buffer had dropped were read from the store for this subscriber: all of them, once.
    expect(await takenForStream()).toBe(EVENTS);
    socket.off("data", onData);
    socket.destroy();
  }, 90_000);
});
