import { createHmac, randomUUID } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ContractViolationError, sampleOf, type EventName, type EventPayloads } from "@shenguan/contracts";
import { pgExecutor, PostgresEventStore, type SqlExecutor } from "@shenguan/eventstore";
import { AccessLog, createServiceApp, ManualClock, NO_GRANTS, type Caller, type Grants, type ServiceApp } from "@shenguan/service-kit";
import { databaseUrl } from "@shenguan/tests/harness/services";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deliveryPlugin, PiiProtector, piiPlugin, WebhookDispatcher } from "../src/index.js";

// The delivery plugins on a real port over a real PostgreSQL event store. Until
// the gateway's authentication is wired in, a test hook sets request.caller
// from a fixture named by the x-test-department header.
const REG = "350102-SCJGJ"; // a county market regulator: approval + linkage of its county, no pii
const CREDIT = "350000-XYB"; // the province's credit platform: everything, pii
const callers: Record<string, Grants> = {
  [REG]: { ...NO_GRANTS, subscribe: { families: ["approval", "linkage"], regions: ["350102"] } },
  [CREDIT]: {
    ...NO_GRANTS,
    subscribe: { families: ["approval", "linkage", "supervision", "enforcement", "credit"], regions: ["*"] },
    pii: true,
  },
};

let url: string;
let schema: string;
let sql: SqlExecutor;
let store: PostgresEventStore;
let accessLog: AccessLog;
let app: ServiceApp;
const clock = new ManualClock("2026-10-12T01:00:00.000Z");
const pii = new PiiProtector({ mode: "sm4", keys: { current: "k1", secrets: { k1: Buffer.alloc(32, 7) } } });

beforeAll(async () => {
  url = await databaseUrl();
  schema = `t_gateway_${randomUUID().replaceAll("-", "")}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  sql = pgExecutor(new pg.Pool({ connectionString: url, max: 10, options: `-c search_path=${schema}` }));
  store = new PostgresEventStore(sql, { pollIntervalMs: 50 });
  await store.migrate();
  accessLog = new AccessLog(sql, clock);
  await accessLog.migrate();

  app = await createServiceApp({ name: "gateway-delivery", description: "test", logger: false, authentication: "own" });
  app.addHook("onRequest", async (request) => {
    const dept = request.headers["x-test-department"];
    const expiresIn = request.headers["x-test-expires-in-ms"];
    if (typeof dept === "string" && callers[dept]) {
      request.caller = {
        department: dept,
        grants: callers[dept],
        ...(typeof expiresIn === "string" ? { expiresAt: new Date(Date.now() + Number(expiresIn)) } : {}),
      } satisfies Caller;
    }
  });
  await app.register(deliveryPlugin, {
    store,
    sql,
    accessLog,
    pii,
    clock,
    grantsOf: async (d) => callers[d],
    sse: { heartbeatMs: 100, batchSize: 2 },
    // The receivers in these tests listen on 127.0.0.1.
    webhooks: { maxAttempts: 3, baseDelayMs: 1_000, timeoutMs: 2_000, egress: { allowPrivateNetworks: true } },
  });
  await app.register(piiPlugin, { pii, accessLog });
  await app.listen({ host: "127.0.0.1", port: 0 });
});

afterAll(async () => {
  await app?.close();
  await store?.close().catch(() => {});
  await sql?.close().catch(() => {});
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`drop schema if exists ${schema} cascade`);
  await c.end();
});

const base = () => `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
let seq = 0;

async function append<N extends EventName>(type: N | "LogSealed", data: EventPayloads[N] | object): Promise<string> {
  const id = randomUUID();
  await store.append(
    `test-${seq++}`,
    [{ id, type, data, metadata: { correlationId: id, causationId: null, department: "350102-SPJ" } }],
    "any",
  );
  return id;
}
const person = (regionCode: string) => ({
  ...sampleOf("LicenceGranted"),
  regionCode,
  holder: { name: "张三丰", uscc: null, idNumber: "350102199001011234" },
  legalRepresentative: "张三丰",
});
const pushed = (regionCode: string) => ({ ...sampleOf("HandoffPushed"), regionCode });
const pushedGrant = (regionCode: string) => ({ ...sampleOf("LicenceGranted"), regionCode });

interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
}

/** A hand-written EventSource: reads the body, splits messages, tracks Last-Event-ID as the spec says. */
async function readSse(
  department: string,
  opts: { lastEventId?: string; query?: string; until: (events: SseMessage[], comments: string[]) => boolean },
): Promise<{ events: SseMessage[]; lastEventId: string | undefined; comments: string[] }> {
  const controller = new AbortController();
  const res = await fetch(`${base()}/v1/subscribe/sse${opts.query ?? ""}`, {
    headers: { "x-test-department": department, ...(opts.lastEventId ? { "last-event-id": opts.lastEventId } : {}) },
    signal: controller.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  const events: SseMessage[] = [];
  const comments: string[] = [];
  let lastEventId = opts.lastEventId;
  let buffer = "";
  const decoder = new TextDecoder();
  const reader = res.body!.getReader();
  const deadline = Date.now() + 20_000;
  try {
    while (!opts.until(events, comments)) {
      if (Date.now() > deadline) throw new Error(`SSE: only ${events.length} events before the deadline`);
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0 && !opts.until(events, comments)) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const msg: SseMessage = {};
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) comments.push(line.slice(1).trim());
          else if (line.startsWith("id: ")) msg.id = line.slice(4);
          else if (line.startsWith("event: ")) msg.event = line.slice(7);
          else if (line.startsWith("data: ")) msg.data = line.slice(6);
        }
        if (msg.id !== undefined) lastEventId = msg.id;
        if (msg.data !== undefined) events.push(msg);
      }
    }
  } finally {
    controller.abort(); // the drop: mid-stream, whatever the server had still buffered
    await reader.cancel().catch(() => {});
  }
  return { events, lastEventId, comments };
}

const idsOf = (events: SseMessage[]) => events.map((e) => (JSON.parse(e.data!) as { id: string }).id);

describe("SSE delivery", () => {
  it("a subscriber that drops mid-stream and reconnects with Last-Event-ID gets every event exactly once, within its grants", async () => {
    const expected: string[] = [];
    for (let i = 0; i < 4; i++) {
      expected.push(await append("LicenceGranted", person("350102")));
      await append("LicenceGranted", person("350203")); // another city: not REG's
      await append("LogSealed", { internal: true }); // never delivered
      await append("InspectionRecorded", sampleOf("InspectionRecorded")); // a family REG lacks
      expected.push(await append("HandoffPushed", pushed("350102001000"))); // 12-digit region inside REG's county
    }
    const first = await readSse(REG, { until: (e) => e.length >= 3 });
    expect(idsOf(first.events)).toEqual(expected.slice(0, 3));

    for (let i = 0; i < 3; i++) {
      expected.push(await append("HandoffPushed", pushed("350102")));
      await append("HandoffPushed", pushed("350203"));
    }
    const second = await readSse(REG, { lastEventId: first.lastEventId!, until: (e) => e.length >= expected.length - 3 });
    expect(idsOf([...first.events, ...second.events])).toEqual(expected);
    expect(second.events.every((e) => e.event === "LicenceGranted" || e.event === "HandoffPushed")).toBe(true);

    // Nothing more is due: from the end, only heartbeats arrive.
    const idle = await readSse(REG, { lastEventId: second.lastEventId!, until: (_e, comments) => comments.includes("heartbeat") });
    expect(idle.events).toEqual([]);
  }, 60_000);

  it("sends personal data sealed without the pii grant and clear with it, and logs every delivery", async () => {
    const id = await append("LicenceGranted", person("350102"));
    const mine = (r: { events: SseMessage[] }) => r.events.some((e) => (JSON.parse(e.data!) as { id: string }).id === id);
    const reg = await readSse(REG, { until: (e) => mine({ events: e }), query: "?families=approval" });
    const sealed = JSON.parse(reg.events.find((e) => JSON.parse(e.data!).id === id)!.data!) as {
      data: { holder: { idNumber: string } };
      pii: string;
    };
    expect(sealed.pii).toBe("sm4");
    expect(sealed.data.holder.idNumber).toMatch(/^sm4:k1:/);

    const credit = await readSse(CREDIT, { until: (e) => mine({ events: e }) });
    const clear = JSON.parse(credit.events.find((e) => JSON.parse(e.data!).id === id)!.data!) as {
      data: { holder: { idNumber: string } };
      pii: string;
    };
    expect(clear).toMatchObject({ pii: "clear", data: { holder: { idNumber: "350102199001011234" } } });

    // The pii holder opens what REG received sealed; REG itself may not.
    const reveal = (dept: string) =>
      fetch(`${base()}/v1/pii/reveal`, {
        method: "POST",
        headers: { "x-test-department": dept, "content-type": "application/json" },
        body: JSON.stringify({ type: "LicenceGranted", data: sealed.data, eventId: id }),
      });
    const opened = await reveal(CREDIT);
    expect(opened.status).toBe(200);
    expect(((await opened.json()) as { data: { holder: { idNumber: string } } }).data.holder.idNumber).toBe("350102199001011234");
    const refused = await reveal(REG);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ code: "access.forbidden" });

    const deliveries = await accessLog.list({ department: REG, action: "delivery.sse", limit: 1000 });
    expect(deliveries.flatMap((r) => r.detail["events"] as string[])).toContain(id);
    const reads = await accessLog.list({ department: CREDIT, action: "pii.read", limit: 1000 });
    expect(JSON.stringify(reads.map((r) => r.detail))).toContain(id);
    expect(await accessLog.list({ department: CREDIT, action: "pii.decrypt" })).toMatchObject([
      { resource: id, detail: { type: "LicenceGranted", paths: ["holder.idNumber", "holder.name", "legalRepresentative"] } },
    ]);
    expect(await accessLog.list({ department: REG, action: "pii.read" })).toEqual([]);
    await expect(sql.query(`update access_log set department = 'nobody'`)).rejects.toThrow(/append-only/);
    expect(await accessLog.verify()).toMatchObject({ ok: true });
  }, 60_000);

  it("ends an open stream when the department's grant is withdrawn, telling the client why", async () => {
    const LATE = "350102-WJJ";
    callers[LATE] = { ...NO_GRANTS, subscribe: { families: ["approval"], regions: ["350102"] } };
    const before = await append("LicenceGranted", pushedGrant("350102"));
    const read = readSse(LATE, {
      until: (events) => events.some((e) => e.event === "access-ended"),
    });
    // The first batch goes out; then the registry withdraws the grant, and the next batch ends the stream.
    await new Promise((r) => setTimeout(r, 300));
    callers[LATE] = { ...NO_GRANTS, subscribe: { families: ["linkage"], regions: ["350102"] } };
    await append("LicenceGranted", pushedGrant("350102"));
    const { events } = await read;
    const delivered = events.filter((e) => e.event === "LicenceGranted").map((e) => (JSON.parse(e.data!) as { id: string }).id);
    expect(delivered).toContain(before);
    expect(events.at(-1)).toMatchObject({ event: "access-ended", data: JSON.stringify({ reason: "grant-withdrawn" }) });
  });

  it("ends an idle stream when the caller's token expires", async () => {
    const res = await fetch(`${base()}/v1/subscribe/sse?families=linkage`, {
      headers: { "x-test-department": REG, "x-test-expires-in-ms": "400" },
    });
    expect(res.status).toBe(200);
    const text = await res.text(); // resolves only when the server ends the stream
    expect(text).toContain(`event: access-ended\ndata: {"reason":"credential-expired"}`);
  });

  it("refuses subscriptions outside the grants and bad Last-Event-IDs, naming what is wrong", async () => {
    const get = (dept: string | undefined, q: string, headers: Record<string, string> = {}) =>
      fetch(`${base()}/v1/subscribe/sse${q}`, { headers: { ...(dept ? { "x-test-department": dept } : {}), ...headers } });
    expect((await get(undefined, "")).status).toBe(401);
    const fam = await get(REG, "?families=supervision");
    expect(fam.status).toBe(403);
    expect(await fam.json()).toMatchObject({ detail: expect.stringContaining("family supervision") });
    expect((await get(REG, "?regions=350203")).status).toBe(403);
    const bad = await get(REG, "", { "last-event-id": "yesterday" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ errors: [{ path: "last-event-id", rule: "log-position" }] });
  });
});

describe("webhook delivery", () => {
  let server: Server;
  let hookUrl: string;
  const received: Array<{ body: string; headers: IncomingHttpHeaders }> = [];
  let failFirst = 0;
  const failEvents = new Set<string>();
  /** Runs before the receiver answers: a test's way to act while a delivery is in flight. */
  let beforeAnswer: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        received.push({ body, headers: req.headers });
        const failing = failFirst-- > 0 || failEvents.has(String(req.headers["x-shenguan-event-id"]));
        void (beforeAnswer ?? (async () => undefined))().then(() => res.writeHead(failing ? 503 : 204).end());
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const SECRET = "whsec-0123456789abcdef";
  /** A webhook's `after` that starts it behind everything already in the log (earlier tests' events). */
  const afterTheLog = async (): Promise<{ after?: string }> => {
    const [latest] = (await store.readAll()).slice(-1);
    return latest ? { after: `${latest.position.commit}/${latest.position.prepare}` } : {};
  };
  const call = (method: string, path: string, body?: unknown, dept = REG) =>
    fetch(`${base()}${path}`, {
      method,
      headers: { "x-test-department": dept, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  const verify = (r: { body: string; headers: IncomingHttpHeaders }) => {
    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(r.headers["x-shenguan-signature"]));
    expect(m).not.toBeNull();
    expect(createHmac("sha256", SECRET).update(`${m![1]}.${r.body}`).digest("hex")).toBe(m![2]);
    return Number(m![1]);
  };

  it("retries with backoff on the injected clock, delivers on recovery with a valid HMAC, dead-letters past the limit without blocking, redelivers", async () => {
    // Registration stays within the grants and names what is wrong.
    const outside = await call("POST", "/v1/webhooks", { url: hookUrl, secret: SECRET, families: ["credit"] });
    expect(outside.status).toBe(403);
    const badUrl = await call("POST", "/v1/webhooks", { url: "ftp://x", secret: SECRET });
    expect(badUrl.status).toBe(400);
    expect(JSON.stringify(await badUrl.json())).toContain("body.url");

    // Start after everything already in the log (the SSE tests' events).
    const created = await call("POST", "/v1/webhooks", { url: hookUrl, secret: SECRET, families: ["approval"], ...(await afterTheLog()) });
    expect(created.status).toBe(201);
    const hook = (await created.json()) as { id: string; families: string[]; regions: string[] };
    expect(hook).toMatchObject({ families: ["approval"], regions: ["350102"] });
    expect(JSON.stringify(hook)).not.toContain(SECRET);
    const webhooks = app.webhooks;

    const e1 = await append("LicenceGranted", person("350102"));
    await append("HandoffPushed", pushed("350102")); // linkage: not in this hook's families
    const e2 = await append("LicenceGranted", person("350102"));

    failFirst = 2;
    expect(await webhooks.deliverDue()).toEqual({ delivered: 0, failed: 1, deadLettered: 0 });
    expect(await webhooks.deliverDue()).toEqual({ delivered: 0, failed: 0, deadLettered: 0 }); // not due yet
    clock.advance(999);
    expect(await webhooks.deliverDue()).toEqual({ delivered: 0, failed: 0, deadLettered: 0 });
    clock.advance(1);
    expect(await webhooks.deliverDue()).toEqual({ delivered: 0, failed: 1, deadLettered: 0 });
    expect((await (await call("GET", `/v1/webhooks/${hook.id}`)).json()) as object).toMatchObject({ attempts: 2, lastError: "HTTP 503" });
    clock.advance(2_000); // the second wait is twice the first
    expect(await webhooks.deliverDue()).toEqual({ delivered: 2, failed: 0, deadLettered: 0 });

    expect(received.map((r) => r.headers["x-shenguan-event-id"])).toEqual([e1, e1, e1, e2]);
    expect(received.map((r) => r.headers["x-shenguan-attempt"])).toEqual(["1", "2", "3", "1"]);
    const t = verify(received[2]!);
    expect(t).toBe(Math.floor(clock.now().getTime() / 1000));
    received.forEach(verify);
    const body = JSON.parse(received[3]!.body) as { id: string; pii: string; data: { holder: { idNumber: string } } };
    expect(body).toMatchObject({ id: e2, type: "LicenceGranted", pii: "sm4" });
    expect(body.data.holder.idNumber).toMatch(/^sm4:k1:/);

    // A durable checkpoint: another worker on the same database does not send them again.
    const other = new WebhookDispatcher({
      sql,
      store,
      accessLog,
      pii,
      clock,
      grantsOf: async (d) => callers[d],
      egress: { allowPrivateNetworks: true },
    });
    expect(await other.deliverDue()).toEqual({ delivered: 0, failed: 0, deadLettered: 0 });

    // An event that never gets through is dead-lettered after maxAttempts (3) and does not hold back the next one.
    received.length = 0;
    const e3 = await append("LicenceGranted", person("350102"));
    const e4 = await append("LicenceGranted", person("350102"));
    failEvents.add(e3);
    expect(await webhooks.deliverDue()).toMatchObject({ failed: 1 });
    clock.advance(1_000);
    expect(await webhooks.deliverDue()).toMatchObject({ failed: 1 });
    clock.advance(2_000);
    expect(await webhooks.deliverDue()).toEqual({ delivered: 1, failed: 1, deadLettered: 1 });
    expect(received.map((r) => r.headers["x-shenguan-event-id"])).toEqual([e3, e3, e3, e4]);

    const dead = (await (await call("GET", `/v1/webhooks/${hook.id}/dead-letters`)).json()) as Array<{
      id: string;
      eventId: string;
      attempts: number;
    }>;
    expect(dead).toMatchObject([{ eventId: e3, attempts: 3, lastError: "HTTP 503", redeliveredAt: null }]);
    expect((await call("GET", `/v1/webhooks/${hook.id}/dead-letters`, undefined, CREDIT)).status).toBe(404); // not CREDIT's hook

    const stillFailing = await call("POST", `/v1/webhooks/${hook.id}/dead-letters/${dead[0]!.id}/redeliver`);
    expect(await stillFailing.json()).toEqual({ delivered: false, error: "HTTP 503" });
    failEvents.delete(e3);
    // The region is re-checked too: a department moved off 350102 gets no redelivery of a 350102 event.
    const grantsThen = callers[REG]!;
    callers[REG] = { ...grantsThen, subscribe: { ...grantsThen.subscribe, regions: ["350203"] } };
    const elsewhere = await call("POST", `/v1/webhooks/${hook.id}/dead-letters/${dead[0]!.id}/redeliver`);
    callers[REG] = grantsThen;
    expect(elsewhere.status).toBe(403);
    expect(JSON.stringify(await elsewhere.json())).toContain("subscribe:approval@350102");
    const redelivered = await call("POST", `/v1/webhooks/${hook.id}/dead-letters/${dead[0]!.id}/redeliver`);
    expect(await redelivered.json()).toEqual({ delivered: true });
    const last = received[received.length - 1]!;
    expect(last.headers["x-shenguan-event-id"]).toBe(e3);
    verify(last);
    expect(
      ((await (await call("GET", `/v1/webhooks/${hook.id}/dead-letters`)).json()) as Array<{ redeliveredAt: string | null }>)[0]!
        .redeliveredAt,
    ).not.toBeNull();

    const logged = await accessLog.list({ department: REG, action: "delivery.webhook", limit: 1000 });
    expect(logged.flatMap((r) => r.detail["events"] as string[])).toEqual(expect.arrayContaining([e1, e2, e3, e4]));

    expect((await call("DELETE", `/v1/webhooks/${hook.id}`)).status).toBe(204);
    expect(await (await call("GET", "/v1/webhooks")).json()).toEqual([]);
    await append("LicenceGranted", person("350102"));
    received.length = 0;
    await webhooks.deliverDue();
    expect(received).toEqual([]);
  }, 60_000);

  it("sends only to public addresses unless private networks are allowed: refused at registration and at every connection", async () => {
    const strict = new WebhookDispatcher({ sql, store, accessLog, pii, clock, grantsOf: async (d) => callers[d] });
    try {
      for (const url of [
        hookUrl,
        "http://localhost:8080/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/",
        "https://user:pw@example.org/hook",
      ]) {
        const error = await strict.register(REG, callers[REG]!, { url, secret: SECRET }).catch((e: unknown) => e);
        expect(error, url).toBeInstanceOf(ContractViolationError);
        expect((error as ContractViolationError).issues[0]).toMatchObject({ path: "body.url", rule: "webhook-destination" });
      }
      // A hook registered while private networks were allowed (or a name that now resolves to a private
      // address, which is what `localhost` does) is refused when it would connect: nothing reaches the receiver.
      const after = await afterTheLog();
      const viaLiteral = (await (
        await call("POST", "/v1/webhooks", { url: hookUrl, secret: SECRET, families: ["approval"], ...after })
      ).json()) as { id: string };
      const port = (server.address() as AddressInfo).port;
      const viaName = (await (
        await call("POST", "/v1/webhooks", {
          url: `http://localhost:${port}/hook`,
          secret: SECRET,
          families: ["approval"],
          ...after,
        })
      ).json()) as { id: string };
      await append("LicenceGranted", person("350102"));
      received.length = 0;
      expect(await strict.deliverDue()).toMatchObject({ delivered: 0, failed: 2 });
      expect(received).toEqual([]);
      const errors = await sql.query<{ id: string; last_error: string }>(`select id, last_error from gateway_webhooks where id = any($1)`, [
        [viaLiteral.id, viaName.id],
      ]);
      const byId = Object.fromEntries(errors.rows.map((r) => [r.id, r.last_error]));
      expect(byId[viaLiteral.id]).toMatch(/127\.0\.0\.1 is not a public address/);
      expect(byId[viaName.id]).toMatch(/localhost resolves to (127\.0\.0\.1|::1), not a public address/);
      for (const id of [viaLiteral.id, viaName.id]) expect((await call("DELETE", `/v1/webhooks/${id}`)).status).toBe(204);
    } finally {
      await strict.close();
    }
  });

  it("a worker whose lease was taken over stops at once, moving no checkpoint; leases run on the database's clock", async () => {
    const created = await call("POST", "/v1/webhooks", { url: hookUrl, secret: SECRET, families: ["approval"], ...(await afterTheLog()) });
    const hook = (await created.json()) as { id: string };
    const before = (await sql.query<{ checkpoint: string | null }>(`select checkpoint from gateway_webhooks where id = $1`, [hook.id]))
      .rows[0]!.checkpoint;
    const e1 = await append("LicenceGranted", person("350102"));
    await append("LicenceGranted", person("350102"));
    received.length = 0;
    // While e1 is in flight, the lease expires and another worker takes it (as after a long pause of this one).
    beforeAnswer = async () => {
      beforeAnswer = undefined;
      await sql.query(`update gateway_webhooks set lease_owner = 'another-worker', lease_until = now() + interval '1 hour' where id = $1`, [
        hook.id,
      ]);
    };
    await app.webhooks.deliverDue();
    expect(received.map((r) => r.headers["x-shenguan-event-id"])).toEqual([e1]);
    const row = (
      await sql.query<{ checkpoint: string | null; lease_owner: string | null }>(
        `select checkpoint, lease_owner from gateway_webhooks where id = $1`,
        [hook.id],
      )
    ).rows[0]!;
    expect(row).toEqual({ checkpoint: before, lease_owner: "another-worker" });
    // Moving the business clock past the lease's end (and well past the database's day) does not end it: only the database's clock does.
    clock.advance(Math.max(0, Date.now() - clock.now().getTime()) + 30 * 86_400_000);
    received.length = 0;
    await app.webhooks.deliverDue();
    expect(received).toEqual([]);
    expect((await call("DELETE", `/v1/webhooks/${hook.id}`)).status).toBe(204);
  });
});
