import { PGlite } from "@electric-sql/pglite";
import {
  canonicalEvent,
  chainLinkFrom,
  chainLinkOf,
  GENESIS_HASH,
  KeyRing,
  linkEvent,
  merkleRoot,
  parseSeal,
  SigningKey,
  signBytes,
  signatureBatch,
  SigningPool,
  verifyChain,
  type EvidenceSignature,
} from "@shenguan/evidence";
import { v7 as uuidv7 } from "uuid";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ConcurrencyError, EvidenceRejectedError } from "../src/errors.js";
import { appendManyInTransaction, headColumnsSql, knownHeadOf, prepareManyInTransaction } from "../src/evidence/index.js";
import {
  BUS_DEPARTMENT,
  EvidenceStore,
  LOG_SEALED,
  LogSealer,
  MemoryKeyStore,
  readLeaves,
  readLogPages,
  SEAL_STREAM,
  verifyStore,
  verifyStreams,
  type KeyStore,
  type VerifiedRow,
} from "../src/evidence/index.js";
import { formatPosition, parsePosition, type EventMetadata, type NewEvent, type StoredEvent } from "../src/port.js";
import { PostgresEventStore, pgliteExecutor } from "../src/postgres/index.js";
import { isContract } from "../src/relay/relay.js";
import { createTestSchema, postgresReachable, unavailableMessage, type TestSchema } from "./support/postgres.js";

if (!(await postgresReachable())) throw new Error(unavailableMessage);

const SAMR = "330100-SAMR";
const XZSP = "350100-XZSPJ";

function meta(department = SAMR): EventMetadata {
  return { correlationId: uuidv7(), causationId: null, department };
}

function fact(n: number, department = SAMR): NewEvent {
  return { type: "InspectionRecorded", data: { n, holder: "福州市鼓楼区示范餐饮管理有限公司", fee: 12.5 }, metadata: meta(department) };
}

/** A clock the test moves. */
function manualClock(start: string) {
  let now = new Date(start).getTime();
  return { now: () => new Date(now), advance: (ms: number) => void (now += ms) };
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function rejection(work: Promise<unknown>): Promise<unknown> {
  return work.then(
    () => undefined,
    (e: unknown) => e,
  );
}

let schema: TestSchema;
let raw: PostgresEventStore;
/** The bus's custody keys (the bus key and the departments it signs for). */
let custody: MemoryKeyStore;
/** A department that signs its own events: only its public key is registered. */
const ownKey = SigningKey.generate("SM2-SM3");
const OWN = "350100-SCJGJ";
const strangerKey = SigningKey.generate("Ed25519");
/** A key OWN retired: kept for verifying old events, so absent from the ring of keys that may sign now. */
const retiredKey = SigningKey.generate("Ed25519");
let registry: KeyRing;
const clock = manualClock("2026-03-02T09:00:00.000Z");

function evidenceStore(keys: KeyStore = custody, inner: PostgresEventStore = raw): EvidenceStore {
  return new EvidenceStore(inner, { keys, clock: clock.now, verifiers: () => registry });
}

async function allKeys(): Promise<KeyRing> {
  return new KeyRing([...(await custody.publicKeys()), { key: ownKey.publicKey, owner: OWN }]);
}

beforeAll(async () => {
  schema = await createTestSchema(10);
  raw = new PostgresEventStore(schema.sql, { pollIntervalMs: 50 });
  await raw.migrate();
  custody = new MemoryKeyStore({ autoProvision: true });
  await custody.ensure(BUS_DEPARTMENT);
  await custody.ensure(SAMR);
  await custody.ensure(XZSP, "Ed25519");
  registry = await allKeys();
});
afterAll(async () => {
  await raw.close();
  await schema.drop();
});

/** An event signed by its department before it reaches the bus, for `revision` of `stream`. */
function preSigned(
  stream: string,
  revision: bigint,
  options: { key?: SigningKey; department?: string | null; prev?: string; data?: unknown; signedData?: unknown; time?: string } = {},
): NewEvent {
  const id = uuidv7();
  const time = new Date(options.time ?? "2026-03-02T08:59:59.123Z");
  const base = meta(options.department ?? OWN);
  // department: null → an event that names no department at all.
  // The port's type requires a department; the store must still refuse an event that arrives without one.
  const metadata = (options.department === null ? (({ department: _, ...rest }) => rest)(base) : base) as EventMetadata;
  const data = options.data ?? { n: Number(revision) };
  const event = { id, type: "SelfPublished", stream, revision, time, data, metadata };
  const signature: EvidenceSignature = signBytes(canonicalEvent({ ...event, data: options.signedData ?? data }), options.key ?? ownKey);
  // A department that links its own events sends the link it computed from the head it knows.
  const chain = options.prev === undefined ? {} : { chain: linkEvent(event, options.prev) };
  return { id, time, type: "SelfPublished", data, metadata: { ...metadata, evidence: { signature, ...chain } } };
}

describe("EvidenceStore on PostgreSQL", () => {
  it("signs each event with its department's custody key and links the stream's SM3 chain, with the store's time", async () => {
    const store = evidenceStore();
    const stream = `licence-${uuidv7()}`;
    await store.append(stream, [fact(0), fact(1, XZSP)], "no_stream");
    clock.advance(1_234);
    await store.append(stream, [fact(2)], 1n);
    await store.append(stream, [fact(3)], "any");
    const events = await store.readStream(stream);
    expect(events.map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n]);
    expect(events.map((e) => e.metadata.evidence?.signature?.alg)).toEqual(["SM2-SM3", "Ed25519", "SM2-SM3", "SM2-SM3"]);
    expect(events[2]!.time.toISOString()).toBe(clock.now().toISOString());
    expect(events[0]!.metadata.evidence?.chain?.prev).toBe(GENESIS_HASH);
    expect(events[1]!.metadata.evidence?.chain?.prev).toBe(events[0]!.metadata.evidence?.chain?.hash);
    // An independent check with @shenguan/evidence: chain and every signature, owners included.
    const verified = verifyChain(events, { keys: await allKeys() });
    expect(verified).toMatchObject({ ok: true, events: 4 });
    expect(await verifyStreams(raw, [stream], await allKeys())).toMatchObject({ ok: true, events: 4 });
  });

  it("refuses an event of a department with no custody key when keys are not provisioned, storing nothing", async () => {
    const strict = new MemoryKeyStore();
    await strict.ensure(SAMR);
    const store = evidenceStore(strict);
    const stream = `strict-${uuidv7()}`;
    const error = await rejection(store.append(stream, [fact(0), fact(1, "NOBODY")], "no_stream"));
    expect(error).toBeInstanceOf(EvidenceRejectedError);
    expect(error).toMatchObject({ kind: "unknown-key", code: "eventstore.evidence-rejected" });
    expect((error as Error).message).toMatch(/no custody key for department NOBODY/);
    expect(await raw.readStream(stream)).toEqual([]);
  });

  it("appendWithin signs and links inside the caller's transaction; a rollback leaves the chain as it was", async () => {
    const store = evidenceStore();
    const stream = `tx-${uuidv7()}`;
    await store.append(stream, [fact(0)], "no_stream");
    await schema.sql
      .transaction(async (tx) => {
        await store.appendWithin(tx, stream, [fact(1)], 0n);
        throw new Error("the read model failed");
      })
      .catch(() => undefined);
    expect(await raw.readStream(stream)).toHaveLength(1);
    await schema.sql.transaction((tx) => store.appendWithin(tx, stream, [fact(2), fact(3)], "any"));
    await store.append(stream, [fact(4)], 2n);
    const events = await raw.readStream(stream);
    expect(verifyChain(events, { keys: await allKeys() })).toMatchObject({ ok: true, events: 4 });
  });

  it("appendManyInTransaction: several streams signed together and appended in one statement; a stream not where expected is reported, the others go in", async () => {
    const store = evidenceStore();
    const [a, b, c, d] = Array.from({ length: 4 }, () => `many-${uuidv7()}`);
    await store.append(b!, [fact(0)], "no_stream");
    const statements: string[] = [];
    const outcomes = await schema.sql.transaction((tx) => {
      const counted = {
        query: (text: string, params?: readonly unknown[]) => (statements.push(text), tx.query(text, params)),
      } as typeof tx;
      return appendManyInTransaction(store, counted, [
        { stream: a!, events: [fact(1), fact(2)], expectedRevision: "no_stream" },
        { stream: b!, events: [fact(3)], expectedRevision: 0n },
        { stream: c!, events: [fact(4)], expectedRevision: "any" },
      ]);
    });
    expect(outcomes.map((o) => ("appended" in o ? o.appended.nextExpectedRevision : o.conflict))).toEqual([1n, 1n, 0n]);
    // The heads in one query, then one append for the three streams (no savepoint: a conflict comes back
    // as an answer, not an error; the append places the transaction in the log itself).
    expect(statements).toHaveLength(2);
    expect(statements.filter((q) => q.includes("from shenguan_append_many_within("))).toHaveLength(1);
    const events = (await Promise.all([a!, b!, c!].map((s) => raw.readStream(s)))).flat();
    expect(verifyChain(events, { keys: await allKeys() })).toMatchObject({ ok: true, events: 5 });
    // fact(1..4) of one department, prepared together: one batch signature.
    expect(new Set(events.filter((e) => e.revision > 0n || e.stream !== b).map((e) => e.metadata.evidence!.signature!.sig)).size).toBe(1);

    // A replay: b is already past 0 and a exists; d is new and still goes in.
    const again = await schema.sql.transaction((tx) =>
      appendManyInTransaction(store, tx, [
        { stream: a!, events: [fact(5)], expectedRevision: "no_stream" },
        { stream: d!, events: [fact(6)], expectedRevision: "no_stream" },
        { stream: b!, events: [fact(7)], expectedRevision: 0n },
      ]),
    );
    expect(again.map((o) => ("conflict" in o ? ["conflict", o.conflict.actual] : ["appended", o.appended.nextExpectedRevision]))).toEqual([
      ["conflict", 1n],
      ["appended", 0n],
      ["conflict", 1n],
    ]);
    // A writer that gets in after the heads were read: the statement fails, the streams go one by one, the other one still lands.
    const racing = await schema.sql.transaction(async (tx) => {
      const sneaky = {
        query: async (text: string, params?: readonly unknown[]) => {
          if (text.includes("from shenguan_append_many_within(")) await raw.append(c!, [{ ...fact(8), metadata: meta(SAMR) }], 0n);
          return tx.query(text, params);
        },
      } as typeof tx;
      return appendManyInTransaction(store, sneaky, [
        { stream: c!, events: [fact(9)], expectedRevision: 0n },
        { stream: d!, events: [fact(10)], expectedRevision: 0n },
      ]);
    });
    expect(racing.map((o) => ("conflict" in o ? "conflict" : "appended"))).toEqual(["conflict", "appended"]);
    expect(await raw.readStream(d!)).toHaveLength(2);
  });

  it("prepareManyInTransaction: conflicts and signatures before anything is written, so the append can end the transaction", async () => {
    for (const store of [evidenceStore(), raw]) {
      const [a, b, c] = Array.from({ length: 3 }, () => `prepared-${uuidv7()}`);
      await store.append(b!, [fact(0)], "no_stream");
      const { conflicts, outcomes, logged } = await schema.sql.transaction(async (tx) => {
        const prepared = await prepareManyInTransaction(store, tx, [
          { stream: a!, events: [fact(1)], expectedRevision: "no_stream" },
          { stream: b!, events: [fact(2)], expectedRevision: "no_stream" },
          { stream: c!, events: [fact(3)], expectedRevision: "any" },
        ]);
        // Nothing is in the log yet, not even for this transaction: no place in it has been taken.
        const { rows } = await tx.query<{ n: string }>(`select count(*)::text as n from events where stream_name = any($1::text[])`, [
          [a, c],
        ]);
        const appending = (await tx.query<{ v: string | null }>(`select coalesce(current_setting('shenguan.appending', true), '') as v`))
          .rows[0]!.v;
        return { conflicts: prepared.conflicts, outcomes: await prepared.append(), logged: { rows: rows[0]!.n, appending } };
      });
      expect(logged).toEqual({ rows: "0", appending: "" });
      expect(conflicts.map((c) => c?.actual)).toEqual([undefined, 0n, undefined]);
      expect(outcomes.map((o) => ("appended" in o ? o.appended.nextExpectedRevision : ["conflict", o.conflict.actual]))).toEqual([
        0n,
        ["conflict", 0n],
        0n,
      ]);
      expect((await raw.readStream(b!)).map((e) => e.data)).toEqual([fact(0).data]);

      // A writer that moves a stream between the two steps: its append is refused then, the other still goes in.
      const [d, e] = Array.from({ length: 2 }, () => `prepared-${uuidv7()}`);
      const raced = await schema.sql.transaction(async (tx) => {
        const prepared = await prepareManyInTransaction(store, tx, [
          { stream: d!, events: [fact(4)], expectedRevision: "no_stream" },
          { stream: e!, events: [fact(5)], expectedRevision: "no_stream" },
        ]);
        await raw.append(d!, [fact(6)], "no_stream");
        return { conflicts: prepared.conflicts, outcomes: await prepared.append() };
      });
      expect(raced.conflicts).toEqual([undefined, undefined]);
      expect(raced.outcomes.map((o) => ("conflict" in o ? "conflict" : "appended"))).toEqual(["conflict", "appended"]);
      expect((await raw.readStream(d!)).map((x) => x.data)).toEqual([fact(6).data]);
    }
  });

  it("append(alongside) runs the caller's writes in the append's own statement, once, whether it appends, meets a conflict or has nothing to append; their rows come back", async () => {
    const table = `alongside_${uuidv7().replaceAll("-", "").slice(-12)}`;
    // `seen`: whether the transaction had appended when the row went in (the setting its first append makes).
    await schema.sql.query(`create table ${table} (tag text not null, seen text not null)`);
    /** The caller's write: one row tagged `tag`, returned as it was written. */
    const alongside = (tag: string, into: Record<string, unknown>[]) => ({
      with: `tagged as (insert into ${table} (tag, seen) values ($1, coalesce(nullif(current_setting('shenguan.appending', true), ''), 'before the append')) returning tag)`,
      params: [tag],
      written: ["tagged"],
      returning: { query: "select tag from tagged", rows: (rows: Record<string, unknown>[]) => into.push(...rows) },
    });
    const rowsOf = async (tag: string) =>
      Number((await schema.sql.query<{ n: string }>(`select count(*)::text as n from ${table} where tag = $1`, [tag])).rows[0]!.n);
    for (const [i, store] of [evidenceStore(), raw].entries()) {
      const [a, b, c, d] = Array.from({ length: 4 }, () => `alongside-${uuidv7()}`);
      await store.append(b!, [fact(0)], "no_stream");
      const run = async (kind: string, batch: Parameters<typeof prepareManyInTransaction>[2], between?: () => Promise<unknown>) => {
        const tag = `${kind}-${i}`;
        const returned: Record<string, unknown>[] = [];
        let statements = 0;
        const outcomes = await schema.sql.transaction(async (tx) => {
          const counting = { query: ((text: string, params?: unknown[]) => (statements++, tx.query(text, params))) as typeof tx.query };
          const prepared = await prepareManyInTransaction(store, counting, batch);
          await between?.();
          statements = 0;
          return prepared.append(alongside(tag, returned));
        });
        const kinds = outcomes.map((o) => ("appended" in o ? "appended" : "conflict"));
        return { outcomes: kinds, returned, rows: await rowsOf(tag), statements };
      };
      // Appended: one statement carries both.
      expect(
        await run("both", [
          { stream: a!, events: [fact(1)], expectedRevision: "no_stream" },
          { stream: c!, events: [fact(2)], expectedRevision: "any" },
        ]),
      ).toEqual({
        outcomes: ["appended", "appended"],
        returned: [{ tag: `both-${i}` }],
        rows: 1,
        statements: 1,
      });
      expect((await raw.readStream(a!)).map((e) => e.data)).toEqual([fact(1).data]);
      // The caller's writes ran before the append (readers of the log wait for an appender from its append on).
      expect((await schema.sql.query(`select seen from ${table} where tag = $1`, [`both-${i}`])).rows).toEqual([
        { seen: "before the append" },
      ]);
      // Nothing to append (every stream a predicted conflict): the writes alone.
      expect(await run("alone", [{ stream: b!, events: [fact(3)], expectedRevision: "no_stream" }])).toEqual({
        outcomes: ["conflict"],
        returned: [{ tag: `alone-${i}` }],
        rows: 1,
        statements: 1,
      });
      // A stream moved between the two steps: the statement meets the conflict, the streams go one by one, the writes stay once.
      expect(
        await run(
          "raced",
          [
            { stream: d!, events: [fact(4)], expectedRevision: "no_stream" },
            { stream: `${d}-other`, events: [fact(5)], expectedRevision: "no_stream" },
          ],
          () => raw.append(d!, [fact(6)], "no_stream"),
        ),
      ).toMatchObject({ outcomes: ["conflict", "appended"], returned: [{ tag: `raced-${i}` }], rows: 1 });
    }
  });

  it("headColumnsSql reads a stream's head as prepareManyInTransaction does, past ten events too; known heads are not read again", async () => {
    const store = evidenceStore();
    const [long, none] = [`heads-${uuidv7()}`, `heads-${uuidv7()}`];
    await store.append(
      long,
      Array.from({ length: 12 }, (_, i) => fact(i)),
      "no_stream",
    );
    const last = (await raw.readStream(long)).at(-1)!;
    const read = async (stream: string) =>
      knownHeadOf(
        (
          await schema.sql.query<{ head_revision: string | null; head_hash: string | null }>(`select ${headColumnsSql("$1::text")}`, [
            stream,
          ])
        ).rows[0]!,
      );
    // Revision 11, not "9" (the largest as text): the order is numeric.
    expect(await read(long)).toEqual({ revision: 11n, hash: last.metadata.evidence!.chain!.hash });
    expect(await read(none)).toBeNull();
    const statements: string[] = [];
    const outcomes = await schema.sql.transaction(async (tx) => {
      const logged = { query: (text: string, params?: readonly unknown[]) => (statements.push(text), tx.query(text, params)) } as typeof tx;
      const known = new Map([
        [long, await read(long)],
        [none, await read(none)],
      ]);
      const prepared = await prepareManyInTransaction(
        store,
        logged,
        [
          { stream: long, events: [fact(12)], expectedRevision: 11n },
          { stream: none, events: [fact(0)], expectedRevision: "no_stream" },
        ],
        known,
      );
      return prepared.append();
    });
    expect(outcomes.every((o) => "appended" in o)).toBe(true);
    expect(statements.filter((q) => q.includes("from events where stream_name = s.name"))).toEqual([]);
    expect((await raw.readStream(long)).map((e) => e.revision)).toHaveLength(13);
  });

  it("signs through a signing pool off the main thread: the same chain, verifiable signatures, pre-signed events kept", async () => {
    const pool = new SigningPool({ size: 2 });
    try {
      const store = new EvidenceStore(raw, { keys: custody, clock: clock.now, verifiers: () => registry, signingPool: pool });
      const stream = `pooled-${uuidv7()}`;
      await store.append(stream, [fact(0), fact(1, XZSP), fact(2)], "no_stream");
      await Promise.all([store.append(stream, [fact(3)], "any"), store.append(stream, [fact(4), fact(5)], "any")]);
      const signedByOwn = preSigned(stream, 6n);
      await store.append(stream, [signedByOwn, fact(7, XZSP)], 5n);
      await schema.sql.transaction((tx) => store.appendWithin(tx, stream, [fact(8)], 7n));
      const events = await raw.readStream(stream);
      expect(events.map((e) => e.metadata.evidence?.signature?.alg)).toEqual([
        "SM2-SM3",
        "Ed25519",
        ...Array(4).fill("SM2-SM3"),
        "SM2-SM3",
        "Ed25519",
        "SM2-SM3",
      ]);
      expect(events[6]!.metadata.evidence?.signature).toEqual(signedByOwn.metadata.evidence?.signature);
      expect(verifyChain(events, { keys: await allKeys() })).toMatchObject({ ok: true, events: 9 });
      // Ed25519 is deterministic: the pool's signature is the one this thread would make.
      expect(events[1]!.metadata.evidence?.signature).toEqual(signBytes(canonicalEvent(events[1]!), (await custody.signerFor(XZSP))!));
    } finally {
      await pool.close();
    }
  });

  it("signs appends that wait together with one batch signature each event can prove alone; batchSignatures: false signs each", async () => {
    const pool = new SigningPool({ size: 1 });
    try {
      const store = new EvidenceStore(raw, { keys: custody, clock: clock.now, verifiers: () => registry, signingPool: pool });
      const streams = Array.from({ length: 12 }, () => `batched-${uuidv7()}`);
      // One append of three events of one department: one statement for the three.
      await store.append(streams[0]!, [fact(0), fact(1), fact(2)], "no_stream");
      // Eleven appends at once: the first goes alone, the others wait for it and leave together.
      await Promise.all(streams.slice(1).map((stream) => store.append(stream, [fact(0)], "no_stream")));
      const events = (await Promise.all(streams.map((stream) => raw.readStream(stream)))).flat();
      const signatures = events.map((e) => e.metadata.evidence!.signature!);
      expect(new Set(signatures.slice(0, 3).map((s) => s.sig)).size).toBe(1);
      expect(signatures.slice(0, 3).map((s) => s.batch)).toMatchObject([
        { index: 0, size: 3 },
        { index: 1, size: 3 },
        { index: 2, size: 3 },
      ]);
      expect(new Set(signatures.slice(3).map((s) => s.sig)).size).toBeLessThan(11);
      expect(verifyChain(events, { keys: await allKeys() })).toMatchObject({ ok: true, events: 14 });
      expect(await verifyStreams(raw, streams, await allKeys())).toMatchObject({ ok: true, events: 14 });
      // An altered payload no longer fits its batch proof.
      const [first] = await raw.readStream(streams[5]!);
      expect(verifyChain([{ ...first!, data: { n: 99 } }], { keys: await allKeys() }).failure?.kind).toMatch(
        /hash-mismatch|signature-invalid/,
      );

      const single = new EvidenceStore(raw, {
        keys: custody,
        clock: clock.now,
        verifiers: () => registry,
        signingPool: pool,
        batchSignatures: false,
      });
      const stream = `unbatched-${uuidv7()}`;
      await single.append(stream, [fact(0), fact(1)], "no_stream");
      const plain = await raw.readStream(stream);
      expect(plain.map((e) => e.metadata.evidence!.signature!.batch)).toEqual([undefined, undefined]);
      expect(verifyChain(plain, { keys: await allKeys() })).toMatchObject({ ok: true, events: 2 });
    } finally {
      await pool.close();
    }
  });

  it("accepts a department's own batch signature over events it signed together, and refuses one whose proof is for another event", async () => {
    const store = evidenceStore();
    const stream = `self-batched-${uuidv7()}`;
    const time = new Date("2026-03-02T08:59:59.123Z");
    const drafts = [0n, 1n, 2n].map((revision) => ({
      id: uuidv7(),
      type: "SelfPublished",
      stream,
      revision,
      time,
      data: { n: Number(revision) },
      metadata: meta(OWN),
    }));
    const batch = signatureBatch(drafts.map((d) => canonicalEvent(d)));
    const signature = signBytes(batch.statement, ownKey);
    const withProof = (d: (typeof drafts)[number], index: number): NewEvent => ({
      id: d.id,
      time,
      type: d.type,
      data: d.data,
      metadata: { ...d.metadata, evidence: { signature: { ...signature, batch: batch.proof(index) } } },
    });
    // Revision 1 carrying revision 2's proof: refused, nothing stored.
    const error = await rejection(store.append(stream, [withProof(drafts[0]!, 0), withProof(drafts[1]!, 2)], "no_stream"));
    expect(error).toMatchObject({ kind: "signature-invalid", eventId: drafts[1]!.id });
    expect(await raw.readStream(stream)).toEqual([]);
    await store.append(stream, drafts.map(withProof), "no_stream");
    const events = await raw.readStream(stream);
    expect(events.map((e) => e.metadata.evidence!.signature!.sig)).toEqual([signature.sig, signature.sig, signature.sig]);
    expect(verifyChain(events, { keys: await allKeys() })).toMatchObject({ ok: true, events: 3 });
  });

  it("closes the signing pool it created with close(), and not one it was given", async () => {
    const given = new SigningPool({ size: 1 });
    const inner = new PostgresEventStore(schema.sql, { pollIntervalMs: 50 });
    const borrowing = new EvidenceStore(inner, { keys: custody, clock: clock.now, signingPool: given });
    await borrowing.append(`borrowed-${uuidv7()}`, [fact(0)], "no_stream");
    await borrowing.close();
    expect(given.workers).toHaveLength(1);
    await given.close();

    const owning = new EvidenceStore(new PostgresEventStore(schema.sql, { pollIntervalMs: 50 }), {
      keys: custody,
      clock: clock.now,
      signingPool: 1,
    });
    const stream = `owned-${uuidv7()}`;
    await owning.append(stream, [fact(0)], "no_stream");
    await owning.close();
    await expect(owning.append(stream, [fact(1)], 0n)).rejects.toThrow(/closed/);
  });

  describe("pre-signed events", () => {
    it("keeps a valid department signature and its time, and links it", async () => {
      const store = evidenceStore();
      const stream = `own-${uuidv7()}`;
      const first = preSigned(stream, 0n);
      await store.append(stream, [first], "no_stream");
      const [head] = await raw.readStream(stream);
      await store.append(stream, [preSigned(stream, 1n, { prev: head!.metadata.evidence!.chain!.hash })], 0n);
      const events = await raw.readStream(stream);
      expect(events[0]!.metadata.evidence?.signature).toEqual(first.metadata.evidence?.signature);
      expect(events[0]!.time.toISOString()).toBe("2026-03-02T08:59:59.123Z");
      expect(verifyChain(events, { keys: await allKeys() })).toMatchObject({ ok: true, events: 2 });
    });

    it("accepts a signed time within maxClockSkewMs either way, and the bound is configurable", async () => {
      const stream = `skew-${uuidv7()}`;
      const store = evidenceStore();
      // The test clock is after 09:00:00; 4 minutes ahead of it is inside the default 5.
      await store.append(stream, [preSigned(stream, 0n, { time: "2026-03-02T09:04:00.000Z" })], "no_stream");
      const strict = new EvidenceStore(raw, { keys: custody, clock: clock.now, verifiers: () => registry, maxClockSkewMs: 1_000 });
      const late = preSigned(stream, 1n);
      await expect(strict.append(stream, [late], 0n)).rejects.toMatchObject({ kind: "signature-invalid", eventId: late.id });
      expect(await raw.readStream(stream)).toHaveLength(1);
      expect(() => new EvidenceStore(raw, { keys: custody, maxClockSkewMs: -1 })).toThrow(/maxClockSkewMs/);
    });

    const refusals: Array<[string, (stream: string) => NewEvent, string, RegExp]> = [
      [
        "a signature over other bytes",
        (s) => preSigned(s, 1n, { signedData: { n: 99 } }),
        "signature-invalid",
        /signature by key .* does not verify/,
      ],
      ["a key nobody registered", (s) => preSigned(s, 1n, { key: strangerKey }), "unknown-key", /unknown key/],
      [
        "another department's key",
        (s) => preSigned(s, 1n, { key: ownKey, department: SAMR }),
        "wrong-signer",
        /of department 330100-SAMR is signed by key .* of 350100-SCJGJ/,
      ],
      ["a chain.prev that is not the head", (s) => preSigned(s, 1n, { prev: "ab".repeat(32) }), "prev-mismatch", /broken chain/],
      ["an event that names no department", (s) => preSigned(s, 1n, { department: null }), "wrong-signer", /has no metadata\.department/],
      [
        "a key missing from the ring of active keys (retired)",
        (s) => preSigned(s, 1n, { key: retiredKey }),
        "unknown-key",
        /unknown key .*retired/,
      ],
      [
        "a time more than 5 minutes before the store's clock",
        (s) => preSigned(s, 1n, { time: "2026-03-02T08:54:59.000Z" }),
        "signature-invalid",
        /signed time 2026-03-02T08:54:59\.000Z is more than 300000 ms from the store's clock/,
      ],
      [
        "a time more than 5 minutes after the store's clock",
        (s) => preSigned(s, 1n, { time: "2026-03-03T09:00:00.000Z" }),
        "signature-invalid",
        /maxClockSkewMs/,
      ],
    ];
    for (const [what, make, kind, message] of refusals) {
      it(`refuses ${what} (${kind}), naming the event, and stores nothing of the batch`, async () => {
        const store = evidenceStore();
        const stream = `refused-${uuidv7()}`;
        await store.append(stream, [fact(0)], "no_stream");
        const bad = make(stream);
        const error = await rejection(store.append(stream, [bad, fact(2)], 0n));
        expect(error).toBeInstanceOf(EvidenceRejectedError);
        expect(error).toMatchObject({ kind, eventId: bad.id });
        expect((error as Error).message).toMatch(message);
        expect((error as Error).message).toContain(bad.id!);
        expect(await raw.readStream(stream)).toHaveLength(1);
      });
    }
  });

  describe("concurrent writers", () => {
    it("two EvidenceStores appending to one stream at once never fork its chain", async () => {
      const a = evidenceStore();
      const b = evidenceStore();
      const stream = `race-${uuidv7()}`;
      await a.append(stream, [fact(0)], "no_stream");
      await b.append(stream, [fact(1)], "any");
      // Both believe the head is revision 1: exactly one wins, the other is told so.
      const outcomes = await Promise.allSettled([a.append(stream, [fact(2)], 1n), b.append(stream, [fact(3)], 1n)]);
      expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
      expect(outcomes.find((o) => o.status === "rejected")?.reason).toBeInstanceOf(ConcurrencyError);
      // a's cached head is stale after b's appends: "any" resolves again and retries.
      await Promise.all([
        (async () => {
          for (let i = 0; i < 8; i++) await a.append(stream, [fact(10 + i)], "any");
        })(),
        (async () => {
          for (let i = 0; i < 8; i++) await b.append(stream, [fact(20 + i), fact(30 + i)], "stream_exists");
        })(),
      ]);
      const events = await raw.readStream(stream);
      expect(events).toHaveLength(3 + 8 + 16);
      expect(verifyChain(events, { keys: await allKeys() })).toMatchObject({ ok: true, events: 27 });
    });

    it("an exact expectation a stale cache disagrees with is checked against the store", async () => {
      const a = evidenceStore();
      const b = evidenceStore();
      const stream = `stale-${uuidv7()}`;
      await a.append(stream, [fact(0)], "no_stream");
      await b.append(stream, [fact(1)], 0n);
      await a.append(stream, [fact(2)], 1n); // a's cache says 0: it reads the head
      const error = await rejection(a.append(stream, [fact(3)], 0n));
      expect(error).toMatchObject({ stream, expected: 0n, actual: 2n });
      expect(verifyChain(await raw.readStream(stream), { keys: await allKeys() }).ok).toBe(true);
    });
  });
});

describe("LogSealer and verifyStore on PostgreSQL", () => {
  let s: TestSchema;
  let inner: PostgresEventStore;
  const sealers: LogSealer[] = [];

  beforeAll(async () => {
    s = await createTestSchema(10);
    inner = new PostgresEventStore(s.sql, { pollIntervalMs: 50 });
    await inner.migrate();
  });
  afterEach(async () => {
    for (const sealer of sealers.splice(0)) await sealer.stop();
  });
  afterAll(async () => {
    await inner.close();
    await s.drop();
  });

  async function sealer(options: { blockSize?: number; maxDelayMs?: number; store?: EvidenceStore } = {}): Promise<LogSealer> {
    const started = new LogSealer({ store: options.store ?? evidenceStore(custody, inner), clock: clock.now, ...options });
    await started.start();
    sealers.push(started);
    return started;
  }

  async function seals() {
    return (await inner.readStream(SEAL_STREAM)).map((e) => parseSeal(e.data)!);
  }

  it("refuses a blockSize under 2, naming the option: a block of one would hold the last seal alone and stall", () => {
    for (const blockSize of [1, 0, 2.5]) {
      expect(() => new LogSealer({ store: evidenceStore(custody, inner), blockSize })).toThrow(
        /blockSize: must be an integer of at least 2/,
      );
    }
  });

  it("seals blocks of blockSize, survives a restart without sealing a block twice, and the log verifies", async () => {
    const store = evidenceStore(custody, inner);
    for (let i = 0; i < 5; i++) await store.append(`case-${i}`, [fact(i), fact(i + 100)], "no_stream");
    const first = await sealer({ blockSize: 4 });
    const sealed = await first.flush();
    expect(sealed.map((x) => [x.block, x.count])).toEqual([
      [0, 4],
      [1, 4],
      [2, 2],
    ]);
    await first.stop();

    // A new sealer (a restarted bus) continues after the last seal; the 3 seal events are in its first block.
    await store.append("case-9", [fact(9)], "no_stream");
    const second = await sealer({ blockSize: 4 });
    expect(second.metrics()).toMatchObject({ nextBlock: 3, sealedThrough: sealed[2]!.lastPosition });
    const more = await second.flush();
    expect(more.map((x) => [x.block, x.count])).toEqual([[3, 4]]);
    expect(await second.flush()).toEqual([]); // only its own seal is pending: no block of seals alone
    expect((await seals()).map((x) => x.block)).toEqual([0, 1, 2, 3]);

    const keys = await allKeys();
    const all = await verifyStore(inner, { keys });
    expect(all).toMatchObject({ ok: true, events: 15, seals: 4, unsealedEvents: 1 });
    // 15 events, 10 signatures: each two-event append shares one batch signature, verified once.
    expect(await verifyStore(inner, { keys, signatures: "all", workers: 0 })).toMatchObject({ ok: true, signatures: 10 });
    expect(await verifyStore(store, { keys, pageSize: 2 })).toMatchObject({ ok: true, events: 15, seals: 4 });

    // The verifier's lean reads (through the EvidenceStore too) agree with readAll, positions as the seals write them.
    const lean: VerifiedRow[] = [];
    for await (const page of readLogPages(store, { pageSize: 4 })) {
      expect(page.length).toBeLessThanOrEqual(4);
      lean.push(...page);
    }
    const whole = await inner.readAll();
    expect(lean.map((e) => [e.id, e.position, e.revision, (e.time as Date).toISOString()])).toEqual(
      whole.map((e) => [e.id, formatPosition(e.position), e.revision.toString(), e.time.toISOString()]),
    );
    expect(lean.map((e) => [e.data, e.metadata])).toEqual(whole.map((e) => [e.data, e.metadata]));
    // Each block's leaves, read lean (position and chain hash only), are what its seal's root is over.
    for (const seal of await seals()) {
      const leaves = await readLeaves(store, parsePosition(seal.firstPosition), parsePosition(seal.lastPosition));
      expect(leaves.map((l) => l.position).at(-1)).toBe(seal.lastPosition);
      expect(merkleRoot(leaves.map((l) => l.hash!)).toString("hex")).toBe(seal.root);
    }
    // The seal events are signed by the bus and chained like any other stream.
    const sealEvents = await inner.readStream(SEAL_STREAM);
    expect(sealEvents.every((e) => e.type === LOG_SEALED && e.metadata.department === BUS_DEPARTMENT)).toBe(true);
  });

  it("seals from its subscription when a block fills up, and a partial block once its oldest event waited maxDelayMs", async () => {
    // A log of its own, so no seal left pending by another test shifts the blocks.
    const own = await createTestSchema(4);
    const ownInner = new PostgresEventStore(own.sql, { pollIntervalMs: 50 });
    try {
      await ownInner.migrate();
      const store = evidenceStore(custody, ownInner);
      const sealed = async () => (await ownInner.readStream(SEAL_STREAM)).map((e) => parseSeal(e.data)!);
      const live = await sealer({ blockSize: 4, maxDelayMs: 1_000, store });
      await store.append(`live-${uuidv7()}`, [fact(1), fact(2), fact(3), fact(4)], "no_stream");
      await waitFor("a full block sealed", async () => (await sealed()).length === 1);
      // Its own seal and one more event are pending: below blockSize, and not overdue yet.
      await store.append(`live-${uuidv7()}`, [fact(5)], "no_stream");
      await waitFor("two events pending", () => live.metrics().pending === 2);
      expect((await sealed()).length).toBe(1);
      clock.advance(1_000);
      await store.append(`live-${uuidv7()}`, [fact(6)], "no_stream");
      await waitFor("the overdue block sealed", async () => (await sealed()).length === 2);
      expect((await sealed()).map((x) => x.count)).toEqual([4, 3]);
      expect(await verifyStore(ownInner, { keys: await allKeys() })).toMatchObject({ ok: true, seals: 2 });
    } finally {
      for (const started of sealers.splice(0)) await started.stop();
      await ownInner.close();
      await own.drop();
    }
  });

  it("readChainLinks gives what readAll gives of each event (id, stream, position) with its stored chain link", async () => {
    const store = evidenceStore(custody, inner);
    const start = (await store.append(`links-start-${uuidv7()}`, [fact(0)], "no_stream")).position;
    await store.append(`links-${uuidv7()}`, [fact(1), fact(2)], "no_stream");
    await store.append(`links-${uuidv7()}`, [fact(3)], "no_stream");
    const events = await inner.readAll({ after: start });
    const links = await inner.readChainLinks({ after: start });
    expect(links.map((l) => [l.id, l.stream, formatPosition(l.position)])).toEqual(
      events.map((e) => [e.id, e.stream, formatPosition(e.position)]),
    );
    expect(links.map((l) => chainLinkFrom(l.chain))).toEqual(events.map((e) => chainLinkOf(e)));
    expect(links.every((l) => chainLinkFrom(l.chain) !== undefined)).toBe(true);
    expect(chainLinkFrom({ prev: "00", hash: "zz" })).toBeUndefined();
    expect(await inner.readChainLinks({ after: start, maxCount: 1 })).toHaveLength(1);
  });

  it("two sealers racing produce one seal sequence", async () => {
    const a = await sealer({ blockSize: 1000, store: evidenceStore(custody, inner) });
    const b = await sealer({ blockSize: 1000, store: evidenceStore(custody, inner) });
    const store = evidenceStore(custody, inner);
    for (let round = 0; round < 3; round++) {
      await store.append(`racing-${uuidv7()}`, [fact(round), fact(round + 1)], "no_stream");
      await Promise.all([a.flush(), b.flush()]);
    }
    const blocks = (await seals()).map((x) => x.block);
    expect(blocks).toEqual(blocks.map((_, i) => i));
    expect(a.metrics().lostRaces + b.metrics().lostRaces).toBeGreaterThanOrEqual(3);
    expect(await verifyStore(inner, { keys: await allKeys() })).toMatchObject({ ok: true });
  });

  describe("tampering in the database", () => {
    /** Runs `edit` on the event's row, checks, then puts the row back as it was. */
    async function tampered(event: StoredEvent, edit: string, params: unknown[], check: () => Promise<void>) {
      const { rows } = await s.sql.query<{ data: unknown; metadata: unknown }>(`select data, metadata from events where event_id = $1`, [
        event.id,
      ]);
      await s.sql.query(`update events set ${edit} where event_id = $1`, [event.id, ...params]);
      try {
        await check();
      } finally {
        await s.sql.query(`update events set data = $2::jsonb, metadata = $3::jsonb where event_id = $1`, [
          event.id,
          JSON.stringify(rows[0]!.data),
          JSON.stringify(rows[0]!.metadata),
        ]);
      }
    }

    it("an altered payload, signature or chain hash is found and named by verifyStore and verifyStreams", async () => {
      const store = evidenceStore(custody, inner);
      const stream = `tamper-${uuidv7()}`;
      await store.append(stream, [fact(1), fact(2), fact(3)], "no_stream");
      const first = await sealer({ blockSize: 1000 });
      await first.flush();
      const [, victim, after] = await inner.readStream(stream);
      const keys = await allKeys();
      expect(await verifyStore(inner, { keys, signatures: "all", workers: 0 })).toMatchObject({ ok: true });
      const where = { eventId: victim!.id, stream, revision: "1" };

      await tampered(victim!, `data = jsonb_set(data, '{fee}', '1250')`, [], async () => {
        expect((await verifyStreams(inner, [stream], keys)).failure).toMatchObject({ kind: "hash-mismatch", ...where });
        expect((await verifyStore(inner, { keys })).failure).toMatchObject({ kind: "hash-mismatch", ...where });
      });

      // A valid signature, of another event (here its batch signature with its proof): only a signature check sees it (the chain does not cover evidence).
      const otherSignature = JSON.stringify(after!.metadata.evidence!.signature!);
      await tampered(victim!, `metadata = jsonb_set(metadata, '{evidence,signature}', $2::jsonb)`, [otherSignature], async () => {
        expect((await verifyStreams(inner, [stream], keys)).failure).toMatchObject({ kind: "signature-invalid", ...where });
        expect((await verifyStore(inner, { keys, signatures: "all", workers: 0 })).failure).toMatchObject({
          kind: "signature-invalid",
          ...where,
        });
      });

      const forged = linkEvent({ ...victim!, data: { forged: true } }, victim!.metadata.evidence!.chain!.prev).hash;
      await tampered(victim!, `metadata = jsonb_set(metadata, '{evidence,chain,hash}', to_jsonb($2::text))`, [forged], async () => {
        expect((await verifyStreams(inner, [stream], keys)).failure).toMatchObject({ kind: "hash-mismatch", ...where });
        expect((await verifyStore(inner, { keys })).failure).toMatchObject({ kind: "hash-mismatch", ...where });
      });

      // Data and chain rewritten together: the stream's chain now holds, the next link and the seal do not.
      const rewritten = { ...victim!, data: { ...(victim!.data as object), fee: 0 } };
      const relinked = linkEvent(rewritten, victim!.metadata.evidence!.chain!.prev).hash;
      await tampered(
        victim!,
        `data = jsonb_set(data, '{fee}', '0'), metadata = jsonb_set(metadata, '{evidence,chain,hash}', to_jsonb($2::text))`,
        [relinked],
        async () => {
          // The department's signature still covers the old payload…
          expect((await verifyStreams(inner, [stream], keys)).failure).toMatchObject({ kind: "signature-invalid", ...where });
          // …and without signature checks (sealed events), the next link gives it away.
          expect((await verifyStore(inner, { keys })).failure).toMatchObject({ kind: "prev-mismatch", eventId: after!.id, revision: "2" });
        },
      );
      expect(await verifyStore(inner, { keys, signatures: "all", workers: 0 })).toMatchObject({ ok: true });
    });
  });
});

describe("EvidenceStore on PGlite", () => {
  it("signs, chains, seals and verifies on the embedded store", async () => {
    const sql = pgliteExecutor(await PGlite.create("memory://"));
    const inner = new PostgresEventStore(sql, { pollIntervalMs: 50 });
    await inner.migrate();
    try {
      const store = evidenceStore(custody, inner);
      await store.append("pglite-1", [fact(1), fact(2)], "no_stream");
      await store.append("pglite-1", [fact(3)], "any");
      const sealer = new LogSealer({ store, blockSize: 2, clock: clock.now });
      await sealer.start();
      expect((await sealer.flush()).map((x) => x.count)).toEqual([2, 1]);
      await sealer.stop();
      expect(await verifyStore(inner, { keys: await allKeys(), signatures: "all", workers: 0 })).toMatchObject({
        ok: true,
        events: 5,
        seals: 2,
      });
    } finally {
      await inner.close();
      await sql.close();
    }
  });
});

describe("the relay and seals", () => {
  it("LogSealed is internal: not a contract, so the relay skips it", () => {
    expect(isContract(LOG_SEALED)).toBe(false);
  });
});
