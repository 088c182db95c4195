/**
 * Exactly-once read models under a crash: a linkage projection consumer
 * killed with SIGKILL mid-stream and restarted ends with every read-model
 * table (READ_MODEL_TABLES) identical, row for row, to a consumer of the same
 * topics that never stopped, each in a fresh schema of its own, and to the
 * bus's own linkage read model.
 *
 * The stream is scripted through the services' APIs: grants (under 告知承诺
 * and not, routed and unrouted), claims in time and late, inspections,
 * rectification, commitment verifications (two false: credit records),
 * a transfer to enforcement, a revocation, a declined revocation request, a
 * cancellation, a late route, and yellow and red cards from the timer.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { demoUscc } from "@shenguan/bus";
import { openEventStore, runProjectionConsumer, type ProjectionConsumer, type SqlExecutor } from "@shenguan/eventstore";
import { buildLinkageApp, LINKAGE_PROJECTION, linkageTopicsOf, READ_MODEL_TABLES } from "@shenguan/linkage";
import { ManualClock } from "@shenguan/service-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addRoute,
  apiOf,
  caughtUp,
  cleanUp,
  DEMO,
  grantLicence,
  logger,
  SUPERVISOR,
  startE2e,
  storedOffsets,
  waitFor,
  waitQuiet,
  type Api,
  type Body,
  type E2e,
  type Reply,
} from "./support.js";

const T0 = "2026-04-01T10:00:00+08:00"; // a Wednesday; 清明 04-04..04-06 is off
const CONSTRUCTION_REGULATOR = "ZJJ-350100";
const N = 24;

type Kind = "food" | "hygiene" | "construction";
const kindOf = (i: number): Kind => (i % 6 === 0 ? "construction" : i % 3 === 0 ? "hygiene" : "food");
const regulatorOf: Record<Kind, string> = { food: DEMO.market, hygiene: DEMO.health, construction: CONSTRUCTION_REGULATOR };
const licenceOf = (i: number) => `LC1350102${String(i).padStart(7, "0")}`;
const caseOf = (i: number) => `E2E-CRASH-${i}`;
const handoffOf = (i: number) => `H-${licenceOf(i)}`;
const underCommitment = (i: number) => kindOf(i) === "food" && i % 2 === 1;
const FALSE_COMMITMENTS = [5, 13];

function ok(r: Reply, status: number, what: string): Body {
  if (r.status !== status) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** The routes every linkage instance in this test keeps: food and hygiene (construction gets its route late, on the bus only). */
async function baseRoutes(linkage: Api): Promise<void> {
  await addRoute(linkage, { itemCode: DEMO.items.food.code, regulator: DEMO.market, claimDays: 5 });
  await addRoute(linkage, { itemCode: DEMO.items.hygiene.code, regulator: DEMO.health, claimDays: 3 });
}

describe("a linkage consumer killed mid-stream and restarted (e2e)", () => {
  let e: E2e;
  const schemas: string[] = [];
  const children: ChildProcess[] = [];
  let reference: { consumer?: ProjectionConsumer; close(): Promise<void> } | undefined;

  beforeAll(async () => {
    e = await startE2e({ name: "crash", start: T0 });
  });
  afterAll(async () => {
    for (const c of children) {
      if (c.exitCode !== null || c.signalCode !== null) continue;
      c.kill("SIGTERM");
      await once(c, "exit");
    }
    await reference?.close();
    if (e) {
      await e.stop();
      await cleanUp(e.databaseUrl, e.kafka, e.prefix, schemas);
    }
  });

  /** Writes the scripted stream through the bus's APIs and waits until the bus has relayed and consumed all of it. */
  async function script(): Promise<Map<string, string>> {
    const { approval, supervision, linkage } = e;
    await baseRoutes(linkage);
    const all = Array.from({ length: N }, (_, k) => k + 1);
    for (const i of all) {
      const kind = kindOf(i);
      await grantLicence(
        e,
        {
          caseId: caseOf(i),
          licenceId: licenceOf(i),
          item: DEMO.items[kind],
          holder: { name: `福州示范经营者${i}号`, uscc: demoUscc(400 + i) },
          underCommitment: underCommitment(i),
        },
        "2026-04-01",
      );
    }
    // Every grant routed at T0 (the clock moves only after linkage has pushed them all).
    await waitFor("linkage to route every grant", async () => {
      const hs = (await linkage.get("/handoffs?limit=1000", SUPERVISOR)).body as Body[];
      return (
        hs.length === N &&
        hs.every((h) => (kindOf(Number(h.licenceId.slice(-7))) === "construction" ? h.status === "unrouted" : h.status === "pushed"))
      );
    });
    const routed = all.filter((i) => kindOf(i) !== "construction");
    for (const i of routed) {
      await waitFor(
        `the regulator's handoff ${i}`,
        async () => (await supervision.get(`/handoffs/${handoffOf(i)}`, regulatorOf[kindOf(i)])).status === 200,
      );
    }

    // T1: claims, inspections, verifications, a transfer, revocation requests; construction gets its route.
    e.at("2026-04-02");
    const act = (i: number, path: string, body: object | undefined, status: number) =>
      supervision.post(`/handoffs/${handoffOf(i)}${path}`, regulatorOf[kindOf(i)], body).then((r) => ok(r, status, `${path} ${i}`));
    for (const i of routed.filter((i) => i % 4 !== 0)) await act(i, "/claim", undefined, 200);
    for (const i of [2, 14, 9]) {
      await act(
        i,
        "/inspections",
        { inspectionDate: "2026-04-02", method: "RANDOM", result: "COMPLIANT", findings: "未发现问题", handling: "无" },
        201,
      );
    }
    for (const i of [10, 22]) {
      await act(
        i,
        "/inspections",
        {
          inspectionDate: "2026-04-02",
          method: "TARGETED",
          result: "NON_COMPLIANT",
          findings: "从业人员无健康证明",
          handling: "责令整改",
          rectificationDue: "2026-04-20",
        },
        201,
      );
      await act(i, "/rectifications", { requirements: "办理从业人员健康证明", dueDate: "2026-04-20" }, 201);
    }
    const requests = new Map<number, string>();
    for (const i of routed.filter(underCommitment)) {
      const truthful = !FALSE_COMMITMENTS.includes(i);
      await act(i, "/commitment-verification", { truthful, findings: truthful ? "承诺属实" : "承诺的经营场所不存在" }, 201);
      if (!truthful) requests.set(i, (await act(i, "/revocation-requests", { grounds: "虚假承诺取得许可" }, 201)).recordId);
    }
    await act(15, "/transfers", { enforcementDepartment: DEMO.enforcement, reason: "无证经营游泳场所" }, 201);
    const released = await addRoute(linkage, { itemCode: DEMO.items.construction.code, regulator: CONSTRUCTION_REGULATOR, claimDays: 2 });
    expect(released.released.pushed).toHaveLength(4);

    // T2 (04-09): a rectification passes, two late claims, and the timer's cards (food yellow; construction, due 04-07, red).
    e.at("2026-04-09");
    await act(10, "/rectifications/1/complete", { passed: true, findings: "已办理健康证明" }, 200);
    for (const i of [6, 18]) {
      await waitFor(
        `the late push ${i}`,
        async () => (await supervision.get(`/handoffs/${handoffOf(i)}`, CONSTRUCTION_REGULATOR)).status === 200,
      );
      await act(i, "/claim", undefined, 200);
    }
    await waitQuiet(e); // linkage has seen the late claims: their deadlines are met, not red
    const t2 = (await e.bus.tick()) as Body;
    expect({ warned: t2.warned.length, breached: t2.breached.length }).toEqual({ warned: 4, breached: 2 });

    // T3 (04-15): revoke one licence on request, decline the other request, cancel a licence; food claims turn red.
    e.at("2026-04-15");
    for (const [i, requestId] of requests) {
      await waitFor(
        `request ${i} on the approval case`,
        async () => (await approval.get(`/cases/${caseOf(i)}`, DEMO.bureau)).body.requests?.[requestId],
      );
    }
    const decision = { reason: "经核查", decisionDate: "2026-04-15" };
    ok(
      await approval.post(`/cases/${caseOf(5)}/revoke`, DEMO.bureau, {
        ...decision,
        decisionNumber: "榕审批撤〔2026〕5号",
        answersRequestId: requests.get(5),
      }),
      200,
      "revoke 5",
    );
    ok(
      await approval.post(`/cases/${caseOf(13)}/revocation-requests/${requests.get(13)}/decline`, DEMO.bureau, {
        ...decision,
        decisionNumber: "榕审批不撤〔2026〕13号",
      }),
      200,
      "decline 13",
    );
    ok(
      await approval.post(`/cases/${caseOf(1)}/cancel`, DEMO.bureau, { ...decision, decisionNumber: "榕审批注〔2026〕1号" }),
      200,
      "cancel 1",
    );
    await waitQuiet(e);
    const t3 = (await e.bus.tick()) as Body;
    expect(t3.breached).toHaveLength(4);
    return waitQuiet(e);
  }

  /** A fresh schema with the linkage tables and the base routes; the app stays open for the in-process consumer. */
  async function linkageSchema(name: string) {
    const schema = `${e.schema}_${name}`;
    schemas.push(schema);
    const opened = await openEventStore({ url: e.databaseUrl, schema, poolSize: 4 });
    if (!opened.executor) throw new Error("PostgreSQL expected");
    const app = await buildLinkageApp({ store: opened.store, sql: opened.executor, clock: new ManualClock(T0), logger: false });
    await baseRoutes(apiOf(app));
    return {
      schema,
      db: opened.executor as SqlExecutor,
      app,
      async close() {
        await app.close();
        await opened.close();
      },
    };
  }

  it("leaves every linkage read model exactly as a never-stopped consumer builds it", async () => {
    const ends = await script();
    const total = [...ends.values()].reduce((n, high) => n + Number(high), 0);
    expect(total).toBeGreaterThan(100);
    const topics = linkageTopicsOf(e.prefix);
    const inbox = async (schema: string) =>
      Number(
        (
          await e.bus.sql.query<{ n: string }>(`select count(*)::text as n from ${schema}.consumer_inbox where consumer = $1`, [
            LINKAGE_PROJECTION,
          ])
        ).rows[0]!.n,
      );

    // The reference: in this process, never stopped.
    const ref = await linkageSchema("ref");
    const refConsumer = await runProjectionConsumer({
      kafka: e.kafka,
      groupId: `${e.prefix}.e2e-reference`,
      topics,
      name: LINKAGE_PROJECTION,
      db: ref.db,
      handle: ref.app.linkage.handle,
      logger,
      consumerConfig: { sessionTimeout: 6_000, heartbeatInterval: 500, maxWaitTimeInMs: 100 },
    });
    reference = {
      consumer: refConsumer,
      async close() {
        await refConsumer.stop();
        await ref.close();
      },
    };

    // The victim: a child process on its own schema and group, killed mid-stream.
    const victim = await linkageSchema("crash");
    await victim.close();
    const victimGroup = `${e.prefix}.e2e-crash`; // the restarted process rejoins the group its killed self left behind
    const spawnChild = async (): Promise<ChildProcess> => {
      const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./linkage-consumer.child.ts", import.meta.url))], {
        env: {
          ...process.env,
          DATABASE_URL: e.databaseUrl,
          DATABASE_SCHEMA: victim.schema,
          KAFKA_BROKERS: e.brokers.join(","),
          TOPIC_PREFIX: e.prefix,
          GROUP_ID: victimGroup,
          CLOCK: T0,
          SLOW_MS: "15",
          // The child's warnings and errors reach the test's output (its consumer logs a failed store or a rebalance problem there).
          LOG_LEVEL: process.env["LOG_LEVEL"] ?? "warn",
        },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      children.push(child);
      const [first] = (await Promise.race([once(child, "message"), once(child, "exit")])) as unknown[];
      if (first !== "ready") throw new Error(`the consumer child exited before it was ready (${String(first)})`);
      return child;
    };
    let child = await spawnChild();
    await waitFor("the child to be mid-stream", async () => (await inbox(victim.schema)) >= total / 4, 60_000);
    child.kill("SIGKILL");
    await once(child, "exit");
    const atKill = await inbox(victim.schema);
    expect(atKill).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(total);

    child = await spawnChild();
    await waitFor("the restarted child to catch up", () => caughtUp(e.bus.sql, LINKAGE_PROJECTION, ends, victim.schema), 120_000).catch(
      async (err: unknown) => {
        // Say where each partition stopped (how the broker's retention deleting this test's April events showed, before topics kept everything).
        const stored = await storedOffsets(e.bus.sql, LINKAGE_PROJECTION, victim.schema);
        const where = [...ends].map(([key, high]) => `${key} ${stored.get(key) ?? "none"}/${high}`).join(", ");
        const why = err instanceof Error ? err.message : String(err);
        throw new Error(`${why}; the inbox held ${atKill} events at the kill; stored/end offsets: ${where}`, { cause: err });
      },
    );
    await waitFor("the reference to catch up", () => caughtUp(e.bus.sql, LINKAGE_PROJECTION, ends, ref.schema), 120_000);

    // Each event applied once by each (the relay may publish an event twice; the inbox keeps it once).
    const applied = async (schema: string) =>
      (
        await e.bus.sql.query<{ ce_id: string }>(`select ce_id from ${schema}.consumer_inbox where consumer = $1 order by ce_id`, [
          LINKAGE_PROJECTION,
        ])
      ).rows;
    expect(await applied(victim.schema)).toEqual(await applied(ref.schema));
    expect((await applied(ref.schema)).length).toBeGreaterThanOrEqual(total - 5);

    const table = async (schema: string, name: string) =>
      (await e.bus.sql.query<{ r: string }>(`select row_to_json(t)::text as r from ${schema}.${name} t order by 1`)).rows.map((x) => x.r);
    for (const name of READ_MODEL_TABLES) {
      const expected = await table(ref.schema, name);
      expect(await table(victim.schema, name), `${name}: restarted vs never stopped`).toEqual(expected);
      expect(await table(e.schema, name), `${name}: the bus's own linkage vs the reference`).toEqual(expected);
    }

    // And the read model holds what the script did.
    const statuses = (
      await e.bus.sql.query<{ status: string; n: number }>(
        `select status, count(*)::int as n from ${ref.schema}.linkage_handoffs group by 1 order by 1`,
      )
    ).rows;
    expect(Object.fromEntries(statuses.map((s) => [s.status, s.n]))).toEqual({
      claimed: 4,
      closed: 2,
      fed_back: 11,
      pushed: 6,
      supervising: 1,
    });
    const counts = async (sql: string) => Number((await e.bus.sql.query<{ n: string }>(sql)).rows[0]!.n);
    expect(await counts(`select count(*)::text as n from ${ref.schema}.linkage_deadline_cards`)).toBe(10);
    expect(await counts(`select count(*)::text as n from ${ref.schema}.linkage_credit_records where kind = 'COMMITMENT_BREACH'`)).toBe(2);
    expect(await counts(`select count(*)::text as n from ${ref.schema}.linkage_commitment_breaches`)).toBe(2);
    const ends5 = (
      await e.bus.sql.query<{ closed_by: string }>(`select closed_by from ${ref.schema}.linkage_handoffs where licence_id = $1`, [
        licenceOf(5),
      ])
    ).rows;
    expect(ends5).toEqual([{ closed_by: "LicenceRevoked" }]);
    // Room for the waits above to run out first (up to 120 s each): a stage that hangs then fails with waitFor's
    // message, naming the stage and what it last saw, not with the runner's bare timeout (seen once, in a full run).
  }, 420_000);
});
