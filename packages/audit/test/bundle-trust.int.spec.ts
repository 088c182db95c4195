import { execFile } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  canonicalBytes,
  generateSigningKey,
  GENESIS_HASH,
  KeyRing,
  linkEvent,
  signBytes,
  signEvent,
  type SigningKey,
} from "@shenguan/evidence";
import { BUNDLE_FILES, BundleError, exportBundle, keysToJson, verifyBundle, type EventJson, type Manifest } from "../src/index.js";
import { openFixture, scriptedCase, type Fixture } from "./fixtures.js";

const run = promisify(execFile);
const CLI = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
const TSX = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));
const USCC = "91350100M000100Y43";
const START = Date.parse("2026-03-02T02:00:00Z");
const sm3 = (b: string | Buffer) => createHash("sm3").update(b).digest("hex");

/** Rewrites manifest.json to match the files as they now are (what a forger does), signed by `signer` or not. */
async function remanifest(dir: string, signer?: SigningKey): Promise<void> {
  const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as Manifest;
  const files: Record<string, { sm3: string; bytes: number }> = {};
  for (const name of BUNDLE_FILES) {
    const bytes = await readFile(join(dir, name));
    files[name] = { sm3: sm3(bytes), bytes: bytes.length };
  }
  const lines = (name: string) => readFile(join(dir, name), "utf8").then((t) => t.split("\n").filter(Boolean));
  const events = (await lines("events.jsonl")).map((l) => JSON.parse(l) as EventJson);
  const keys = JSON.parse(await readFile(join(dir, "keys.json"), "utf8")) as { departments: unknown[]; bus: unknown[] };
  const { signature: _dropped, ...rest } = manifest;
  const body = {
    ...rest,
    counts: {
      events: events.length,
      streams: new Set(events.map((e) => e.stream)).size,
      seals: (await lines("seals.jsonl")).length,
      keys: keys.departments.length + keys.bus.length,
    },
    files,
  };
  const out = signer ? { ...body, signature: signBytes(canonicalBytes(body), signer) } : body;
  await writeFile(join(dir, "manifest.json"), `${JSON.stringify(out, null, 2)}\n`);
}

describe("export bundles: verified only against keys from outside the bundle (int)", () => {
  let f: Fixture;
  let dir: string;
  let genuine: string;
  // Events appended around the evidence layer: no chain link, so no leaf, but a position inside or between blocks.
  const noise = (n: number) =>
    f.opened.store.append(
      `noise-${n}`,
      [{ type: "Noise", data: { n }, metadata: { correlationId: randomUUID(), causationId: null, department: "OTHER" } }],
      "any",
    );

  beforeAll(async () => {
    f = await openFixture("trust", ["SPJ-350100", "SCJG-350100", "LINKAGE"]);
    dir = await mkdtemp(join(tmpdir(), "shenguan-audit-trust-"));
    const [licence, ...rest] = scriptedCase("CASE-T", USCC, START);
    await f.append(licence!.stream, licence!.events);
    await noise(1); // inside block 0
    for (const { stream, events } of rest) await f.append(stream, events);
    await noise(2); // between block 0 and block 1
    expect(await f.seal()).toHaveLength(1);
    await noise(3); // inside block 1 (after the first seal event, its first leaf)
    await f.append("licence-case-CASE-T", [
      {
        type: "LicenceRevoked",
        department: "SPJ-350100",
        caseId: "CASE-T",
        subject: USCC,
        time: new Date(START + 3_600_000),
        data: {
          caseId: "CASE-T",
          licenceId: "JY-CASE-T",
          decisionNumber: "榕审批撤〔2026〕9号",
          reason: "以虚假承诺取得",
          decisionDate: "2026-03-10",
          answersRequestId: null,
        },
      },
    ]);
    expect(await f.seal()).toHaveLength(1);
    genuine = join(dir, "genuine");
    const result = await exportBundle(f.store, genuine, { scope: { kind: "case", id: "CASE-T" }, keys: f.keys, signer: f.bus });
    expect(result.manifest.counts).toMatchObject({ events: 7, seals: 2 });
  });
  afterAll(async () => {
    await f?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("exports each block's leaves by its range (unchained events inside and between blocks are no leaves); the genuine bundle verifies with trusted keys", async () => {
    const seals = (await readFile(join(genuine, "seals.jsonl"), "utf8"))
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { seal: { count: number }; leaves: { hash: string }[] });
    for (const s of seals) expect(s.leaves).toHaveLength(s.seal.count);
    expect(await verifyBundle(genuine, { trustedKeys: f.keys })).toMatchObject({
      ok: true,
      trust: "verified",
      events: 7,
      seals: 2,
      failures: [],
    });
    expect(await verifyBundle(genuine, { busKeyId: f.bus.keyId })).toMatchObject({ ok: true, trust: "verified", seals: 2 });
    // Its own keys only: self-consistent, not verified, unless the caller accepts that explicitly.
    expect(await verifyBundle(genuine)).toMatchObject({ ok: false, trust: "self-consistent", failures: [] });
    expect(await verifyBundle(genuine, { acceptSelfAttested: true })).toMatchObject({ ok: true, trust: "self-consistent" });
    // A trusted key must name its department.
    const unowned = { departments: new KeyRing([...f.keys.departments].map((e) => ({ key: e.key }))), bus: f.keys.bus };
    await expect(verifyBundle(genuine, { trustedKeys: unowned })).rejects.toThrow(BundleError);

    const env = { ...process.env, DATABASE_URL: "" };
    const fromDir = await run(TSX, [CLI, "--keys-dir", f.keysDir, "verify-bundle", genuine, "--json"], { env });
    expect(JSON.parse(fromDir.stdout)).toMatchObject({ ok: true, trust: "verified" });
    const bare = await run(TSX, [CLI, "verify-bundle", genuine], { env }).catch((e: { code: number; stderr: string }) => e);
    expect(bare).toMatchObject({ code: 1 });
    expect((bare as { stderr: string }).stderr).toContain("--accept-self-attested");
  });

  it("does not report a re-forged bundle (events rewritten, attacker keys in keys.json, hashes recomputed, manifest unsigned) as verified", async () => {
    const forged = join(dir, "forged");
    await cp(genuine, forged, { recursive: true });
    const departments = ["SPJ-350100", "SCJG-350100", "LINKAGE"];
    const attacker = new Map(departments.map((d) => [d, generateSigningKey()]));
    const attackerBus = generateSigningKey();
    const prev = new Map<string, string>();
    const lines: string[] = [];
    for (const line of (await readFile(join(forged, "events.jsonl"), "utf8")).split("\n").filter(Boolean)) {
      const e = JSON.parse(line) as EventJson;
      const { evidence: _evidence, ...metadata } = e.metadata;
      const data = e.type === "InspectionRecorded" ? { ...(e.data as object), result: "NON_COMPLIANT", findings: "伪造" } : e.data;
      const bare = { ...e, data, metadata };
      const signature = signEvent(bare, attacker.get(metadata.department as string)!);
      const chain = linkEvent(bare, prev.get(e.stream) ?? GENESIS_HASH);
      prev.set(e.stream, chain.hash);
      lines.push(JSON.stringify({ ...bare, metadata: { ...metadata, evidence: { signature, chain } } }));
    }
    await writeFile(join(forged, "events.jsonl"), lines.map((l) => `${l}\n`).join(""));
    await writeFile(join(forged, "events.sm3"), lines.map((l) => `${sm3(l)}\n`).join(""));
    await writeFile(join(forged, "seals.jsonl"), "");
    const keys = {
      departments: new KeyRing(departments.map((d) => ({ key: attacker.get(d)!.publicKey, owner: d }))),
      bus: new KeyRing([{ key: attackerBus.publicKey, owner: "SHENGUAN-BUS" }]),
    };
    await writeFile(join(forged, "keys.json"), `${JSON.stringify(keysToJson(keys), null, 2)}\n`);
    await remanifest(forged);

    // Perfectly self-consistent: and that is all it is.
    const self = await verifyBundle(forged);
    expect(self).toMatchObject({ ok: false, trust: "self-consistent", failures: [] });
    expect(self.trustReason).toContain("own keys.json");
    // With trusted keys the department keys come from them, not from keys.json.
    expect(await verifyBundle(forged, { trustedKeys: f.keys })).toMatchObject({
      ok: false,
      trust: "failed",
      failure: { kind: "unknown-key" },
    });
    // With the bus key id from out of band: unsigned is not verified; signed by the attacker's bus key fails.
    expect(await verifyBundle(forged, { busKeyId: f.bus.keyId })).toMatchObject({ ok: false, trust: "self-consistent" });
    await remanifest(forged, attackerBus);
    expect(await verifyBundle(forged, { busKeyId: f.bus.keyId })).toMatchObject({
      ok: false,
      trust: "failed",
      failure: { kind: "manifest-signature" },
    });

    // A keys.json entry without an owner would skip the signer-is-the-event's-department check: refused.
    const json = keysToJson(keys);
    await writeFile(
      join(forged, "keys.json"),
      JSON.stringify({ ...json, departments: json.departments.map(({ owner: _o, ...rest }) => rest) }),
    );
    await remanifest(forged);
    const unowned = await verifyBundle(forged, { acceptSelfAttested: true });
    expect(unowned).toMatchObject({ ok: false, trust: "failed" });
    expect(unowned.failures.find((x) => x.kind === "keys-file")?.message).toContain("has no owner");

    const cli = await run(TSX, [CLI, "verify-bundle", forged], { env: { ...process.env, DATABASE_URL: "" } }).catch(
      (e: { code: number }) => e,
    );
    expect(cli).toMatchObject({ code: 1 });
  });

  it("fails a part bundle whose seal line was removed: a sealed event does not become unsealed; counts are compared", async () => {
    const cut = join(dir, "cut");
    await cp(genuine, cut, { recursive: true });
    const sealLines = (await readFile(join(cut, "seals.jsonl"), "utf8")).split("\n").filter(Boolean);
    expect(sealLines).toHaveLength(2);
    await writeFile(join(cut, "seals.jsonl"), `${sealLines[1]}\n`);
    const signed = await verifyBundle(cut, { trustedKeys: f.keys });
    expect(signed).toMatchObject({ ok: false, trust: "failed" });
    expect(signed.failures.map((x) => x.kind)).toEqual(expect.arrayContaining(["seal-missing", "count-mismatch", "file-altered"]));

    // Even with the manifest recomputed (unsigned), the remaining seal's predecessor says block 0 was sealed.
    await remanifest(cut);
    const self = await verifyBundle(cut, { acceptSelfAttested: true });
    expect(self).toMatchObject({ ok: false, failure: { kind: "seal-missing" } });
    expect(self.failures.map((x) => x.kind)).not.toContain("count-mismatch");
  });
});
