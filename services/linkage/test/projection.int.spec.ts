import { sampleOf, validatePayload, type EventName, type EventPayloads } from "@shenguan/contracts";
import { calendar2026, cardDates, localDate, WorkingCalendar } from "@shenguan/deadlines";
import { EvidenceStore, MemoryKeyStore, type ChunkBookkeeping, type ConsumedEvent, type StoredEvent } from "@shenguan/eventstore";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { commitmentEligibility } from "../src/credit/credit.js";
import { feedbackOfLicence } from "../src/feedback/feedback.js";
import { getHandoff, routeWaiting } from "../src/handoff/handoffs.js";
import { settleDeadlines } from "../src/deadline/deadlines.js";
import { rebuildLinkage } from "../src/rebuild.js";
import { tick } from "../src/timer.js";
import {
  addRoute,
  BUREAU,
  consumed,
  grant,
  harness,
  ITEM,
  openTestDb,
  OTHER_ITEM,
  REGULATOR,
  rows,
  USCC,
  type DbKind,
  type Harness,
  type TestDb,
} from "./support.js";

const kinds: DbKind[] = ["pglite", "postgres"];

describe.each(kinds)("linkage projection on %s", (kind) => {
  let db: TestDb;
  let h: Harness;
  beforeEach(async () => {
    db = await openTestDb(kind);
    h = harness(db);
  });
  afterEach(async () => {
    await db?.close();
  });

  const stream = (name: string) => db.store.readStream(name);
  const types = (events: StoredEvent[]) => events.map((e) => e.type);
  /** A regulator's CommitmentVerified for the licence (case C-<licence>). */
  const verification = (licenceId: string, fields: Partial<EventPayloads["CommitmentVerified"]>) =>
    consumed("CommitmentVerified", { ...sampleOf("CommitmentVerified"), licenceId, caseId: `C-${licenceId}`, ...fields });
  /** A handoff stream written behind the read model's back (another writer, or a rebuild not caught up): its HandoffUnrouted. */
  const writtenBefore = (licenceId: string) =>
    db.store.append(
      `handoff-H-${licenceId}`,
      [
        {
          type: "HandoffUnrouted",
          data: { ...sampleOf("HandoffUnrouted"), handoffId: `H-${licenceId}`, licenceId },
          metadata: { correlationId: "c", causationId: null, department: "SHENGUAN-LINKAGE" },
        },
      ],
      "no_stream",
    );
  const deadline = async (id: string) =>
    (await rows<Record<string, unknown>>(db, `select * from linkage_deadlines where deadline_id = $1`, [id]))[0];
  /** `columns` of every handoff row, with its id, in id order. */
  const handoffRows = (columns: string) => rows(db, `select handoff_id, ${columns} from linkage_handoffs order by handoff_id`);
  /** The same `facts` on the rows of `handoffIds`, as handoffRows returns them. */
  const alike = (handoffIds: readonly string[], facts: Record<string, unknown>) =>
    handoffIds.map((handoff_id) => ({ handoff_id, ...facts }));

  it("pushes a routed grant with its claim due counted from the push, events and read model in one transaction", async () => {
    await addRoute(db, { regionCode: "350100" }); // city-level route serves the county 350102
    const granted = consumed("LicenceGranted", grant({ licenceId: "L1" }));
    await h.deliver(granted);

    const events = await stream("handoff-H-L1");
    expect(types(events)).toEqual(["HandoffPushed"]);
    const pushed = validatePayload("HandoffPushed", events[0]!.data);
    expect(pushed).toEqual({
      handoffId: "H-L1",
      caseId: "C-L1",
      licenceId: "L1",
      holderName: "示例餐饮有限公司",
      holderUscc: USCC,
      itemCode: ITEM,
      regionCode: "350102",
      regulator: REGULATOR,
      pushedAt: Date.parse("2026-09-29T02:00:00Z"),
      claimLimit: { amount: 5, unit: "WORKING_DAYS" },
      claimDue: "2026-10-12",
      autoClaimed: false,
      underCommitment: false,
      verificationDue: null,
      approvalAuthority: BUREAU,
    });
    expect(events[0]!.metadata).toMatchObject({
      causationId: granted.ce.id,
      caseId: "C-L1",
      subject: USCC,
      department: "SHENGUAN-LINKAGE",
    });

    const view = await getHandoff(db.sql, "H-L1");
    expect(view).toMatchObject({
      status: "pushed",
      regulator: REGULATOR,
      claimDue: "2026-10-12",
      approvalAuthority: BUREAU,
      holderUscc: USCC,
    });
    expect(await deadline("claim-H-L1")).toMatchObject({
      kind: "CLAIM",
      status: "open",
      start_date: "2026-09-29",
      due_date: "2026-10-12",
      yellow_from: "2026-10-10",
      red_from: "2026-10-13",
      responsible_department: REGULATOR,
    });

    // A redelivery (even under a new ce_id, past the consumer's inbox) changes nothing.
    await h.deliver(granted);
    await h.deliver(consumed("LicenceGranted", grant({ licenceId: "L1" })));
    expect(types(await stream("handoff-H-L1"))).toEqual(["HandoffPushed"]);
    expect(await rows(db, `select handoff_id from linkage_handoffs`)).toHaveLength(1);

    // The push's own echo from Kafka is a no-op too.
    await h.deliver(consumed("HandoffPushed", pushed, { id: events[0]!.id }));
    expect((await getHandoff(db.sql, "H-L1"))?.status).toBe("pushed");
  });

  it("applies a chunk to the same read model and events as its events one at a time, in order per licence", async () => {
    // The same events into two databases: one transaction per event here, one per chunk there.
    const other = await openTestDb(kind);
    try {
      const chunked = harness(other);
      for (const target of [db, other]) {
        await addRoute(target, { regionCode: "350100", verificationMonths: 3 });
        await addRoute(target, { itemCode: OTHER_ITEM, regionCode: "350102", pushIsClaim: true });
      }
      const first = [
        consumed("LicenceGranted", grant({ licenceId: "L1" })),
        consumed("LicenceGranted", grant({ licenceId: "L2", itemCode: OTHER_ITEM })),
        consumed("LicenceGranted", grant({ licenceId: "L3", itemCode: "000105009000" })), // no route: unrouted
        consumed("LicenceGranted", grant({ licenceId: "L4", underCommitment: true })),
        // Ends the run of grants: L1 is pushed before it is revoked, as one event at a time would have it.
        consumed("LicenceRevoked", { ...sampleOf("LicenceRevoked"), licenceId: "L1", caseId: "C-L1", answersRequestId: null }),
        consumed("LicenceGranted", grant({ licenceId: "L5" })),
        // L5 again under another ce_id (past the inbox): a second run, where the push is done before.
        consumed("LicenceGranted", grant({ licenceId: "L5" })),
      ];
      for (const e of first) await h.deliver(e);
      await chunked.deliverChunk(first);

      // Then the echoes of each database's own pushes, a regulator's claim and another grant, again as one chunk there.
      const claim = consumed("HandoffClaimed", {
        handoffId: "H-L4",
        licenceId: "L4",
        regulator: REGULATOR,
        claimedAt: Date.parse("2026-09-30T02:00:00Z"),
        claimDue: "2026-10-12",
        onTime: true,
        automatic: false,
      });
      const later = consumed("LicenceGranted", grant({ licenceId: "L6" }));
      const echoes = async (target: TestDb) => {
        const out = [];
        for (const l of ["L1", "L2", "L4", "L5"]) {
          for (const e of await target.store.readStream(`handoff-H-${l}`)) {
            out.push(consumed(e.type as "HandoffPushed", e.data as EventPayloads["HandoffPushed"], { id: e.id }));
          }
        }
        return out;
      };
      for (const e of [...(await echoes(db)), claim, later]) await h.deliver(e);
      await chunked.deliverChunk([...(await echoes(other)), claim, later]);

      const state = async (target: TestDb) => ({
        handoffs: await rows(target, `select * from linkage_handoffs order by handoff_id`),
        deadlines: await rows(target, `select * from linkage_deadlines order by deadline_id`),
        // Event ids of the automatic claims are new in each database; the facts are the same.
        facts: await rows(target, `select deadline_id, fact, at, due, by from linkage_deadline_facts order by deadline_id, at`),
        emittedLeft: await rows(target, `select count(*)::int as n from linkage_emitted`),
        streams: await Promise.all(
          ["L1", "L2", "L3", "L4", "L5", "L6"].map(async (l) =>
            (await target.store.readStream(`handoff-H-${l}`)).map((e) => ({
              type: e.type,
              data: e.data,
              causationId: e.metadata.causationId,
            })),
          ),
        ),
      });
      const expected = await state(db);
      expect(await state(other)).toEqual(expected);
      // What both show: every grant handled, each licence's history in its order.
      expect(expected.streams.map((events) => events.map((e) => e.type))).toEqual([
        ["HandoffPushed"],
        ["HandoffPushed", "HandoffClaimed"],
        ["HandoffUnrouted"],
        ["HandoffPushed"],
        ["HandoffPushed"],
        ["HandoffPushed"],
      ]);
      expect(expected.handoffs.map((r) => [r["handoff_id"], r["status"]])).toEqual([
        ["H-L1", "closed"],
        ["H-L2", "claimed"],
        ["H-L3", "unrouted"],
        ["H-L4", "claimed"],
        ["H-L5", "pushed"],
        ["H-L6", "pushed"],
      ]);
      expect(expected.deadlines.map((r) => [r["deadline_id"], r["status"]])).toEqual([
        ["claim-H-L1", "cancelled"],
        ["claim-H-L2", "met"],
        ["claim-H-L4", "met"],
        ["claim-H-L5", "open"],
        ["claim-H-L6", "open"],
        ["verification-L4", "open"],
      ]);
      // Echoes not delivered yet: L3's HandoffUnrouted and L6's HandoffPushed.
      expect(expected.emittedLeft).toEqual([{ n: 2 }]);
    } finally {
      await other.close();
    }
  });

  it("pushes the rest of a chunk when one push finds its stream written before", async () => {
    await addRoute(db, { regionCode: "350100" });
    // L8's handoff stream holds a push the read model does not show (as after a rebuild that has not caught up).
    await writtenBefore("L8");
    // The chunk's appends start together: the conflict in the middle must not undo or block its neighbours'.
    await h.deliverChunk(["L7", "L8", "L9"].map((licenceId) => consumed("LicenceGranted", grant({ licenceId }))));
    expect(types(await stream("handoff-H-L7"))).toEqual(["HandoffPushed"]);
    expect(types(await stream("handoff-H-L8"))).toEqual(["HandoffUnrouted"]);
    expect(types(await stream("handoff-H-L9"))).toEqual(["HandoffPushed"]);
    expect(await handoffRows(`status`)).toEqual([
      { handoff_id: "H-L7", status: "pushed" },
      { handoff_id: "H-L8", status: "granted" },
      { handoff_id: "H-L9", status: "pushed" },
    ]);
    expect(await rows(db, `select deadline_id from linkage_deadlines order by deadline_id`)).toEqual([
      { deadline_id: "claim-H-L7" },
      { deadline_id: "claim-H-L9" },
    ]);
  });

  /**
   * handleChunk with the consumer's bookkeeping as claimLate hands it over (here a stand-in that claims
   * every ce_id): the statements it ran, and the count the bookkeeping was told it claimed.
   */
  async function chunkWithBookkeeping(events: ConsumedEvent[]) {
    const seen: { claimed?: number } = {};
    const bookkeeping: ChunkBookkeeping = {
      queries: (first) => ({
        with: `stand_in_claims as (select unnest($${first}::text[]) as ce_id)`,
        params: [events.map((e) => e.ce.id)],
        claimed: "stand_in_claims",
        written: ["stand_in_claims"],
      }),
      ran: (n) => void (seen.claimed = n),
    };
    const statements: string[] = [];
    await db.sql.transaction((tx) => {
      const logged = { query: (text: string, params?: readonly unknown[]) => (statements.push(text), tx.query(text, params)) } as typeof tx;
      return h.handle.handleChunk(events, logged, bookkeeping);
    });
    return { statements, claimed: seen.claimed };
  }

  it("ends a chunk's transaction with one statement: the pushes' read model, the consumer's bookkeeping, the passed echoes' rows and the append", async () => {
    await addRoute(db, { regionCode: "350100", verificationMonths: 3 });
    // An echo passed over before this chunk: its linkage_emitted row is to go with the chunk.
    await db.sql.query(`insert into linkage_emitted (event_id) values ('passed-echo')`);
    h.handle.passOver.passed(["passed-echo"]);
    const events = ["L21", "L22"].map((licenceId) =>
      consumed(
        "LicenceGranted",
        grant({ licenceId, underCommitment: true, holder: { name: "林某某", uscc: null, idNumber: "350102199001011234" } }),
      ),
    );
    // Every change to a handoff row after its insert, counted: a new grant's row is written once, with its push.
    await db.sql.query(`create table handoff_updates (handoff_id text)`);
    await db.sql.query(
      `create function count_handoff_update() returns trigger language plpgsql as $$ begin insert into handoff_updates values (new.handoff_id); return new; end $$`,
    );
    await db.sql.query(`create trigger counted after update on linkage_handoffs for each row execute function count_handoff_update()`);
    const { statements, claimed } = await chunkWithBookkeeping(events);
    expect(await rows(db, `select count(*)::int as n from handoff_updates`)).toEqual([{ n: 0 }]);
    await db.sql.query(`drop trigger counted on linkage_handoffs`);
    expect(await handoffRows(`status, item_name, decision_date, holder_id_hash is not null as id_hashed`)).toEqual(
      alike(["H-L21", "H-L22"], {
        status: "pushed",
        item_name: grant({ licenceId: "L21" }).itemName,
        decision_date: "2026-09-29",
        id_hashed: true,
      }),
    );
    // Two statements write: the grants' rows (only those that exist already; none here), and last one with everything
    // else (the rest read heads, routes, calendars).
    const writes = statements.filter((q) => /^\s*(with|insert|update|delete)/.test(q));
    expect(writes).toHaveLength(2);
    expect(writes[0]).toMatch(/^\s*with g as materialized[\s\S]*insert into linkage_handoffs/);
    const last = statements.at(-1)!;
    expect(writes[1]).toBe(last);
    expect(last).toMatch(/insert into linkage_emitted[\s\S]*insert into linkage_handoffs[\s\S]*insert into linkage_deadlines/);
    expect(last).toContain("delete from linkage_emitted");
    expect(last).toContain("stand_in_claims");
    expect(last).toContain("shenguan_append_many_within");
    expect(claimed).toBe(2);
    // Fresh deadlines are settled as they are inserted (no read and update after).
    expect(statements.filter((q) => /for update of d/.test(q) || /^update linkage_deadlines/.test(q.trim()))).toEqual([]);
    expect(await rows(db, `select event_id from linkage_emitted where event_id = 'passed-echo'`)).toEqual([]);
    expect(types(await stream("handoff-H-L21"))).toEqual(["HandoffPushed"]);
    expect(await deadline("verification-L22")).toMatchObject({ status: "open", limit_unit: "MONTHS" });
    expect(await rows(db, `select count(*)::int as n from linkage_emitted`)).toEqual([{ n: 2 }]); // the two pushes', for their echoes

    // A chunk that ends with anything but pushes to append leaves the bookkeeping to the consumer, and the passed rows to a statement of their own.
    await db.sql.query(`insert into linkage_emitted (event_id) values ('passed-later')`);
    h.handle.passOver.passed(["passed-later"]);
    expect((await chunkWithBookkeeping([consumed("LicenceChanged", sampleOf("LicenceChanged"))])).claimed).toBeUndefined();
    expect(await rows(db, `select event_id from linkage_emitted where event_id = 'passed-later'`)).toEqual([]);
  });

  // The statistics views are PostgreSQL's; the bench runs there.
  if (kind === "postgres")
    it("finds a chunk's handoff rows by key, however many handoffs there are", async () => {
      await addRoute(db, { regionCode: "350100" });
      // Many handoffs in a table never analyzed (young tables; autovacuum off), and a chunk of new grants:
      // looked for with `where exists (…)`, the planner hashed a scan of every row instead.
      await db.sql.query(
        `insert into linkage_handoffs (handoff_id, licence_id, pushed_at) select 'H-bulk-' || g, 'bulk-' || g, now() from generate_series(1, 20000) g`,
      );
      const events = Array.from({ length: 60 }, (_, i) =>
        consumed("LicenceGranted", grant({ licenceId: `L9${String(i).padStart(3, "0")}` })),
      );
      const read = await db.sql.transaction(async (tx) => {
        // The backend's counters not yet reported (inside a transaction nothing is reported): a difference.
        const counters = async () =>
          (
            await tx.query<{ seq_scan: string; seq_tup_read: string }>(
              `select seq_scan::text, seq_tup_read::text from pg_stat_xact_user_tables
                where schemaname = current_schema() and relname = 'linkage_handoffs'`,
            )
          ).rows[0]!;
        const before = await counters();
        await h.handle.handleChunk(events, tx);
        const after = await counters();
        return {
          seqScans: Number(after.seq_scan) - Number(before.seq_scan),
          rows: Number(after.seq_tup_read) - Number(before.seq_tup_read),
        };
      });
      expect(read).toEqual({ seqScans: 0, rows: 0 });
      expect(await rows(db, `select count(*)::int as n from linkage_handoffs where status = 'pushed' and licence_id like 'L9%'`)).toEqual([
        { n: 60 },
      ]);
    });

  it("a chunk of 推送即认领 pushes writes the pushes before their claims, and meets each claim deadline before the append, which carries the bookkeeping", async () => {
    await addRoute(db, { regionCode: "350100", pushIsClaim: true });
    const events = ["L31", "L32"].map((licenceId) => consumed("LicenceGranted", grant({ licenceId })));
    const { statements, claimed } = await chunkWithBookkeeping(events);
    const last = statements.at(-1)!;
    expect(last).toContain("shenguan_append_many_within");
    expect(last).toContain("stand_in_claims");
    expect(last).not.toContain("insert into linkage_handoffs");
    expect(claimed).toBe(2);
    expect(types(await stream("handoff-H-L31"))).toEqual(["HandoffPushed", "HandoffClaimed"]);
    expect(await handoffRows(`status, claim_automatic, decision_date, item_name`)).toEqual(
      alike(["H-L31", "H-L32"], {
        status: "claimed",
        claim_automatic: true,
        decision_date: "2026-09-29",
        item_name: grant({ licenceId: "L31" }).itemName,
      }),
    );
    expect(await deadline("claim-H-L31")).toMatchObject({ status: "met" });
  });

  it("with a signing store, reads the handoff streams' heads in the grants' statement, and still finds a push done before", async () => {
    const signing = harness(db, { store: new EvidenceStore(db.store, { keys: new MemoryKeyStore({ autoProvision: true }) }) });
    expect(signing.ctx.headsInTransaction).toBe(true);
    await addRoute(db, { regionCode: "350100" });
    const chunkStatements = async (licenceIds: string[]) => {
      const statements: string[] = [];
      await db.sql.transaction((tx) => {
        const logged = {
          query: (text: string, params?: readonly unknown[]) => (statements.push(text), tx.query(text, params)),
        } as typeof tx;
        return signing.handle.handleChunk(
          licenceIds.map((licenceId) => consumed("LicenceGranted", grant({ licenceId }))),
          logged,
        );
      });
      return statements;
    };
    const first = await chunkStatements(["L61", "L62"]);
    // No statement of its own reads the heads: the grants' upsert did (its head columns).
    expect(first.filter((q) => q.includes("from events where stream_name = s.name"))).toEqual([]);
    expect(first.find((q) => q.includes("with g as materialized"))).toContain("head_revision");
    expect(types(await stream("handoff-H-L61"))).toEqual(["HandoffPushed"]);
    // The read model lost (as in a rebuild) and the grants again: the heads say the pushes were made; nothing is pushed twice.
    await db.sql.query(`truncate linkage_handoffs, linkage_deadlines, linkage_emitted`);
    await chunkStatements(["L61", "L62", "L63"]);
    expect(types(await stream("handoff-H-L61"))).toEqual(["HandoffPushed"]);
    // The grants pushed before still get their rows (their echoes bring the push), the new one its row with its push.
    expect(await handoffRows(`status, decision_date`)).toEqual([
      { handoff_id: "H-L61", status: "granted", decision_date: "2026-09-29" },
      { handoff_id: "H-L62", status: "granted", decision_date: "2026-09-29" },
      { handoff_id: "H-L63", status: "pushed", decision_date: "2026-09-29" },
    ]);
    expect(types(await stream("handoff-H-L63"))).toEqual(["HandoffPushed"]);
    expect((await signing.ctx.store.readStream("handoff-H-L62"))[0]?.metadata.evidence?.chain).toBeDefined();
  });

  it("looks up a chunk's routes in one statement, however many items and regions it spans", async () => {
    await addRoute(db, { regionCode: "350100", regulator: "350100-SCJGJ" });
    await addRoute(db, { itemCode: OTHER_ITEM, regionCode: "350102", regulator: REGULATOR });
    const statements: string[] = [];
    await db.sql.transaction((tx) => {
      const logged = { query: (text: string, params?: readonly unknown[]) => (statements.push(text), tx.query(text, params)) } as typeof tx;
      return h.handle.handleChunk(
        [
          consumed("LicenceGranted", grant({ licenceId: "L41" })),
          consumed("LicenceGranted", grant({ licenceId: "L42", itemCode: OTHER_ITEM })),
          consumed("LicenceGranted", grant({ licenceId: "L43", regionCode: "350103" })),
        ],
        logged,
      );
    });
    expect(statements.filter((q) => q.includes("from linkage_routes "))).toHaveLength(1);
    // Each by the most specific region that has a route: the city's for 350102 and 350103, the county's for the other item.
    expect((await getHandoff(db.sql, "H-L41"))?.regulator).toBe("350100-SCJGJ");
    expect((await getHandoff(db.sql, "H-L42"))?.regulator).toBe(REGULATOR);
    expect((await getHandoff(db.sql, "H-L43"))?.regulator).toBe("350100-SCJGJ");
  });

  it("reuses the routes it read while none changed, and looks again once any changed, whoever changed them", async () => {
    await addRoute(db, { regionCode: "350100", regulator: "350100-SCJGJ" });
    // The statements of one chunk of grants that read linkage_routes.
    const routeReads = async (licenceId: string) => {
      const statements: string[] = [];
      await db.sql.transaction((tx) => {
        const logged = {
          query: (text: string, params?: readonly unknown[]) => (statements.push(text), tx.query(text, params)),
        } as typeof tx;
        return h.handle.handleChunk([consumed("LicenceGranted", grant({ licenceId }))], logged);
      });
      return statements.filter((q) => q.includes("from linkage_routes ")).length;
    };
    expect(await routeReads("L51")).toBe(1);
    expect(await routeReads("L52")).toBe(0);
    // A county route beneath the city's: a new version, so the next chunk looks again and finds it.
    await addRoute(db, { regionCode: "350102", regulator: REGULATOR });
    expect(await routeReads("L53")).toBe(1);
    // A change made in SQL, past the API, is a new version too (the trigger, not the API, makes it).
    await db.sql.query(`update linkage_routes set regulator = '350102-OTHER' where region_code = '350102'`);
    expect(await routeReads("L54")).toBe(1);
    expect(await routeReads("L55")).toBe(0);
    const regulators = await Promise.all(
      ["L51", "L52", "L53", "L54", "L55"].map(async (l) => (await getHandoff(db.sql, `H-${l}`))?.regulator),
    );
    expect(regulators).toEqual(["350100-SCJGJ", "350100-SCJGJ", REGULATOR, "350102-OTHER", "350102-OTHER"]);
  });

  if (kind === "postgres") {
    it("rolls a chunk back when another writer pushes one of its handoffs between its read model and its append", async () => {
      await addRoute(db, { regionCode: "350100" });
      const chunk = ["L31", "L32"].map((licenceId) => consumed("LicenceGranted", grant({ licenceId })));
      const failed = await db.sql
        .transaction((tx) => {
          const racing = {
            query: async (text: string, params?: readonly unknown[]) => {
              // Another connection (routeWaiting, say) pushes L32 once this chunk wrote its rows.
              if (text.includes("shenguan_append")) {
                await writtenBefore("L32");
              }
              return tx.query(text, params);
            },
          } as typeof tx;
          return h.handle.handleChunk(chunk, racing);
        })
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(String(failed)).toContain("H-L32");
      // Nothing of the chunk stayed; applied again (as the consumer does, one at a time) L32 is found done before.
      expect(await rows(db, `select handoff_id from linkage_handoffs`)).toEqual([]);
      for (const e of chunk) await h.deliver(e);
      expect(types(await stream("handoff-H-L31"))).toEqual(["HandoffPushed"]);
      expect(types(await stream("handoff-H-L32"))).toEqual(["HandoffUnrouted"]);
      expect(await rows(db, `select deadline_id from linkage_deadlines order by deadline_id`)).toEqual([{ deadline_id: "claim-H-L31" }]);
    });
  }

  it("restarts a verification deadline opened by a push replayed before its grant at the grant's decision date", async () => {
    await addRoute(db, { regionCode: "350102", verificationMonths: 3 });
    // The push arrives first (a replay in topic order): only its due date is known, so the limit is the calendar days to it.
    await h.deliver(
      consumed("HandoffPushed", {
        handoffId: "H-L12",
        caseId: "C-L12",
        licenceId: "L12",
        holderName: "示例餐饮有限公司",
        holderUscc: USCC,
        itemCode: ITEM,
        regionCode: "350102",
        regulator: REGULATOR,
        pushedAt: Date.parse("2026-09-29T02:00:00Z"),
        claimLimit: { amount: 5, unit: "WORKING_DAYS" },
        claimDue: "2026-10-12",
        autoClaimed: false,
        underCommitment: true,
        verificationDue: "2026-12-28",
        approvalAuthority: BUREAU,
      }),
    );
    expect(await deadline("verification-L12")).toMatchObject({
      start_date: "2026-09-29",
      limit_unit: "CALENDAR_DAYS",
      due_date: "2026-12-28",
    });
    // Its grant, in a chunk with another licence's: the deadline counts from the decision, in whole months.
    await h.deliverChunk([
      consumed("LicenceGranted", grant({ licenceId: "L12", underCommitment: true, decisionDate: "2026-09-28" })),
      consumed("LicenceGranted", grant({ licenceId: "L13", underCommitment: true, decisionDate: "2026-09-28" })),
    ]);
    expect(await deadline("verification-L12")).toMatchObject({
      start_date: "2026-09-28",
      limit_amount: 3,
      limit_unit: "MONTHS",
      due_date: "2026-12-28",
      status: "open",
    });
    expect(types(await stream("handoff-H-L12"))).toEqual([]); // pushed before: nothing appended again
    // L12's row (its echo's) takes the grant's facts; L13's is new, written with its push.
    expect(await handoffRows(`status, decision_date, item_name, regulator`)).toEqual(
      alike(["H-L12", "H-L13"], {
        status: "pushed",
        decision_date: "2026-09-28",
        item_name: grant({ licenceId: "L12" }).itemName,
        regulator: REGULATOR,
      }),
    );
    expect(await deadline("verification-L13")).toMatchObject({
      start_date: "2026-09-28",
      limit_amount: 3,
      limit_unit: "MONTHS",
      due_date: "2026-12-28",
    });
  });

  it("opens a deadline settled at once, or, when a fact came first (a replay), settled from what is on record", async () => {
    await addRoute(db, { regionCode: "350102", verificationMonths: 3 });
    // L42's verification arrives before its grant (the supervision topic replayed ahead of approval's).
    await h.deliver(
      verification("L42", {
        verificationId: "V42",
        holderUscc: USCC,
        regulator: REGULATOR,
        truthful: true,
        verifiedAt: Date.parse("2026-10-20T02:00:00Z"),
      }),
    );
    await h.deliverChunk(
      ["L41", "L42"].map((licenceId) =>
        consumed("LicenceGranted", grant({ licenceId, underCommitment: true, decisionDate: "2026-09-28" })),
      ),
    );
    expect(await deadline("verification-L41")).toMatchObject({ status: "open", due_date: "2026-12-28", yellow_from: expect.any(String) });
    expect(await deadline("verification-L42")).toMatchObject({ status: "met", met_by: "CommitmentVerified", due_date: "2026-12-28" });
    // L42's row is new, written with its push: it takes the feedback that came first, as a grant's own row would.
    expect(await handoffRows(`status, first_feedback_at is not null as fed_back, verified_at`)).toEqual([
      { handoff_id: "H-L41", status: "pushed", fed_back: false, verified_at: null },
      { handoff_id: "H-L42", status: "fed_back", fed_back: true, verified_at: new Date("2026-10-20T02:00:00Z") },
    ]);
    // Both read like a deadline settled from the database: settling again changes nothing.
    const before = await rows(db, `select * from linkage_deadlines order by deadline_id`);
    await settleDeadlines(
      h.ctx,
      db.sql,
      before.map((r) => r["deadline_id"] as string),
    );
    expect(await rows(db, `select * from linkage_deadlines order by deadline_id`)).toEqual(before);
  });

  it("rolls the push back with the transaction: nothing is emitted for a failed delivery", async () => {
    await addRoute(db, { regionCode: "350102" });
    await expect(
      db.sql.transaction(async (tx) => {
        await h.handle(consumed("LicenceGranted", grant({ licenceId: "L9" })), tx);
        throw new Error("offset commit failed");
      }),
    ).rejects.toThrow("offset commit failed");
    expect(await stream("handoff-H-L9")).toEqual([]);
    expect(await rows(db, `select 1 from linkage_deadlines`)).toEqual([]);
    await h.deliver(consumed("LicenceGranted", grant({ licenceId: "L9" })));
    expect(types(await stream("handoff-H-L9"))).toEqual(["HandoffPushed"]);
  });

  it("claims at once where push is claim (推送即认领)", async () => {
    await addRoute(db, { regionCode: "350102", pushIsClaim: true });
    await h.deliver(consumed("LicenceGranted", grant({ licenceId: "L2" })));
    const events = await stream("handoff-H-L2");
    expect(types(events)).toEqual(["HandoffPushed", "HandoffClaimed"]);
    expect(events[0]!.data).toMatchObject({ autoClaimed: true });
    expect(events[1]!.data).toEqual({
      handoffId: "H-L2",
      licenceId: "L2",
      regulator: REGULATOR,
      claimedAt: Date.parse("2026-09-29T02:00:00Z"),
      claimDue: "2026-10-12",
      onTime: true,
      automatic: true,
    });
    expect(await getHandoff(db.sql, "H-L2")).toMatchObject({ status: "claimed", onTime: true, claimedAt: "2026-09-29T02:00:00.000Z" });
    expect(await deadline("claim-H-L2")).toMatchObject({ status: "met", met_by: "HandoffClaimed (推送即认领)" });
    // Its echo: the same event id, the same fact.
    await h.deliver(consumed("HandoffClaimed", events[1]!.data as EventPayloads["HandoffClaimed"], { id: events[1]!.id }));
    expect(await rows(db, `select * from linkage_deadline_facts`)).toHaveLength(1);
  });

  it("keeps an unrouted grant waiting and pushes it when a route is added, the claim limit counted from the push", async () => {
    await h.deliver(consumed("LicenceGranted", grant({ licenceId: "L3", regionCode: "350102001002" })));
    const unrouted = await stream("handoff-H-L3");
    expect(types(unrouted)).toEqual(["HandoffUnrouted"]);
    expect((unrouted[0]!.data as EventPayloads["HandoffUnrouted"]).reason).toContain(`item ${ITEM} in region 350102001002`);
    expect(await getHandoff(db.sql, "H-L3")).toMatchObject({ status: "unrouted", regulator: null });
    expect(await rows(db, `select 1 from linkage_deadlines`)).toEqual([]);

    // A route for another item does not release it; one for its province does.
    h.clock.set("2026-10-09T02:00:00Z");
    await addRoute(db, { itemCode: "000105002000", regionCode: "350000" });
    await db.sql.transaction((tx) => routeWaiting(h.ctx, tx, { correlationId: "op-1", causationId: null, now: h.clock.now() }));
    expect(types(await stream("handoff-H-L3"))).toEqual(["HandoffUnrouted"]);

    await addRoute(db, { regionCode: "350000", regulator: "350000-SCJGJ" });
    const released = await db.sql.transaction((tx) =>
      routeWaiting(h.ctx, tx, { correlationId: "op-2", causationId: null, now: h.clock.now() }),
    );
    expect(released.pushed).toEqual(["H-L3"]);
    const events = await stream("handoff-H-L3");
    expect(types(events)).toEqual(["HandoffUnrouted", "HandoffPushed"]);
    // Pushed on 10-09: working days 10-10 (make-up Saturday), 10-12, 10-13, 10-14, 10-15.
    expect(events[1]!.data).toMatchObject({
      regulator: "350000-SCJGJ",
      pushedAt: Date.parse("2026-10-09T02:00:00Z"),
      claimDue: "2026-10-15",
    });
    expect(await deadline("claim-H-L3")).toMatchObject({ start_date: "2026-10-09", due_date: "2026-10-15" });
    expect((await getHandoff(db.sql, "H-L3"))?.status).toBe("pushed");
  });

  it("lets the timer push an unrouted grant that a route added concurrently did not see", async () => {
    await h.deliver(consumed("LicenceGranted", grant({ licenceId: "L11", regionCode: "350102001002" })));
    await addRoute(db, { regionCode: "350200" }); // another city: still no route for it
    expect((await tick(h.ctx, h.clock.now())).released).toEqual([]);
    await addRoute(db, { regionCode: "350102001000" }); // its township; as if committed after POST /routes looked for waiting grants
    h.clock.set("2026-09-30T02:00:00Z");
    expect((await tick(h.ctx, h.clock.now())).released).toEqual(["H-L11"]);
    expect(types(await stream("handoff-H-L11"))).toEqual(["HandoffUnrouted", "HandoffPushed"]);
    expect(await deadline("claim-H-L11")).toMatchObject({ start_date: "2026-09-30", due_date: "2026-10-13" });
  });

  it("turns an unclaimed handoff yellow then red across the National Day holiday, once each", async () => {
    await addRoute(db, { regionCode: "350102" });
    await h.deliver(consumed("LicenceGranted", grant({ licenceId: "L4", decisionDate: "2026-09-29" })));
    const expected = cardDates(new WorkingCalendar([calendar2026]), {
      start: localDate("2026-09-29"),
      limit: { amount: 5, unit: "working-days" },
      yellowShare: 0.8,
    });
    expect(expected).toEqual({ due: "2026-10-12", yellowFrom: "2026-10-10", redFrom: "2026-10-13" });

    const at = async (instant: string) => {
      h.clock.set(instant);
      return tick(h.ctx, h.clock.now());
    };
    expect((await at("2026-10-08T15:59:59Z")).warned).toEqual([]); // 10-08 23:59 in Beijing: not yet
    expect((await at("2026-10-09T16:00:00Z")).warned).toEqual([]); // 10-10 00:00 Beijing: the day's facts may be in flight
    expect((await at("2026-10-09T16:15:00Z")).warned).toEqual(["claim-H-L4"]); // 00:15, past the grace
    expect((await at("2026-10-10T08:00:00Z")).warned).toEqual([]); // twice: idempotent
    expect(await deadline("claim-H-L4")).toMatchObject({ status: "warned" });
    expect((await at("2026-10-12T15:00:00Z")).breached).toEqual([]); // the due date itself is within the limit
    expect((await at("2026-10-12T16:14:59Z")).breached).toEqual([]); // 10-13 00:14 Beijing: within the grace
    expect((await at("2026-10-12T16:15:00Z")).breached).toEqual(["claim-H-L4"]); // 10-13 00:15 Beijing
    const again = await at("2026-10-13T09:00:00Z");
    expect([...again.warned, ...again.breached]).toEqual([]);

    const cards = await stream("deadline-claim-H-L4");
    expect(types(cards)).toEqual(["DeadlineWarned", "DeadlineBreached"]);
    expect(cards[0]!.data).toEqual({
      deadlineId: "claim-H-L4",
      kind: "CLAIM",
      subjectRef: "H-L4",
      caseId: "C-L4",
      responsibleDepartment: REGULATOR,
      startDate: "2026-09-29",
      dueDate: "2026-10-12",
      limit: { amount: 5, unit: "WORKING_DAYS" },
      warnedAt: Date.parse("2026-10-09T16:15:00Z"),
    });
    expect(cards[1]!.metadata).toMatchObject({ subject: USCC, caseId: "C-L4" });
    // Echoes of the cards change nothing.
    for (const c of cards) await h.deliver(consumed(c.type as EventName, c.data as never, { id: c.id }));
    expect(await rows(db, `select * from linkage_deadline_cards`)).toHaveLength(2);

    // The regulator claims late: the deadline is met, the claim is not on time.
    await h.deliver(
      consumed("HandoffClaimed", {
        handoffId: "H-L4",
        licenceId: "L4",
        regulator: REGULATOR,
        claimedAt: Date.parse("2026-10-14T02:00:00Z"),
        claimDue: "2026-10-12",
        onTime: false,
        automatic: false,
      }),
    );
    expect(await deadline("claim-H-L4")).toMatchObject({ status: "met", warned_at: expect.any(Date), breached_at: expect.any(Date) });
    expect(await getHandoff(db.sql, "H-L4")).toMatchObject({ status: "claimed", onTime: false });
  });

  it("gives no red card to a claim made on its due date that arrives just after midnight", async () => {
    await addRoute(db, { regionCode: "350102" });
    await h.deliver(consumed("LicenceGranted", grant({ licenceId: "L6", decisionDate: "2026-09-29" })));
    expect(await deadline("claim-H-L6")).toMatchObject({ due_date: "2026-10-12", red_from: "2026-10-13" });
    h.clock.set("2026-10-12T16:05:00Z"); // 10-13 00:05 Beijing: the claim of 23:59 is still in the relay
    expect(await tick(h.ctx, h.clock.now())).toMatchObject({ today: "2026-10-12", warned: ["claim-H-L6"], breached: [] }); // yellow since 10-10
    await h.deliver(
      consumed("HandoffClaimed", {
        handoffId: "H-L6",
        licenceId: "L6",
        regulator: REGULATOR,
        claimedAt: Date.parse("2026-10-12T15:59:00Z"),
        claimDue: "2026-10-12",
        onTime: true,
        automatic: false,
      }),
    );
    h.clock.set("2026-10-13T02:00:00Z");
    const later = await tick(h.ctx, h.clock.now());
    expect([...later.warned, ...later.breached]).toEqual([]);
    expect(await deadline("claim-H-L6")).toMatchObject({ status: "met", breached_at: null });
    expect(types(await stream("deadline-claim-H-L6"))).toEqual(["DeadlineWarned"]);
  });

  it("verifies a commitment within months of the decision and bars 告知承诺 after a false one until credit repair", async () => {
    await addRoute(db, { regionCode: "350102", verificationMonths: 3 });
    await h.deliver(consumed("LicenceGranted", grant({ licenceId: "L5", underCommitment: true, decisionDate: "2026-09-28" })));
    const [pushed] = await stream("handoff-H-L5");
    expect(pushed!.data).toMatchObject({ underCommitment: true, verificationDue: "2026-12-28" });
    expect(await deadline("verification-L5")).toMatchObject({
      kind: "COMMITMENT_VERIFICATION",
      start_date: "2026-09-28",
      due_date: "2026-12-28",
      limit_amount: 3,
      limit_unit: "MONTHS",
    });
    expect(await commitmentEligibility(db.sql, { uscc: USCC, idNumber: null })).toEqual({ eligible: true, reasons: [], records: [] });

    const verified = {
      ...sampleOf("CommitmentVerified"),
      verificationId: "V1",
      licenceId: "L5",
      caseId: "C-L5",
      holderUscc: USCC,
      regulator: REGULATOR,
      truthful: false,
      findings: "经营场所与承诺不符",
      verifiedAt: Date.parse("2026-10-20T02:00:00Z"),
    };
    await h.deliver(consumed("CommitmentVerified", verified));
    expect(await deadline("verification-L5")).toMatchObject({ status: "met", met_by: "CommitmentVerified" });
    expect(await getHandoff(db.sql, "H-L5")).toMatchObject({ status: "fed_back", verifiedAt: "2026-10-20T02:00:00.000Z" });
    let standing = await commitmentEligibility(db.sql, { uscc: USCC, idNumber: null });
    expect(standing.eligible).toBe(false);
    expect(standing.records).toEqual([
      {
        source: "COMMITMENT_VERIFICATION",
        kind: "COMMITMENT_BREACH",
        id: "V1",
        date: "2026-10-20",
        summary: "经营场所与承诺不符",
        department: REGULATOR,
      },
    ]);
    expect(standing.reasons[0]).toContain("V1");

    // The credit platform's record takes over from the verification…
    const record = {
      ...sampleOf("CreditRecordPublished"),
      recordId: "CR1",
      holderUscc: USCC,
      kind: "COMMITMENT_BREACH" as const,
      barsCommitment: true,
      sourceRef: "V1",
      summary: "虚假承诺",
      publishedAt: Date.parse("2026-10-21T02:00:00Z"),
    };
    await h.deliver(consumed("CreditRecordPublished", record));
    standing = await commitmentEligibility(db.sql, { uscc: USCC, idNumber: null });
    expect(standing.records.map((r) => [r.source, r.id, r.date])).toEqual([["CREDIT_RECORD", "CR1", "2026-10-21"]]);
    // …and its repair lifts the bar.
    await h.deliver(consumed("CreditRepaired", { ...sampleOf("CreditRepaired"), recordId: "CR1", holderUscc: USCC }));
    expect(await commitmentEligibility(db.sql, { uscc: USCC, idNumber: null })).toEqual({ eligible: true, reasons: [], records: [] });
  });

  it("finds a natural person's false commitment by ID number", async () => {
    await addRoute(db, { regionCode: "350102" });
    await h.deliver(
      consumed(
        "LicenceGranted",
        grant({ licenceId: "L6", underCommitment: true, holder: { name: "张三", uscc: null, idNumber: "350102199001011234" } }),
      ),
    );
    await h.deliver(verification("L6", { verificationId: "V2", holderUscc: null, truthful: false }));
    expect((await commitmentEligibility(db.sql, { uscc: null, idNumber: "350102199001011234" })).eligible).toBe(false);
    expect((await commitmentEligibility(db.sql, { uscc: null, idNumber: "350102199001019999" })).eligible).toBe(true);
    expect(await rows(db, `select 1 from linkage_handoffs where holder_id_hash like '3501%'`)).toEqual([]); // only a hash is kept
  });

  it("feeds every outcome back to the licence, also those that reach it through a transfer or a penalty", async () => {
    await addRoute(db, { regionCode: "350102" });
    await h.deliver(consumed("LicenceGranted", grant({ licenceId: "L7" })));
    await h.deliver(
      consumed("HandoffClaimed", {
        handoffId: "H-L7",
        licenceId: "L7",
        regulator: REGULATOR,
        claimedAt: Date.parse("2026-09-30T02:00:00Z"),
        claimDue: "2026-10-12",
        onTime: true,
        automatic: false,
      }),
    );
    expect((await getHandoff(db.sql, "H-L7"))?.status).toBe("claimed");

    await h.deliver(
      consumed("TransferredToEnforcement", {
        ...sampleOf("TransferredToEnforcement"),
        transferId: "T1",
        licenceId: "L7",
        caseId: "C-L7",
        regulator: REGULATOR,
        transferredAt: Date.parse("2026-10-08T02:00:00Z"),
      }),
    );
    expect((await getHandoff(db.sql, "H-L7"))?.status).toBe("supervising");
    await h.deliver(
      consumed(
        "PenaltyImposed",
        {
          ...sampleOf("PenaltyImposed"),
          penaltyId: "P1",
          transferId: "T1",
          licenceId: null,
          caseId: null,
          kinds: ["FINE"],
          fineFen: 500_000,
        },
        { time: "2026-10-09T02:00:00Z" },
      ),
    );
    await h.deliver(
      consumed("CreditRecordPublished", {
        ...sampleOf("CreditRecordPublished"),
        recordId: "CR2",
        sourceRef: "P1",
        kind: "PENALTY",
        barsCommitment: false,
        publishedAt: Date.parse("2026-10-10T02:00:00Z"),
      }),
    );
    await h.deliver(
      consumed(
        "InspectionRecorded",
        {
          ...sampleOf("InspectionRecorded"),
          inspectionId: "I1",
          handoffId: "H-L7",
          licenceId: "L7",
          caseId: "C-L7",
          result: "NON_COMPLIANT",
          method: "RANDOM",
          inspectionDate: "2026-10-11",
        },
        { time: "2026-10-11T02:00:00Z" },
      ),
    );
    await h.deliver(consumed("LicenceGranted", grant({ licenceId: "OTHER" })));
    await h.deliver(
      consumed("InspectionRecorded", { ...sampleOf("InspectionRecorded"), inspectionId: "I2", licenceId: "OTHER", caseId: "C-OTHER" }),
    );

    const feedback = await feedbackOfLicence(db.sql, "L7");
    expect(feedback.map((f) => [f.kind, f.ref, f.result])).toEqual([
      ["TRANSFER_TO_ENFORCEMENT", "T1", false],
      ["PENALTY", "P1", true],
      ["CREDIT_RECORD", "CR2", false],
      ["INSPECTION", "I1", true],
    ]);
    expect(feedback[1]!.summary).toContain("罚款 fine, 5000.00 元 yuan");
    expect(feedback[3]!.summary).toMatch(/^检查 inspection 2026-10-11 \(双随机 random\): 不合格 non-compliant/);
    expect(await getHandoff(db.sql, "H-L7")).toMatchObject({ status: "fed_back", firstResultAt: "2026-10-11T02:00:00.000Z" });
  });

  it("watches revocation decisions (60 days, +20 on extension) and rectifications, and closes the handoff", async () => {
    await addRoute(db, { regionCode: "350102" });
    await h.deliver(consumed("LicenceGranted", grant({ licenceId: "L8" })));
    const requested = {
      ...sampleOf("RevocationRequested"),
      requestId: "R1",
      licenceId: "L8",
      caseId: "C-L8",
      regulator: REGULATOR,
      approvalAuthority: BUREAU,
      requestedAt: Date.parse("2026-03-01T02:00:00Z"),
    };
    await h.deliver(consumed("RevocationRequested", requested));
    expect(await deadline("revocation-R1")).toMatchObject({
      kind: "REVOCATION_DECISION",
      responsible_department: BUREAU,
      due_date: "2026-04-30",
      yellow_from: "2026-04-18",
      red_from: "2026-05-01",
    });
    await h.deliver(
      consumed("RevocationDecisionExtended", {
        ...sampleOf("RevocationDecisionExtended"),
        requestId: "R1",
        licenceId: "L8",
        caseId: "C-L8",
        decisionDue: "2026-05-20",
        extendedAt: Date.parse("2026-04-10T02:00:00Z"),
      }),
    );
    // 80 calendar days: yellow after 64.
    expect(await deadline("revocation-R1")).toMatchObject({
      due_date: "2026-05-20",
      yellow_from: "2026-05-04",
      red_from: "2026-05-21",
      limit_amount: 80,
      limit_unit: "CALENDAR_DAYS",
    });

    await h.deliver(
      consumed("RectificationOrdered", {
        ...sampleOf("RectificationOrdered"),
        rectificationId: "RX1",
        licenceId: "L8",
        caseId: "C-L8",
        regulator: REGULATOR,
        dueDate: "2026-10-20",
        orderedAt: Date.parse("2026-10-10T02:00:00Z"),
      }),
    );
    expect(await deadline("rectification-RX1")).toMatchObject({
      kind: "RECTIFICATION",
      start_date: "2026-10-10",
      due_date: "2026-10-20",
      yellow_from: "2026-10-18",
      red_from: "2026-10-21",
    });
    await h.deliver(
      consumed("RectificationCompleted", {
        ...sampleOf("RectificationCompleted"),
        rectificationId: "RX1",
        licenceId: "L8",
        caseId: "C-L8",
        completedAt: Date.parse("2026-10-15T02:00:00Z"),
      }),
    );
    expect(await deadline("rectification-RX1")).toMatchObject({ status: "met", met_by: "RectificationCompleted" });

    await h.deliver(
      consumed(
        "LicenceRevoked",
        { ...sampleOf("LicenceRevoked"), licenceId: "L8", caseId: "C-L8", answersRequestId: "R1" },
        { time: "2026-10-16T02:00:00Z" },
      ),
    );
    expect(await deadline("revocation-R1")).toMatchObject({ status: "met", met_by: "LicenceRevoked" });
    expect(await deadline("claim-H-L8")).toMatchObject({ status: "cancelled" }); // never claimed, and now moot
    expect(await getHandoff(db.sql, "H-L8")).toMatchObject({
      status: "closed",
      closedBy: "LicenceRevoked",
      closedAt: "2026-10-16T02:00:00.000Z",
    });
    const ticked = await tick(h.ctx, new Date("2026-12-01T00:00:00Z"));
    expect([...ticked.warned, ...ticked.breached]).toEqual([]);
  });

  it("holds a push whose working days fall in a year not loaded, and releases it when the year is loaded", async () => {
    await addRoute(db, { regionCode: "350102" });
    h.clock.set("2026-12-28T02:00:00Z"); // 5 working days run into 2027
    await h.deliver(consumed("LicenceGranted", grant({ licenceId: "L10", decisionDate: "2026-12-28" })));
    expect(await stream("handoff-H-L10")).toEqual([]);
    expect(await getHandoff(db.sql, "H-L10")).toMatchObject({ status: "held", waitingReason: expect.stringContaining("2027") });
    expect((await tick(h.ctx, h.clock.now())).released).toEqual([]);

    h.clock.set("2026-12-30T02:00:00Z");
    const y2027 = {
      year: 2027,
      source: "test notice",
      holidays: [{ name: "元旦", from: "2027-01-01", to: "2027-01-03" }],
      makeUpWorkdays: [],
    };
    await db.sql.transaction((tx) => h.ctx.calendars.load(tx, y2027, { department: "350100-OPS", at: h.clock.now(), replace: false }));
    expect((await tick(h.ctx, h.clock.now())).released).toEqual(["H-L10"]);
    // Pushed 12-30: 12-31, (01-01..03 off) 01-04, 01-05, 01-06, 01-07.
    expect((await stream("handoff-H-L10"))[0]!.data).toMatchObject({
      claimDue: "2027-01-07",
      pushedAt: Date.parse("2026-12-30T02:00:00Z"),
    });
  });

  it("rebuilds the read models from the topics without emitting anything again", async () => {
    // A small history: inputs from other services, and what linkage emitted (its echoes).
    await addRoute(db, { regionCode: "350102", pushIsClaim: false });
    const inputs = [
      consumed("LicenceGranted", grant({ licenceId: "A" })),
      consumed("LicenceGranted", grant({ licenceId: "B", itemCode: "000105002000" })),
      consumed("LicenceGranted", grant({ licenceId: "C", underCommitment: true })),
    ];
    for (const e of inputs) await h.deliver(e);
    await addRoute(db, { itemCode: "000105002000", regionCode: "350100" });
    h.clock.set("2026-10-09T02:00:00Z");
    await db.sql.transaction((tx) => routeWaiting(h.ctx, tx, { correlationId: "op", causationId: null, now: h.clock.now() }));
    const later = [
      consumed("HandoffClaimed", {
        handoffId: "H-C",
        licenceId: "C",
        regulator: REGULATOR,
        claimedAt: Date.parse("2026-09-30T02:00:00Z"),
        claimDue: "2026-10-12",
        onTime: true,
        automatic: false,
      }),
      consumed("CommitmentVerified", {
        ...sampleOf("CommitmentVerified"),
        verificationId: "VC",
        licenceId: "C",
        caseId: "C-C",
        truthful: true,
      }),
    ];
    for (const e of later) await h.deliver(e);
    await tick(h.ctx, new Date("2026-10-13T02:00:00Z"));
    const emitted = await db.store.readAll();
    const echoes = emitted.map((e) => consumed(e.type as EventName, e.data as never, { id: e.id, time: e.time.toISOString() }));

    const snapshot = async () => ({
      handoffs: await rows(
        db,
        `select handoff_id, status, regulator, claim_due, pushed_on, claimed_on_time, verification_due, unrouted_reason from linkage_handoffs order by 1`,
      ),
      deadlines: await rows(
        db,
        `select deadline_id, status, due_date, yellow_from, red_from, limit_amount, limit_unit from linkage_deadlines order by 1`,
      ),
      feedback: await rows(db, `select event_id, kind from linkage_feedback order by 1`),
    });
    const before = await snapshot();
    expect(before.handoffs.map((r) => r["status"])).toEqual(["pushed", "pushed", "fed_back"]);
    expect(before.deadlines.map((r) => [r["deadline_id"], r["status"]])).toEqual([
      ["claim-H-A", "breached"],
      ["claim-H-B", "open"],
      ["claim-H-C", "met"],
      ["verification-C", "met"],
    ]);

    // Replay in either order the topics' partitions may interleave: the
    // process manager finds its streams written and emits nothing again.
    h.clock.set("2026-11-30T02:00:00Z");
    for (const order of [
      [...inputs, ...later, ...echoes],
      [...echoes, ...later, ...inputs],
    ]) {
      await rebuildLinkage(db.sql);
      expect(await rows(db, `select 1 from linkage_handoffs`)).toEqual([]);
      expect(await rows(db, `select 1 from linkage_routes`)).toHaveLength(2); // configuration stays
      for (const e of order) await h.deliver(e);
      expect(await db.store.readAll()).toHaveLength(emitted.length);
      expect(await snapshot()).toEqual(before);
    }
    const ticked = await tick(h.ctx, new Date("2026-10-13T03:00:00Z"));
    expect([...ticked.warned, ...ticked.breached]).toEqual([]);
  });
});
