import { execFile } from "node:child_process";
import { readFile, writeFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chainLinkOf, GENESIS_HASH, linkEvent } from "@shenguan/evidence";
import {
  asOf,
  caseTimeline,
  exportBundle,
  keysToJson,
  subjectFile,
  VerifiedBlocks,
  verifyBundle,
  verifyPart,
  verifyWholeLog,
} from "../src/index.js";
import { openFixture, scriptedCase, type Fixture, type FixtureEvent } from "./fixtures.js";

const run = promisify(execFile);
const CLI = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
const TSX = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));
const USCC = "91350100M000100Y43";
const BIG = "91350100M000200Y4X";
const START = Date.parse("2026-03-02T02:00:00Z");

describe("auditor over a real PostgreSQL store behind the EvidenceStore and LogSealer (int)", () => {
  let f: Fixture;
  let dir: string;
  beforeAll(async () => {
    f = await openFixture("int", ["SPJ-350100", "SCJG-350100", "LINKAGE", "ZFJ-350100"]);
    dir = await mkdtemp(join(tmpdir(), "shenguan-audit-"));
    for (const { stream, events } of scriptedCase("CASE-1", USCC, START)) await f.append(stream, events);
    expect(await f.seal()).toHaveLength(1);
    // After the seal: proven by its signature only.
    await f.append("licence-case-CASE-1", [
      {
        type: "LicenceRevoked",
        department: "SPJ-350100",
        caseId: "CASE-1",
        subject: USCC,
        time: new Date(START + 3_600_000),
        data: {
          caseId: "CASE-1",
          licenceId: "JY-CASE-1",
          decisionNumber: "榕审批撤〔2026〕1号",
          reason: "以虚假承诺取得",
          decisionDate: "2026-03-10",
          answersRequestId: null,
        },
      },
    ]);
    await f.settled();
  });
  afterAll(async () => {
    await f?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("orders a case's timeline by log position, with labels, causation and deadlines at each event", async () => {
    const t = await caseTimeline(f.store, "CASE-1", { keys: f.keys });
    expect(t.entries.map((e) => e.type)).toEqual([
      "ApplicationAccepted",
      "LicenceGranted",
      "HandoffPushed",
      "HandoffReceived",
      "HandoffClaimed",
      "InspectionRecorded",
      "LicenceRevoked",
    ]);
    expect(t.entries.map((e) => e.label)).toEqual(["受理", "许可准予", "推送", "接收推送", "认领", "检查记录", "许可撤销"]);
    // Granted → pushed → received: a causation chain two deep.
    expect(t.entries.map((e) => e.depth)).toEqual([0, 0, 1, 2, 0, 0, 0]);
    expect(t.entries[2]!.causedBy).toBe(t.entries[1]!.id);
    const claim = (i: number) => t.entries[i]!.deadlines.find((d) => d.kind === "CLAIM");
    expect(claim(1)).toBeUndefined();
    expect(claim(2)).toMatchObject({ status: "open", dueDate: "2026-03-09", responsibleDepartment: "SCJG-350100" });
    expect(claim(4)).toMatchObject({ status: "met", metBy: "HandoffClaimed" });
    // The revocation ends the licence: the verification deadline still open is cancelled, the met claim stays met.
    expect(t.entries[6]!.deadlines.map((d) => [d.kind, d.status])).toEqual([
      ["CLAIM", "met"],
      ["COMMITMENT_VERIFICATION", "cancelled"],
    ]);
    expect(t.evidence).toMatchObject({ ok: true, seals: 1, unsealedEvents: 1, signatures: 1, streams: 3 });
  });

  it("rebuilds a licence case as of a moment with the approval decider", async () => {
    const before = await asOf(f.store, "licence-case-CASE-1", new Date(START + 90_000));
    expect(before).toMatchObject({
      applied: 2,
      revision: "1",
      owner: "approval",
      state: { status: "granted", licence: { licenceId: "JY-CASE-1" } },
    });
    const after = await asOf(f.store, "licence-case-CASE-1", new Date(START + 7_200_000));
    expect(after).toMatchObject({ applied: 3, state: { status: "revoked" } });
    const handoff = await asOf(f.store, "supervision-H-JY-CASE-1", new Date(START + 3.5 * 60_000));
    expect(handoff).toMatchObject({ applied: 1, state: { status: "pushed" } });
    await expect(asOf(f.store, "nonsense-1", new Date())).rejects.toThrow(/stream: no decider rebuilds stream nonsense-1/);
  });

  it("exports a case bundle that verifies offline; one flipped byte fails and names the event", async () => {
    const out = join(dir, "case");
    const result = await exportBundle(f.store, out, { scope: { kind: "case", id: "CASE-1" }, keys: f.keys, signer: f.bus });
    expect(result.manifest.counts).toMatchObject({ events: 7, streams: 3, seals: 1 });
    expect(await verifyBundle(out, { trustedKeys: f.keys })).toMatchObject({
      ok: true,
      trust: "verified",
      events: 7,
      seals: 1,
      signed: true,
      failures: [],
    });
    // Against its own keys.json only: everything checks out, but nothing outside the bundle vouches for it.
    expect(await verifyBundle(out)).toMatchObject({ ok: false, trust: "self-consistent", events: 7, failures: [] });

    const path = join(out, "events.jsonl");
    const original = await readFile(path);
    const lines = original.toString("utf8").split("\n");
    const target = JSON.parse(lines[3]!) as { id: string };
    // Flip one byte inside the fourth event's data (a letter of its handoff id).
    const offset = original.indexOf(Buffer.from('"handoffId":"H-JY-CASE-1"'), original.indexOf(Buffer.from(target.id))) + 14;
    const tampered = Buffer.from(original);
    tampered[offset] = tampered[offset]! ^ 0x01;
    await writeFile(path, tampered);
    const v = await verifyBundle(out);
    expect(v.ok).toBe(false);
    expect(v.failure).toMatchObject({ kind: "line-altered", line: 4, eventId: target.id });
    expect(v.failures.map((x) => x.kind)).toEqual(expect.arrayContaining(["hash-mismatch", "file-altered"]));
    expect(v.failures.find((x) => x.kind === "hash-mismatch")).toMatchObject({ eventId: target.id });

    // The CLI, for real: offline (no DATABASE_URL), exit 1, the event named.
    const env = { ...process.env, DATABASE_URL: "" };
    const failed = await run(TSX, [CLI, "verify-bundle", out], { env }).catch((e: { code: number; stdout: string }) => e);
    expect(failed).toMatchObject({ code: 1 });
    expect((failed as { stdout: string }).stdout).toContain(target.id);
    await writeFile(path, original);
    const ok = await run(TSX, [CLI, "verify-bundle", out, "--json", "--bus-key-id", f.bus.keyId], { env });
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, trust: "verified", events: 7 });
  });

  it("verifies the whole log and exports it; the CLI reads the store and keys", async () => {
    expect(await verifyWholeLog(f.store, { keys: f.keys, signatures: "all", workers: 0 })).toMatchObject({
      ok: true,
      events: 8,
      seals: 1,
      signatures: 8,
    });
    // Pages smaller than the log: each page is read while the one before is checked.
    // Unsealed: the revocation, and the seal event itself (the next block would cover it).
    expect(await verifyWholeLog(f.store, { keys: f.keys, pageSize: 3 })).toMatchObject({
      ok: true,
      events: 8,
      seals: 1,
      unsealedEvents: 2,
    });
    const keysFile = join(dir, "keys.json");
    await writeFile(keysFile, JSON.stringify(keysToJson(f.keys)));
    const env = { ...process.env, DATABASE_URL: f.url };
    const timeline = await run(TSX, [CLI, "--schema", f.schema, "--keys", keysFile, "timeline", "CASE-1", "--verify"], { env });
    expect(timeline.stdout).toContain("许可准予");
    expect(timeline.stdout).toContain("验证通过");
    const out = join(dir, "all");
    await run(TSX, [CLI, "--schema", f.schema, "--keys", keysFile, "export", "--all", out], { env });
    // Exported without --sign-key: an unsigned manifest is self-consistent at best, even with trusted keys.
    expect(await verifyBundle(out, { trustedKeys: f.keys })).toMatchObject({
      ok: false,
      trust: "self-consistent",
      events: 8,
      seals: 1,
      failures: [],
    });
    expect(await verifyBundle(out, { trustedKeys: f.keys, acceptSelfAttested: true })).toMatchObject({
      ok: true,
      trust: "self-consistent",
    });
    const bad = await run(TSX, [CLI, "--schema", f.schema, "verify", "--case", "CASE-1"], { env }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad).toMatchObject({ code: 2 });
    expect((bad as { stderr: string }).stderr).toContain("--keys");
    // The bus's custody directory instead of a keys.json: the public halves of its PEM files.
    const fromDir = await run(TSX, [CLI, "--schema", f.schema, "--keys-dir", f.keysDir, "verify", "--all", "--json"], { env });
    expect(JSON.parse(fromDir.stdout)).toMatchObject({ ok: true, events: 8, seals: 1 });
    const both = await run(TSX, [CLI, "--schema", f.schema, "--keys", keysFile, "--keys-dir", f.keysDir, "verify", "--all"], { env }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(both).toMatchObject({ code: 2 });
  });

  it("proves sealed events by their block's leaves, read once and remembered: a re-chained edit fails either way", async () => {
    const blocks = new VerifiedBlocks();
    const first = await caseTimeline(f.store, "CASE-1", { keys: f.keys, blocks });
    expect(first.evidence).toMatchObject({ ok: true, seals: 1 });
    expect(blocks.size).toBe(1);
    expect((await caseTimeline(f.store, "CASE-1", { keys: f.keys, blocks })).evidence).toMatchObject({ ok: true, seals: 1 });

    // Someone with the database rewrites a sealed event and its chain link so the stream's chain holds
    // (it is the stream's last event): only the seal can tell.
    const sql = f.opened.executor!;
    const target = (await f.store.readStream("supervision-H-JY-CASE-1")).at(-1)!;
    const original = await sql.query<{ data: unknown; metadata: unknown }>(`select data, metadata from events where event_id = $1`, [
      target.id,
    ]);
    const forged = { ...target, data: { ...(target.data as object), findings: "篡改" } };
    const link = linkEvent(forged, chainLinkOf(target)?.prev ?? GENESIS_HASH);
    await sql.query(
      `update events set data = jsonb_set(data, '{findings}', '"篡改"'), metadata = jsonb_set(metadata, '{evidence,chain,hash}', to_jsonb($2::text)) where event_id = $1`,
      [target.id, link.hash],
    );
    try {
      const expected = { ok: false, failure: { kind: "seal-root-mismatch", eventId: target.id, stream: target.stream } };
      // Remembered block: the event's hash is not the leaf the bus sealed at its position.
      expect((await caseTimeline(f.store, "CASE-1", { keys: f.keys, blocks })).evidence).toMatchObject(expected);
      // Block read afresh: its Merkle root is not the sealed one.
      expect((await caseTimeline(f.store, "CASE-1", { keys: f.keys })).evidence).toMatchObject({
        ok: false,
        failure: { kind: "seal-root-mismatch" },
      });
    } finally {
      const row = original.rows[0]!;
      await sql.query(`update events set data = $2::jsonb, metadata = $3::jsonb where event_id = $1`, [
        target.id,
        JSON.stringify(row.data),
        JSON.stringify(row.metadata),
      ]);
    }
    expect((await caseTimeline(f.store, "CASE-1", { keys: f.keys, blocks })).evidence).toMatchObject({ ok: true });
  });

  it("proves a stream by its sealed head: an early event edited and every later link rewritten is still caught", async () => {
    const blocks = new VerifiedBlocks();
    expect((await caseTimeline(f.store, "CASE-1", { keys: f.keys, blocks })).evidence).toMatchObject({ ok: true, seals: 1 });
    // licence-case-CASE-1: revisions 0 and 1 sealed (1 is the stream's sealed head), 2 after the seal.
    const sql = f.opened.executor!;
    const stream = await f.store.readStream("licence-case-CASE-1");
    expect(stream.map((e) => e.type)).toEqual(["ApplicationAccepted", "LicenceGranted", "LicenceRevoked"]);
    const original = await sql.query<{ event_id: string; data: unknown; metadata: unknown }>(
      `select event_id, data, metadata from events where stream_name = $1`,
      [stream[0]!.stream],
    );
    // Revision 0 rewritten, then every link after it recomputed, as someone with the database would:
    // the stream's chain holds from its genesis to its end, and revision 2's department signature still verifies.
    let prev = GENESIS_HASH;
    for (const event of stream) {
      const data = event.revision === 0n ? { ...(event.data as object), applicationNumber: "SL-FORGED" } : event.data;
      const link = linkEvent({ ...event, data }, prev);
      await sql.query(
        `update events set data = $2::jsonb, metadata = jsonb_set(metadata, '{evidence,chain}', $3::jsonb) where event_id = $1`,
        [event.id, JSON.stringify(data), JSON.stringify(link)],
      );
      prev = link.hash;
    }
    try {
      const head = stream[1]!;
      const expected = { ok: false, failure: { kind: "seal-root-mismatch", eventId: head.id, stream: head.stream, revision: "1" } };
      // Remembered block: the head's recomputed hash is not the leaf the bus sealed at its position.
      expect((await caseTimeline(f.store, "CASE-1", { keys: f.keys, blocks })).evidence).toMatchObject(expected);
      // Block read afresh: the forged head hash is among its stored leaves, so the Merkle hash of its chunk is not the
      // one sealed (which leaf of the chunk was altered the hash cannot tell: the failure names the chunk's first head).
      expect((await caseTimeline(f.store, "CASE-1", { keys: f.keys })).evidence).toMatchObject({
        ok: false,
        failure: { kind: "seal-root-mismatch", block: 0 },
      });
      // A seal from before chunk hashes (the same seal without them) is proven over its whole block: caught all the same.
      const seals = (await f.store.readStream("shenguan-seals")).map((e) => {
        const { chunks: _chunks, ...seal } = e.data as Record<string, unknown>;
        return seal;
      });
      expect((await caseTimeline(f.store, "CASE-1", { keys: f.keys, seals })).evidence).toMatchObject({
        ok: false,
        failure: { kind: "seal-root-mismatch" },
      });
    } finally {
      for (const row of original.rows) {
        await sql.query(`update events set data = $2::jsonb, metadata = $3::jsonb where event_id = $1`, [
          row.event_id,
          JSON.stringify(row.data),
          JSON.stringify(row.metadata),
        ]);
      }
    }
    expect((await caseTimeline(f.store, "CASE-1", { keys: f.keys })).evidence).toMatchObject({ ok: true });
  });

  it("proves a head by its chunk when the seal records chunk hashes, by the whole block otherwise; forged chunk hashes fail", async () => {
    const raw = (await f.store.readStream("shenguan-seals")).map((e) => e.data as Record<string, unknown>);
    expect(raw[0]!.chunks).toMatchObject({ size: 32 });
    const withoutChunks = raw.map(({ chunks: _chunks, ...seal }) => seal);
    expect((await caseTimeline(f.store, "CASE-1", { keys: f.keys, seals: withoutChunks })).evidence).toMatchObject({ ok: true, seals: 1 });
    const chunks = raw[0]!.chunks as { size: number; roots: string[] };
    const forged = [{ ...raw[0]!, chunks: { ...chunks, roots: chunks.roots.map(() => "ab".repeat(32)) } }, ...raw.slice(1)];
    expect((await caseTimeline(f.store, "CASE-1", { keys: f.keys, seals: forged })).evidence).toMatchObject({
      ok: false,
      failure: { kind: "seal-root-mismatch", block: 0 },
    });
  });

  it("names the first broken link when a stored event is altered", async () => {
    await f.opened.executor!.query(`update events set data = jsonb_set(data, '{findings}', '"篡改"') where type = 'InspectionRecorded'`);
    const events = await f.store.readByCorrelationKey("CASE-1");
    const report = await verifyPart(f.store, events, "case CASE-1", { keys: f.keys });
    const inspection = events.find((e) => e.type === "InspectionRecorded")!;
    expect(report).toMatchObject({
      ok: false,
      failure: { kind: "hash-mismatch", eventId: inspection.id, stream: inspection.stream, revision: "2" },
    });
  });

  it("replays a subject with thousands of events correctly and in order", async () => {
    const N = 3_000;
    const streams = 30;
    for (let s = 0; s < streams; s++) {
      const events: FixtureEvent[] = [];
      for (let i = s; i < N; i += streams) {
        events.push({
          type: i % 3 === 0 ? "InspectionRecorded" : i % 3 === 1 ? "CreditRecordPublished" : "PenaltyImposed",
          department: "ZFJ-350100",
          subject: BIG,
          // One time per stream: each stream is one append through the EvidenceStore.
          time: new Date(START + s * 1000),
          data: { seq: i, holderUscc: BIG, holderName: "福州大量事件测试有限公司" },
        });
      }
      await f.append(`enforcement-BIG-${s}`, events);
    }
    const file = await subjectFile(f.store, BIG);
    expect(file.events).toBe(N);
    expect(file.name).toBe("福州大量事件测试有限公司");
    expect(file.sections.inspections).toHaveLength(1000);
    expect(file.sections.credit).toHaveLength(1000);
    expect(file.sections.penalties).toHaveLength(1000);
    // In log order: stream by stream as appended, and within each stream by revision.
    const positions = Object.values(file.sections)
      .flat()
      .map((e) => e.position.split("/").map(BigInt) as [bigint, bigint]);
    const sorted = [...positions].sort((a, b) => (a[0] !== b[0] ? (a[0] < b[0] ? -1 : 1) : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    expect(positions.length).toBe(N);
    for (const section of Object.values(file.sections)) {
      const seqs = section.map((e) => (e.data as { seq: number }).seq);
      const streamOf = section.map((e) => e.stream);
      for (let i = 1; i < section.length; i++) {
        if (streamOf[i] === streamOf[i - 1]) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
      }
    }
    expect(sorted.length).toBe(positions.length);
    await expect(subjectFile(f.store, "not-a-uscc")).rejects.toThrow(/uscc/);
  });
});
