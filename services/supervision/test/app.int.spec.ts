import type { EventName, HandoffPushed } from "@shenguan/contracts";
import { ManualClock } from "@shenguan/service-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildSupervisionApp,
  onLicenceCancelled,
  onLicenceRevoked,
  onRevocationDeclined,
  projectInbox,
  projectInboxChunk,
  inboxChunkStatement,
  type InboxEvent,
  INBOX_PROJECTION,
  INBOX_TABLES,
  rebuildInbox,
  pushOf,
  SupervisionService,
  licenceEndStream,
} from "../src/index.js";
import { migrateConsumerTables, type EventStore } from "@shenguan/eventstore";
import { openTestStore } from "./support/store.js";
import { vouchFor } from "@shenguan/service-kit/testing";

const REGULATOR = "SCJG-350100";
const OTHER_REGULATOR = "ZJJ-350100";
const BUREAU = "SPJ-350100";
const clock = new ManualClock("2026-09-29T02:00:00Z"); // 10:00 in Fuzhou

const pushed = (handoffId: string, over: Partial<HandoffPushed> = {}): HandoffPushed => ({
  handoffId,
  caseId: `C-${handoffId}`,
  licenceId: `L-${handoffId}`,
  holderName: "福州示范餐饮有限公司",
  holderUscc: "91350100M000100Y43",
  itemCode: "000105001000",
  regionCode: "350102",
  regulator: REGULATOR,
  pushedAt: new Date("2026-09-28T02:00:00Z").getTime(),
  claimLimit: { amount: 5, unit: "WORKING_DAYS" },
  claimDue: "2026-10-12",
  autoClaimed: false,
  underCommitment: true,
  verificationDue: "2026-12-28",
  approvalAuthority: BUREAU,
  ...over,
});
const ce = (id: string, department = "LINKAGE") => ({ id, source: `/departments/${department}` });
/** The pushes taken in, as the inbox consumer handed them over (ce id `push-<handoffId>`). */
const pushes: (InboxEvent & { name: "HandoffPushed"; ce: { id: string } })[] = [];
/** A push reaching the regulators' inbox: all a handoff needs before its regulator acts on it. */
const receive = async (push: HandoffPushed) => {
  const event = { name: "HandoffPushed" as const, payload: push, ce: { id: `push-${push.handoffId}` } };
  pushes.push(event);
  await opened.executor.transaction((tx) => projectInbox(event, tx));
};

let opened: Awaited<ReturnType<typeof openTestStore>>;
let app: Awaited<ReturnType<typeof buildSupervisionApp>>;
let key = 0;

const post = (url: string, payload: object | undefined, department = REGULATOR, idempotencyKey = `k-${++key}`) =>
  app.inject({
    method: "POST",
    url,
    headers: { ...vouchFor(department), "idempotency-key": idempotencyKey },
    ...(payload ? { payload } : {}),
  });
const get = (url: string, department = REGULATOR) => app.inject({ method: "GET", url, headers: vouchFor(department) });
const eventCount = async (handoffId: string) => (await app.handoffs.events(handoffId)).length;
/** Every inbox row as the view shows it, with the push it keeps: for comparing two ways of writing the inbox. */
const inboxRows = async () =>
  (
    await opened.executor.query(
      `select i.*, h.push, h.push_event_id from supervision_inbox i join supervision_inbox_handoffs h using (handoff_id) order by handoff_id`,
    )
  ).rows.map((r) => JSON.stringify(r));
const inspection = {
  inspectionDate: "2026-09-28",
  method: "RANDOM",
  result: "NON_COMPLIANT",
  findings: "后厨未做生熟分区",
  handling: "责令限期整改",
  rectificationDue: "2026-10-15",
};

beforeAll(async () => {
  opened = await openTestStore();
  app = await buildSupervisionApp({ store: opened.store, sql: opened.executor, clock, logger: false });
  for (const id of ["H1", "H2", "H3", "H4", "H5"]) await receive(pushed(id));
  await receive(pushed("H6", { regulator: OTHER_REGULATOR }));
  await receive(pushed("H7", { autoClaimed: true, claimDue: "2026-10-01" }));
});

afterAll(async () => {
  await app?.close();
  await opened?.close();
});

describe("supervision app: claim (认领)", () => {
  it("lets the routed regulator claim, publishing HandoffClaimed; the stream begins with the push it claimed", async () => {
    expect(await eventCount("H1")).toBe(0);
    const res = await post("/handoffs/H1/claim", undefined);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ handoffId: "H1", status: "claimed", revision: "1", events: ["HandoffClaimed"], recordId: null });
    const [received, claimed] = await app.handoffs.events("H1");
    expect(received).toMatchObject({
      type: "HandoffReceived",
      data: pushed("H1"),
      metadata: { department: REGULATOR, correlationId: "push-H1", causationId: "push-H1", caseId: "C-H1", subject: "91350100M000100Y43" },
    });
    expect(claimed).toMatchObject({
      type: "HandoffClaimed",
      data: {
        handoffId: "H1",
        licenceId: "L-H1",
        regulator: REGULATOR,
        claimedAt: clock.now().getTime(),
        claimDue: "2026-10-12",
        onTime: true,
        automatic: false,
      },
      metadata: { department: REGULATOR, caseId: "C-H1", subject: "91350100M000100Y43" },
    });
  });

  it("answers the wrong regulator with 403 problem details naming the rule", async () => {
    const res = await post("/handoffs/H2/claim", undefined, OTHER_REGULATOR);
    expect(res.statusCode).toBe(403);
    expect(res.headers["content-type"]).toContain("application/problem+json");
    expect(res.json()).toMatchObject({ status: 403, code: "handoff.not-regulator", type: "urn:shenguan:problem:handoff.not-regulator" });
    expect(res.json().detail).toContain(REGULATOR);
    // Refused: the stream is not begun either.
    expect(await eventCount("H2")).toBe(0);
  });

  it("refuses a second claim with 409, and a claim of an unknown handoff", async () => {
    expect((await post("/handoffs/H1/claim", undefined)).json()).toMatchObject({ status: 409, code: "handoff.already-claimed" });
    expect((await post("/handoffs/NOPE/claim", undefined)).json()).toMatchObject({ status: 409, code: "handoff.unknown" });
  });
});

describe("supervision app: commands", () => {
  it("replays the first response to a retried POST with the same Idempotency-Key and appends nothing", async () => {
    const first = await post("/handoffs/H1/inspections", inspection, REGULATOR, "retry-1");
    expect(first.statusCode).toBe(201);
    const before = await eventCount("H1");
    const retry = await post("/handoffs/H1/inspections", inspection, REGULATOR, "retry-1");
    expect(retry.statusCode).toBe(201);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    expect(retry.json()).toEqual(first.json());
    expect(await eventCount("H1")).toBe(before);
  });

  it("refuses a bad body with 400 naming the field", async () => {
    const res = await post("/handoffs/H1/inspections", { ...inspection, inspectionDate: "2026-02-30", method: "GUESS" });
    expect(res.statusCode).toBe(400);
    const paths = (res.json().errors as { path: string }[]).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(["body.inspectionDate", "body.method"]));
  });

  it("requires the Idempotency-Key header on commands", async () => {
    const res = await app.inject({ method: "POST", url: "/handoffs/H1/claim", headers: vouchFor(REGULATOR) });
    expect(res.json()).toMatchObject({ status: 400, errors: [{ path: "idempotency-key" }] });
  });

  it("runs a rectification round, a verification, a transfer and a revocation request", async () => {
    const ordered = await post("/handoffs/H1/rectifications", { requirements: "生熟分区", dueDate: "2026-10-15" });
    expect(ordered.json()).toMatchObject({ events: ["RectificationOrdered"], recordId: expect.any(String) });
    expect((await post("/handoffs/H1/rectifications", { requirements: "again", dueDate: "2026-10-20" })).json()).toMatchObject({
      status: 409,
      code: "rectification.round-open",
    });
    expect((await post("/handoffs/H1/rectifications/2/complete", { passed: true, findings: "x" })).json()).toMatchObject({
      status: 409,
      code: "rectification.not-open-round",
    });
    expect((await post("/handoffs/H1/rectifications/1/complete", { passed: true, findings: "已整改" })).json()).toMatchObject({
      events: ["RectificationCompleted"],
    });
    expect((await post("/handoffs/H1/commitment-verification", { truthful: false, findings: "面积不实" })).statusCode).toBe(201);
    expect((await post("/handoffs/H1/transfers", { enforcementDepartment: "ZHZF-350100", reason: "承诺不实" })).json()).toMatchObject({
      events: ["TransferredToEnforcement"],
    });
    const requested = await post("/handoffs/H1/revocation-requests", { grounds: "以欺骗手段取得许可" });
    expect(requested.json()).toMatchObject({ events: ["RevocationRequested"] });
    const events = await app.handoffs.events("H1");
    expect(events.at(-1)).toMatchObject({
      type: "RevocationRequested",
      data: { requestId: requested.json().recordId, approvalAuthority: BUREAU, regulator: REGULATOR },
    });
  });

  it("refuses a domain rule with 409 naming the field", async () => {
    await post("/handoffs/H3/claim", undefined);
    const res = await post("/handoffs/H3/rectifications", { requirements: "x", dueDate: "2026-09-29" });
    expect(res.json()).toMatchObject({ status: 409, code: "rectification.due-not-future", errors: [{ path: "dueDate" }] });
  });
});

describe("supervision app: answers and the licence's end, from Kafka", () => {
  it("records a declined revocation request once, and closes the handoff when the licence is revoked", async () => {
    const requestId = lastRequestId(await app.handoffs.events("H1"));
    const declined = {
      caseId: "C-H1",
      licenceId: "L-H1",
      requestId,
      decisionNumber: "不撤-1",
      reason: "证据不足",
      decisionDate: "2026-09-29",
    };
    await onRevocationDeclined(app.handoffs, declined, ce("declined-1", BUREAU));
    await onRevocationDeclined(app.handoffs, declined, ce("declined-1", BUREAU));
    const state = await app.handoffs.state("H1");
    expect(state).toMatchObject({ status: "claimed", revocationRequests: [{ requestId, answer: { outcome: "declined" } }] });

    const revoked = {
      caseId: "C-H1",
      licenceId: "L-H1",
      decisionNumber: "撤-1",
      reason: "承诺不实",
      decisionDate: "2026-09-29",
      answersRequestId: null,
    };
    await onLicenceRevoked(app.handoffs, revoked, ce("revoked-1", BUREAU));
    const count = await eventCount("H1");
    await onLicenceRevoked(app.handoffs, revoked, ce("revoked-1", BUREAU));
    expect(await eventCount("H1")).toBe(count);

    const res = await post("/handoffs/H1/inspections", inspection);
    expect(res.json()).toMatchObject({ status: 409, code: "handoff.closed" });
    expect(res.json().detail).toContain("revoked on 2026-09-29");
  });

  it("closes a handoff whose push arrives after the licence was cancelled", async () => {
    await onLicenceCancelled(
      app.handoffs,
      { caseId: "C-H8", licenceId: "L-H8", decisionNumber: "注-1", reason: "申请注销", decisionDate: "2026-09-29" },
      ce("cancel-8", BUREAU),
    );
    await receive(pushed("H8"));
    expect(await app.handoffs.state("H8")).toMatchObject({ status: "closed", closure: { ended: "cancelled", decisionNumber: "注-1" } });
    expect((await post("/handoffs/H8/claim", undefined)).json()).toMatchObject({ status: 409, code: "handoff.closed" });
    expect(await eventCount("H8")).toBe(0);
  });

  it("closes a handoff acted on before the licence's end, and not one only pushed (it is closed when first acted on)", async () => {
    await receive(pushed("H9"));
    await receive(pushed("H10", { licenceId: "L-H9", caseId: "C-H9" }));
    await post("/handoffs/H9/claim", undefined);
    await onLicenceCancelled(
      app.handoffs,
      { caseId: "C-H9", licenceId: "L-H9", decisionNumber: "注-9", reason: "申请注销", decisionDate: "2026-09-29" },
      ce("cancel-9", BUREAU),
    );
    expect((await app.handoffs.events("H9")).map((e) => e.type)).toEqual(["HandoffReceived", "HandoffClaimed", "HandoffClosed"]);
    expect(await eventCount("H10")).toBe(0);
    expect(await app.handoffs.state("H10")).toMatchObject({ status: "closed", closure: { decisionNumber: "注-9" } });
  });

  it("serves the folded state and the event history", async () => {
    const state = await get("/handoffs/H7");
    expect(state.json()).toMatchObject({ handoffId: "H7", status: "claimed", claim: { automatic: true } });
    const events = await get("/handoffs/H1/events");
    expect(events.json()[0]).toMatchObject({ type: "HandoffReceived", revision: "0", metadata: { causationId: "push-H1" } });
    // Pushed and not acted on: known, with no events of its own yet.
    expect((await get("/handoffs/H2")).json()).toMatchObject({ handoffId: "H2", status: "pushed", handoff: pushed("H2") });
    expect((await get("/handoffs/H2/events")).json()).toEqual([]);
    expect((await get("/handoffs/NOPE")).statusCode).toBe(404);
    expect((await get("/handoffs/NOPE/events")).statusCode).toBe(404);
  });
});

describe("supervision app: the inbox (read model)", () => {
  const contracts = new Set<string>([
    "HandoffClaimed",
    "InspectionRecorded",
    "RectificationOrdered",
    "RectificationCompleted",
    "CommitmentVerified",
    "TransferredToEnforcement",
    "RevocationRequested",
  ]);

  let consumed: InboxEvent[] = [];
  beforeAll(async () => {
    // H2 pushed only; H3 claimed; H4 claimed with an inspection that calls for rectification; H5 claimed and verified.
    await post("/handoffs/H4/claim", undefined);
    await post("/handoffs/H4/inspections", inspection);
    await post("/handoffs/H5/claim", undefined);
    await post("/handoffs/H5/commitment-verification", { truthful: true, findings: "属实" });
    // What the consumer would hand over from the linkage, supervision and approval topics: the
    // pushes as linkage published them, this service's own contract events, and the licences' ends.
    consumed = [...pushes];
    for (const e of await opened.store.readAll()) {
      if (contracts.has(e.type)) consumed.push({ name: e.type as EventName, payload: e.data } as InboxEvent);
    }
    consumed.push({
      name: "LicenceRevoked",
      payload: {
        caseId: "C-H1",
        licenceId: "L-H1",
        decisionNumber: "撤-1",
        reason: "承诺不实",
        decisionDate: "2026-09-29",
        answersRequestId: null,
      },
    });
    consumed.push({
      name: "LicenceCancelled",
      payload: { caseId: "C-H8", licenceId: "L-H8", decisionNumber: "注-1", reason: "申请注销", decisionDate: "2026-09-29" },
    });
    consumed.push({
      name: "LicenceCancelled",
      payload: { caseId: "C-H9", licenceId: "L-H9", decisionNumber: "注-9", reason: "申请注销", decisionDate: "2026-09-29" },
    });
    // Topics are consumed independently: apply the approval and supervision events before the pushes.
    consumed.sort((a, b) => Number(a.name === "HandoffPushed") - Number(b.name === "HandoffPushed"));
    await opened.executor.transaction(async (tx) => {
      for (const event of consumed) await projectInbox(event, tx);
    });
  });

  it("a consumer chunk (runs of pushes as one upsert) leaves exactly the rows one event at a time leaves", async () => {
    const oneByOne = await inboxRows();
    expect(oneByOne.length).toBeGreaterThan(5);
    for (const table of ["supervision_inbox_handoffs", "supervision_inbox_activity", "supervision_inbox_licence_ends"])
      await opened.executor.query(`delete from ${table}`);
    // A push delivered twice in the chunk (a redelivery) changes nothing.
    const firstPush = consumed.find((e) => e.name === "HandoffPushed")!;
    await opened.executor.transaction((tx) => projectInboxChunk([firstPush, ...consumed], tx));
    expect(await inboxRows()).toEqual(oneByOne);
  });

  it("a chunk of pushes as one statement with the consumer's claims (inboxChunkStatement) leaves the rows one event at a time leaves, and only the claimed pushes", async () => {
    const oneByOne = await inboxRows();
    for (const table of ["supervision_inbox_handoffs", "supervision_inbox_activity", "supervision_inbox_licence_ends"])
      await opened.executor.query(`delete from ${table}`);
    const pushes = consumed.filter((e) => e.name === "HandoffPushed").map((e) => ({ ...e, ce: e.ce! }));
    expect(pushes.length).toBeGreaterThan(3);
    await opened.executor.transaction(async (tx) => {
      for (const event of consumed) if (event.name !== "HandoffPushed") await projectInbox(event, tx);
    });
    // The consumer's statement: its claims as `claimed`, the projection's parameters after them.
    const run = async (events: typeof pushes, claimed: readonly string[]) => {
      const queries = inboxChunkStatement(events, { claimed: "claimed", firstParam: 2 });
      expect(queries).toBeDefined();
      await opened.executor.query(`with claimed as (select unnest($1::text[]) as ce_id), ${queries!.with} select 1`, [
        claimed,
        ...queries!.params,
      ]);
    };
    // The first push was claimed before (a redelivery): left out now, then taken in a later chunk.
    await run(
      pushes,
      pushes.slice(1).map((p) => p.ce.id),
    );
    expect(await inboxRows()).not.toEqual(oneByOne);
    await run(pushes.slice(0, 1), [pushes[0]!.ce.id]);
    expect(await inboxRows()).toEqual(oneByOne);
    // Chunks it cannot write in one statement: anything but pushes, or one handoff pushed twice.
    expect(
      inboxChunkStatement([...pushes, { ...consumed.find((e) => e.name !== "HandoffPushed")!, ce: { id: "x" } }], {
        claimed: "c",
        firstParam: 1,
      }),
    ).toBeUndefined();
    expect(inboxChunkStatement([pushes[0]!, { ...pushes[0]!, ce: { id: "again" } }], { claimed: "c", firstParam: 1 })).toBeUndefined();
  });

  it("gives each handoff the status of the furthest step reached", async () => {
    const res = await get("/handoffs");
    expect(res.statusCode).toBe(200);
    const statuses = Object.fromEntries((res.json().items as { handoffId: string; status: string }[]).map((i) => [i.handoffId, i.status]));
    expect(statuses).toEqual({ H1: "closed", H2: "pushed", H3: "claimed", H4: "supervising", H5: "fed_back", H7: "claimed", H8: "closed", H9: "closed", H10: "closed" });
    const h1 = (res.json().items as Record<string, unknown>[]).find((i) => i.handoffId === "H1");
    expect(h1).toMatchObject({
      inspections: 1,
      rectificationRounds: 1,
      openRound: null,
      commitmentTruthful: false,
      transfers: 1,
      revocationRequests: 1,
      ended: "revoked",
      claimedOnTime: true,
      claimDue: "2026-10-12",
      holderName: "福州示范餐饮有限公司",
    });
  });

  it("filters by status and claim due date, and pages", async () => {
    expect((await get("/handoffs?status=closed")).json().items.map((i: { handoffId: string }) => i.handoffId)).toEqual(["H1", "H10", "H8", "H9"]);
    expect((await get("/handoffs?claimDueBefore=2026-10-12")).json().items.map((i: { handoffId: string }) => i.handoffId)).toEqual(["H7"]);
    const page2 = (await get("/handoffs?pageSize=3&page=2")).json();
    expect(page2).toMatchObject({ total: 9, page: 2, pageSize: 3 });
    expect(page2.items.map((i: { handoffId: string }) => i.handoffId)).toEqual(["H2", "H3", "H4"]);
  });

  it("shows a department its own inbox only", async () => {
    expect((await get("/handoffs", OTHER_REGULATOR)).json().items.map((i: { handoffId: string }) => i.handoffId)).toEqual(["H6"]);
    expect((await get(`/handoffs?regulator=${REGULATOR}`, OTHER_REGULATOR)).json()).toMatchObject({
      status: 403,
      code: "access.forbidden",
    });
    expect((await get("/handoffs?status=lost")).json()).toMatchObject({ status: 400, errors: [{ path: "querystring.status" }] });
  });

  it("is rebuilt from the topics: emptied with its consumer's offsets and inbox (no other consumer's), then replayed to the same rows", async () => {
    const before = await inboxRows();
    await migrateConsumerTables(opened.executor);
    for (const consumer of [INBOX_PROJECTION, "supervision-incoming"]) {
      await opened.executor.query(`insert into consumer_offsets (consumer, topic, partition, next_offset) values ($1, 'linkage', 0, 42)`, [
        consumer,
      ]);
    }
    expect(await rebuildInbox(opened.executor)).toEqual({ truncated: INBOX_TABLES });
    for (const table of INBOX_TABLES) expect((await opened.executor.query(`select 1 from ${table}`)).rows).toEqual([]);
    expect((await opened.executor.query<{ consumer: string }>(`select consumer from consumer_offsets`)).rows).toEqual([
      { consumer: "supervision-incoming" },
    ]);
    // Meanwhile a handoff not yet acted on is unknown to its regulator; one acted on keeps its stream.
    expect((await post("/handoffs/H2/claim", undefined)).json()).toMatchObject({ status: 409, code: "handoff.unknown" });
    expect((await get("/handoffs/H1")).json()).toMatchObject({ status: "closed" });
    await opened.executor.transaction((tx) => projectInboxChunk(consumed, tx));
    expect(await inboxRows()).toEqual(before);
  });
});

describe("supervision: a licence that ends while a handoff's first command begins its stream", () => {
  let own: Awaited<ReturnType<typeof openTestStore>>;
  beforeAll(async () => {
    own = await openTestStore();
  });
  afterAll(() => own?.close());

  it("closes the handoff when the end was noted after the command looked for it (and the consumer found no stream to close)", async () => {
    const reference = await buildSupervisionApp({ store: own.store, sql: own.executor, clock, logger: false });
    await own.executor.transaction((tx) => projectInbox({ name: "HandoffPushed", payload: pushed("H11"), ce: { id: "push-H11" } }, tx));
    // The store as the service sees it: the first look for L-H11's end finds none, and the approval topic's
    // consumer notes the end right after, before the command appends (so it finds no stream of H11 to close).
    let armed = true;
    const store = new Proxy(own.store, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (prop !== "readStream" || typeof value !== "function") return typeof value === "function" ? value.bind(target) : value;
        return async (name: string, ...rest: unknown[]) => {
          const events = await (value as (...a: unknown[]) => ReturnType<EventStore["readStream"]>).call(target, name, ...rest);
          if (armed && name === licenceEndStream("L-H11")) {
            armed = false;
            await onLicenceCancelled(
              reference.handoffs,
              { caseId: "C-H11", licenceId: "L-H11", decisionNumber: "注-11", reason: "申请注销", decisionDate: "2026-09-29" },
              ce("cancel-11", BUREAU),
            );
          }
          return events;
        };
      },
    });
    const service = new SupervisionService({ store, clock, pushes: (id) => pushOf(own.executor, id) });
    const claimed = await service.execute("H11", "ClaimHandoff", {}, { department: REGULATOR, correlationId: "race-11" });
    expect(claimed).toMatchObject({ status: "claimed", events: ["HandoffClaimed"] });
    expect(armed).toBe(false);
    const events = await reference.handoffs.events("H11");
    expect(events.map((e) => e.type)).toEqual(["HandoffReceived", "HandoffClaimed", "HandoffClosed"]);
    expect(events[2]).toMatchObject({ data: { decisionNumber: "注-11" }, metadata: { department: REGULATOR, causationId: expect.any(String) } });
    await reference.close();
  });
});

function lastRequestId(events: readonly { type: string; data: unknown }[]): string {
  const e = events.findLast((x) => x.type === "RevocationRequested");
  return (e?.data as { requestId: string }).requestId;
}
