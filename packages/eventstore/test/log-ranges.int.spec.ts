import { canonicalize, cutRanges, KeyRing, linkEvent, parseSeal, type LogVerification, type Seal } from "@shenguan/evidence";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUS_DEPARTMENT, EvidenceStore, LogSealer, MemoryKeyStore, SEAL_STREAM } from "../src/evidence/index.js";
import { canonicalJsonOfJsonb } from "../src/evidence/jsonb-canonical.js";
import { connectionOf, PostgresRangeChecker, verifyLogOfStore, type LogOfStoreOptions } from "../src/evidence/log-ranges.js";
import { formatPosition } from "../src/port.js";
import { PostgresEventStore } from "../src/postgres/index.js";
import { createTestSchema, DATABASE_URL, postgresReachable, unavailableMessage, type TestSchema } from "./support/postgres.js";

if (!(await postgresReachable())) throw new Error(unavailableMessage);

// What a whole-log verification in ranges (workers, each over its own connection) must give: verifyLog's
// result on one thread, to the failure, on the same stored log, intact and tampered with in the store.

const DEPARTMENTS = ["350100-XZSPJ", "350100-SCJGJ", "350100-ZFJ"];
const EVENTS = 720;
const STREAMS = 16;
const BLOCK = 40;
/** The ranges the tests cut: the workers' default for one worker and this thread (two ranges each). */
const RANGES = 4;

let s: TestSchema;
let inner: PostgresEventStore;
let keys: KeyRing;
let busKeys: KeyRing;
let seals: Seal[];
/** The log in order: position and what the scenarios pick events by. */
let log: { position: string; id: string; stream: string; revision: number }[];

const withoutTime = ({ elapsedMs: _elapsed, ...rest }: LogVerification) => rest;

/** Data of every shape the lean reader meets: nested, arrays, decimals, text needing escapes, keys jsonb and RFC 8785 order differently. */
function dataOf(n: number): Record<string, unknown> {
  return {
    seq: n,
    licenceId: `JY1350102${String(n).padStart(7, "0")}`,
    holder: { name: "福州市鼓楼区示范餐饮管理有限公司", uscc: "91350100M000100Y43", tags: ["食品", n % 2 === 0 ? "告知承诺" : "一般"] },
    fee: n % 3 === 0 ? 12.5 : n,
    findings: n % 7 === 0 ? 'line one\nline "two"\t\\end' : "经营场所与许可一致",
    ...(n % 11 === 0 ? { large: 1e21, tiny: 1e-7, "key\nwith escape": true, emoji: "😀" } : {}),
  };
}

async function readSeals(): Promise<unknown[]> {
  return (await inner.readStream(SEAL_STREAM)).map((e) => e.data);
}

/** verifyLog's result on this thread, and the same log verified in ranges (one worker, then two). */
async function both(options: Partial<LogOfStoreOptions> = {}) {
  const base = { keys, busKeys, seals: await readSeals(), ...options };
  const single = withoutTime(await verifyLogOfStore(inner, { ...base, workers: 0 }));
  const ranges = withoutTime(await verifyLogOfStore(inner, { ...base, workers: 1, parallelFrom: 0, pageSize: 23 }));
  const moreWorkers = withoutTime(await verifyLogOfStore(inner, { ...base, workers: 2, parallelFrom: 0 }));
  return { single, ranges, moreWorkers };
}

/** The event `offset` events into range `index` (0-based) of the ranges the tests cut. */
function inRange(index: number, offset = 0) {
  const range = cutRanges(seals, RANGES)[index]!;
  const first = log.findIndex((e) => e.position === range.blocks[0]!.firstPosition);
  return log[first + offset]!;
}

/** Runs `change` on the stored log, then puts every event back as it was. */
async function tampered(change: () => Promise<unknown>, check: () => Promise<void>): Promise<void> {
  await change();
  try {
    await check();
  } finally {
    await s.sql.query(`delete from events`);
    await s.sql.query(
      `insert into events (global_position, transaction_id, event_id, stream_name, revision, type, data, metadata, created_at)
       select global_position, transaction_id, event_id, stream_name, revision, type, data, metadata, created_at from events_backup`,
    );
  }
}

beforeAll(async () => {
  s = await createTestSchema(6);
  inner = new PostgresEventStore(s.sql, { pollIntervalMs: 50 });
  await inner.migrate();
  const custody = new MemoryKeyStore({ autoProvision: true });
  for (const d of [BUS_DEPARTMENT, ...DEPARTMENTS]) await custody.ensure(d);
  const store = new EvidenceStore(inner, { keys: custody, signingPool: 0 });
  for (let n = 0; n < EVENTS; n += 3) {
    const stream = `licence-case-${(n / 3) % STREAMS}`;
    const department = DEPARTMENTS[(n / 3) % DEPARTMENTS.length]!;
    const events = [n, n + 1, n + 2].map((k) => ({
      type: "InspectionRecorded",
      data: dataOf(k),
      metadata: { correlationId: `corr-${k}`, causationId: null, department },
    }));
    await store.append(stream, events, "any");
  }
  const sealer = new LogSealer({ store, blockSize: BLOCK, maxDelayMs: Number.MAX_SAFE_INTEGER });
  await sealer.start();
  await sealer.flush();
  await sealer.stop();
  await store.close();
  seals = (await readSeals()).map((value) => parseSeal(value)!);
  keys = new KeyRing(await custody.publicKeys());
  busKeys = new KeyRing([...keys].filter((entry) => entry.owner === BUS_DEPARTMENT));
  log = (await inner.readAll()).map((e) => ({
    position: formatPosition(e.position),
    id: e.id,
    stream: e.stream,
    revision: Number(e.revision),
  }));
  await s.sql.query(`create table events_backup as select * from events`);
}, 120_000);

afterAll(async () => {
  await inner?.close();
  await s?.drop();
});

describe("whole-log verification in ranges on PostgreSQL", () => {
  it("builds the log the scenarios need: sealed blocks over four ranges, an unsealed tail", () => {
    expect(seals).toHaveLength(EVENTS / BLOCK);
    expect(log.length).toBeGreaterThan(EVENTS); // the seal events, unsealed
    expect(connectionOf(inner)).toBeDefined(); // so verifyLogOfStore checks in ranges when told to
  });

  it("an intact log: the same counts on one thread and in ranges", async () => {
    const { single, ranges, moreWorkers } = await both();
    expect(single).toEqual({
      ok: true,
      events: log.length,
      streams: STREAMS + 1,
      seals: seals.length,
      signatures: expect.any(Number),
      unsealedEvents: log.length - EVENTS,
    });
    expect(ranges).toEqual(single);
    expect(moreWorkers).toEqual(single);
  });

  it("reports progress from the ranges and ends with the whole log's", async () => {
    const seen: number[] = [];
    const result = await verifyLogOfStore(inner, {
      keys,
      busKeys,
      seals: await readSeals(),
      workers: 1,
      parallelFrom: 0,
      pageSize: 50,
      progressEvery: 100,
      onProgress: (p) => seen.push(p.events),
    });
    expect(result.ok).toBe(true);
    expect(seen.length).toBeGreaterThan(3);
    expect(seen.at(-1)).toBe(log.length);
  });

  it("a payload altered in the second range: the same hash-mismatch; that range fails its check, the first passes", async () => {
    const target = inRange(1, 17);
    await tampered(
      () => s.sql.query(`update events set data = jsonb_set(data, '{fee}', '0') where event_id = $1`, [target.id]),
      async () => {
        const { single, ranges, moreWorkers } = await both();
        expect(single).toMatchObject({ ok: false, failure: { kind: "hash-mismatch", eventId: target.id } });
        expect(ranges).toEqual(single);
        expect(moreWorkers).toEqual(single);
        const checker = new PostgresRangeChecker(connectionOf(inner)!, 1);
        try {
          const [first, second] = cutRanges(seals, RANGES);
          expect(await checker.check(first!, () => undefined)).toMatchObject({ ok: true });
          expect(await checker.check(second!, () => undefined)).toMatchObject({ ok: false, reason: expect.stringContaining("chain hash") });
        } finally {
          await checker.close();
        }
      },
    );
  });

  it("a chain link (prev) broken exactly at a range boundary: the same prev-mismatch", async () => {
    const target = inRange(2);
    expect(target.revision).toBeGreaterThan(0); // the stream's earlier events are in earlier ranges
    await tampered(
      () =>
        s.sql.query(`update events set metadata = jsonb_set(metadata, '{evidence,chain,prev}', to_jsonb($2::text)) where event_id = $1`, [
          target.id,
          "ab".repeat(32),
        ]),
      async () => {
        const { single, ranges, moreWorkers } = await both();
        expect(single).toMatchObject({ ok: false, failure: { kind: "prev-mismatch", eventId: target.id } });
        expect(ranges).toEqual(single);
        expect(moreWorkers).toEqual(single);
      },
    );
  });

  it("a revision missing across a range boundary (the stream renumbered from its first event in the range): the same missing-revision", async () => {
    const target = inRange(2);
    await tampered(
      async () => {
        // Two steps, so that no two events of the stream share a revision in between.
        await s.sql.query(`update events set revision = revision + 1000000 where stream_name = $1 and revision >= $2`, [
          target.stream,
          target.revision,
        ]);
        await s.sql.query(`update events set revision = revision - 999999 where stream_name = $1 and revision >= 1000000`, [target.stream]);
      },
      async () => {
        const { single, ranges, moreWorkers } = await both();
        expect(single).toMatchObject({ ok: false, failure: { kind: "missing-revision", eventId: target.id } });
        expect(ranges).toEqual(single);
        expect(moreWorkers).toEqual(single);
      },
    );
  });

  it("a stream's last event rewritten with a recomputed chain hash: the same seal-root-mismatch", async () => {
    const target = [...log].reverse().find((e) => e.stream.startsWith("licence-case-") && log.indexOf(e) < EVENTS)!;
    const [event] = await inner.readStream(target.stream, { direction: "backwards", maxCount: 1 });
    const rewritten = { ...event!, data: { ...(event!.data as object), fee: 0 } };
    const chain = linkEvent(rewritten, (event!.metadata.evidence as { chain: { prev: string } }).chain.prev);
    await tampered(
      () =>
        s.sql.query(
          `update events set data = $2::jsonb, metadata = jsonb_set(metadata, '{evidence,chain,hash}', to_jsonb($3::text)) where event_id = $1`,
          [target.id, JSON.stringify(rewritten.data), chain.hash],
        ),
      async () => {
        const { single, ranges, moreWorkers } = await both();
        expect(single).toMatchObject({ ok: false, failure: { kind: "seal-root-mismatch" } });
        expect(ranges).toEqual(single);
        expect(moreWorkers).toEqual(single);
      },
    );
  });

  it("a stored chain hash altered: the same hash-mismatch", async () => {
    const target = inRange(3, 5);
    await tampered(
      () =>
        s.sql.query(`update events set metadata = jsonb_set(metadata, '{evidence,chain,hash}', to_jsonb($2::text)) where event_id = $1`, [
          target.id,
          "cd".repeat(32),
        ]),
      async () => {
        const { single, ranges, moreWorkers } = await both();
        expect(single).toMatchObject({ ok: false, failure: { kind: "hash-mismatch", eventId: target.id } });
        expect(ranges).toEqual(single);
        expect(moreWorkers).toEqual(single);
      },
    );
  });

  it("a seal's signature altered: the same seal-signature-invalid, at its block's first event", async () => {
    await tampered(
      () =>
        s.sql.query(
          `update events set data = jsonb_set(data, '{signature,sig}', (select data->'signature'->'sig' from events where stream_name = $1 and revision = 3)) where stream_name = $1 and revision = 9`,
          [SEAL_STREAM],
        ),
      async () => {
        const { single, ranges, moreWorkers } = await both();
        expect(single).toMatchObject({ ok: false, seals: 9, failure: { kind: "seal-signature-invalid", block: 9 } });
        expect(ranges).toEqual(single);
        expect(moreWorkers).toEqual(single);
      },
    );
  });

  it("a signature altered in the unsealed tail (verified ahead while the ranges are checked): the same signature-invalid", async () => {
    const target = log[log.length - 3]!;
    await tampered(
      () =>
        s.sql.query(
          `update events set metadata = jsonb_set(metadata, '{evidence,signature,sig}', (select metadata->'evidence'->'signature'->'sig' from events where event_id = $2)) where event_id = $1`,
          [target.id, log[log.length - 2]!.id],
        ),
      async () => {
        const { single, ranges, moreWorkers } = await both();
        expect(single).toMatchObject({ ok: false, failure: { kind: "signature-invalid", eventId: target.id } });
        expect(ranges).toEqual(single);
        expect(moreWorkers).toEqual(single);
      },
    );
  });

  it("the log cut short inside a block: the same failure", async () => {
    const cut = inRange(2, BLOCK + BLOCK / 2); // the middle of the range's second block
    await tampered(
      () =>
        s.sql.query(
          `delete from events where (transaction_id, global_position) > (select transaction_id, global_position from events where event_id = $1) and stream_name <> $2`,
          [cut.id, SEAL_STREAM],
        ),
      async () => {
        const { single, ranges, moreWorkers } = await both();
        expect(single.ok).toBe(false);
        expect(single.failure?.kind).toMatch(/^seal-/);
        expect(ranges).toEqual(single);
        expect(moreWorkers).toEqual(single);
      },
    );
  });

  it("an event removed inside a block and one inserted: the same failures", async () => {
    const removed = inRange(1, 3);
    await tampered(
      () => s.sql.query(`delete from events where event_id = $1`, [removed.id]),
      async () => {
        const { single, ranges } = await both();
        expect(single.ok).toBe(false);
        expect(ranges).toEqual(single);
      },
    );
    const copied = inRange(3, 8);
    await tampered(
      () =>
        s.sql.query(
          `insert into events (global_position, transaction_id, event_id, stream_name, revision, type, data, metadata, created_at)
           select global_position * 10000 + 1, transaction_id, gen_random_uuid(), stream_name || '-copy', revision, type, data, metadata, created_at
           from events where event_id = $1`,
          [copied.id],
        ),
      async () => {
        const { single, ranges } = await both();
        expect(single.ok).toBe(false);
        expect(ranges).toEqual(single);
      },
    );
  });

  it("times with microseconds: cut to milliseconds as node-postgres parses them, on both paths", async () => {
    const within = inRange(1, 4);
    const across = inRange(2, 9);
    await tampered(
      // +0.789 ms stays in the same millisecond (the stored times are whole milliseconds): still verifies.
      () => s.sql.query(`update events set created_at = created_at + interval '789 microseconds' where event_id = $1`, [within.id]),
      async () => {
        const { single, ranges } = await both();
        expect(single.ok).toBe(true);
        expect(ranges).toEqual(single);
      },
    );
    await tampered(
      () => s.sql.query(`update events set created_at = created_at + interval '1500 microseconds' where event_id = $1`, [across.id]),
      async () => {
        const { single, ranges } = await both();
        expect(single).toMatchObject({ ok: false, failure: { kind: "hash-mismatch", eventId: across.id } });
        expect(ranges).toEqual(single);
      },
    );
  });

  it("an event with no canonical form (metadata not an object, an infinite time): the same not-canonical", async () => {
    for (const [edit, params] of [
      [`metadata = '[1, 2]'::jsonb`, []],
      [`created_at = 'infinity'`, []],
    ] as const) {
      const target = inRange(1, 11);
      await tampered(
        () => s.sql.query(`update events set ${edit} where event_id = $1`, [target.id, ...params]),
        async () => {
          const { single, ranges } = await both();
          expect(single).toMatchObject({
            ok: false,
            failure: { kind: expect.stringMatching(/^(not-canonical|missing-chain)$/), eventId: target.id },
          });
          expect(ranges).toEqual(single);
        },
      );
    }
  });
});

describe("the lean reader's conversions, against the server", () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
  });
  afterAll(async () => {
    await client.end();
  });

  it("the time as epoch milliseconds is the Date node-postgres parses, whatever the session's time zone", async () => {
    const times = [
      "2026-03-02 01:00:04.992+00",
      "2026-03-02 01:00:04.9925+00",
      "2026-03-02 01:00:04.999999+00",
      "2026-03-02 01:00:04.000001+00",
      "1969-12-31 23:59:59.9995+00",
      "1900-01-01 00:00:00.123456+00",
      "0050-06-15 12:00:00.5+00",
      "0044-03-15 12:00:00.25+00 BC",
      "9999-12-31 23:59:59.999999+00",
      "12345-01-01 00:00:00+00",
    ];
    for (const zone of ["UTC", "Asia/Shanghai", "America/St_Johns", "Asia/Kathmandu", "Africa/Monrovia"]) {
      await client.query(`set time zone '${zone}'`);
      const { rows } = await client.query<{ parsed: Date; millis: string }>(
        `select t as parsed, case when isfinite(t) then floor(extract(epoch from t) * 1000)::int8::text else '-' end as millis
         from unnest($1::timestamptz[]) as t`,
        [times],
      );
      for (const [i, row] of rows.entries())
        expect(new Date(Number(row.millis)).getTime(), `${times[i]} in ${zone}`).toBe(row.parsed.getTime());
    }
  });

  it("jsonb as the server prints it: canonicalJsonOfJsonb is canonicalize(JSON.parse(text)) where it answers", async () => {
    const values: unknown[] = [
      { b: 1, a: [1, 2.5, -0.125, 1e-6, 1e21, 123456789012345, 1234567890123456], "": null, é: "经营", "😀": { z: true, y: false } },
      { "a\nb": "escaped key", c: 'q"\\/\n\t\u0001\u001f\u007f\u2028' },
      ["x", [], {}, [[]], { k: [{}] }],
      "text",
      12.5,
      { nested: { deeper: { deepest: { n: 0.000123 } } }, long: "x".repeat(5000) },
    ];
    let answered = 0;
    for (const value of values) {
      const { rows } = await client.query<{ text: string }>(`select ($1::jsonb)::text as text`, [JSON.stringify(value)]);
      const text = rows[0]!.text;
      const fast = canonicalJsonOfJsonb(text);
      if (fast !== undefined) {
        answered++;
        expect(fast, text).toBe(canonicalize(JSON.parse(text)));
      }
    }
    expect(answered).toBeGreaterThanOrEqual(4);
  });
});
