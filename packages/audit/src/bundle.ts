/**
 * Export bundles: a directory an auditor takes to another machine and
 * verifies there with no database and nothing but this tool.
 *
 *   events.jsonl   the stored events with their evidence, one JSON per line, log order (bigints as strings)
 *   events.sm3     the SM3 of each line of events.jsonl: names the event a changed byte is in
 *   seals.jsonl    the bus's seals covering the events; for a case or subject, each with its block's leaves
 *   keys.json      public keys of the signing departments and of the bus
 *   manifest.json  SM3 and size of each file, counts, scope, creation time; signed by the bus key when given
 *
 * Any changed byte fails verification: the file hashes in the manifest catch
 * it, the line hashes name the event, and the chains, signatures and seals say
 * what the change broke.
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { once } from "node:events";
import { ShenguanError } from "@shenguan/contracts";
import { comparePositions, formatPosition, parsePosition, type EventStore, type LogPosition, type StoredEvent } from "@shenguan/eventstore";
import {
  canonicalBytes,
  chainLinkOf,
  evidenceOf,
  KeyRing,
  parseSeal,
  parseSignature,
  signBytes,
  verifyChain,
  verifyLog,
  verifySeal,
  type EvidenceFailure,
  type Seal,
  type Signer,
  type VerifyProgress,
} from "@shenguan/evidence";
import { byPosition, eventJson, readLog, toJsonText, type EventJson } from "./events.js";
import { readBlockLeaves, readSeals, ringWithBus, type AuditKeys } from "./evidence.js";
import { keysFromJson, keysToJson, type KeysJson } from "./keys.js";
import { readSubject } from "./subject.js";

export const BUNDLE_FORMAT = "shenguan-audit-bundle/1";
export const BUNDLE_FILES = ["events.jsonl", "events.sm3", "seals.jsonl", "keys.json"] as const;

export type BundleScope =
  { readonly kind: "case"; readonly id: string } | { readonly kind: "subject"; readonly id: string } | { readonly kind: "all" };

export interface Manifest {
  readonly format: typeof BUNDLE_FORMAT;
  readonly scope: BundleScope;
  readonly createdAt: string;
  readonly counts: { readonly events: number; readonly streams: number; readonly seals: number; readonly keys: number };
  readonly files: Readonly<Record<string, { readonly sm3: string; readonly bytes: number }>>;
  /** The bus's signature over the canonical JSON (RFC 8785) of the manifest without this member. */
  readonly signature?: { readonly alg: string; readonly keyId: string; readonly sig: string };
}

/** A bundle that cannot be read at all (no manifest, unreadable keys). */
export class BundleError extends ShenguanError {
  readonly code = "audit.bundle";
}

const sm3hex = (bytes: string | Uint8Array) => createHash("sm3").update(bytes).digest("hex");

/** A writer that hashes what it writes. */
class HashedFile {
  private readonly out;
  private readonly hash = createHash("sm3");
  bytes = 0;
  constructor(path: string) {
    this.out = createWriteStream(path);
  }
  async write(text: string): Promise<void> {
    const buffer = Buffer.from(text, "utf8");
    this.hash.update(buffer);
    this.bytes += buffer.length;
    if (!this.out.write(buffer)) await once(this.out, "drain");
  }
  async close(): Promise<{ sm3: string; bytes: number }> {
    this.out.end();
    await once(this.out, "finish");
    return { sm3: this.hash.digest("hex"), bytes: this.bytes };
  }
}

export interface ExportOptions {
  readonly scope: BundleScope;
  readonly keys: AuditKeys;
  /** The bus key, to sign the manifest. */
  readonly signer?: Signer;
  readonly now?: Date;
}

export interface ExportResult {
  readonly dir: string;
  readonly manifest: Manifest;
  readonly elapsedMs: number;
  readonly bytes: number;
}

/** The events of a scope: whole streams (chains need every revision), in log order. */
async function* scopeEvents(store: EventStore, scope: BundleScope): AsyncGenerator<StoredEvent> {
  if (scope.kind === "all") {
    yield* readLog(store);
    return;
  }
  const found = scope.kind === "case" ? await store.readByCorrelationKey(scope.id) : await readSubject(store, scope.id);
  const streams = [...new Set(found.map((e) => e.stream))].sort();
  yield* byPosition((await Promise.all(streams.map((s) => store.readStream(s)))).flat());
}

/** Writes a bundle of `scope` into `dir` (created if missing). */
export async function exportBundle(store: EventStore, dir: string, options: ExportOptions): Promise<ExportResult> {
  const started = performance.now();
  await mkdir(dir, { recursive: true });
  const events = new HashedFile(join(dir, "events.jsonl"));
  const lines = new HashedFile(join(dir, "events.sm3"));
  const streams = new Set<string>();
  const signers = new Set<string>();
  const positions: StoredEvent["position"][] = [];
  let count = 0;
  for await (const event of scopeEvents(store, options.scope)) {
    const line = toJsonText(eventJson(event));
    await events.write(`${line}\n`);
    await lines.write(`${sm3hex(line)}\n`);
    streams.add(event.stream);
    const signature = parseSignature((evidenceOf(event) as { signature?: unknown } | undefined)?.signature);
    if (signature) signers.add(signature.keyId);
    if (options.scope.kind !== "all") positions.push(event.position);
    count++;
  }

  // Seals: all of them for the whole log; for a part, those covering its events, each with its block's leaves.
  const sealFile = new HashedFile(join(dir, "seals.jsonl"));
  const rawSeals = await readSeals(store);
  const seals = rawSeals.map((raw) => parseSeal(raw)).filter((s): s is Seal => s !== undefined);
  let sealCount = 0;
  if (options.scope.kind === "all") {
    for (const raw of rawSeals) await sealFile.write(`${toJsonText({ seal: raw })}\n`);
    sealCount = rawSeals.length;
  } else {
    const covering = new Set<number>();
    for (const position of positions) {
      const at = seals.findIndex((s) => {
        const first = parsePosition(s.firstPosition);
        const last = parsePosition(s.lastPosition);
        return (
          (position.commit > first.commit || (position.commit === first.commit && position.prepare >= first.prepare)) &&
          (position.commit < last.commit || (position.commit === last.commit && position.prepare <= last.prepare))
        );
      });
      if (at >= 0) covering.add(at);
    }
    // The leaves as the sealer hashed them: every position in the seal's range that has a chain link. Events
    // without one (appended around the evidence layer) sit inside or between blocks but are no leaves, so a
    // block is its range, not `count` events after the previous seal.
    const ats = [...covering].sort((a, b) => a - b);
    const leavesOf = await readBlockLeaves(store, seals, ats);
    for (const at of ats) {
      const seal = seals[at]!;
      const leaves = (leavesOf.get(at) ?? []).filter((l): l is { position: string; hash: string } => l.hash !== undefined);
      const previous = at === 0 ? null : seals[at - 1]!;
      await sealFile.write(`${toJsonText({ seal, previous, leaves })}\n`);
      sealCount++;
    }
  }

  const keysJson = keysToJson(options.keys);
  const usedKeys = { departments: keysJson.departments.filter((k) => signers.has(k.keyId)), bus: keysJson.bus };
  const keysText = `${JSON.stringify(usedKeys, null, 2)}\n`;
  const keyFile = new HashedFile(join(dir, "keys.json"));
  await keyFile.write(keysText);

  const files = {
    "events.jsonl": await events.close(),
    "events.sm3": await lines.close(),
    "seals.jsonl": await sealFile.close(),
    "keys.json": await keyFile.close(),
  };
  const body: Manifest = {
    format: BUNDLE_FORMAT,
    scope: options.scope,
    createdAt: (options.now ?? new Date()).toISOString(),
    counts: { events: count, streams: streams.size, seals: sealCount, keys: usedKeys.departments.length + usedKeys.bus.length },
    files,
  };
  const manifest: Manifest = options.signer ? { ...body, signature: signBytes(canonicalBytes(body), options.signer) } : body;
  const manifestFile = new HashedFile(join(dir, "manifest.json"));
  await manifestFile.write(`${JSON.stringify(manifest, null, 2)}\n`);
  const written = await manifestFile.close();
  const bytes = Object.values(files).reduce((n, f) => n + f.bytes, written.bytes);
  return { dir, manifest, elapsedMs: performance.now() - started, bytes };
}

// ───────────────────────────── verification ─────────────────────────────

export type BundleFailureKind =
  | EvidenceFailure["kind"]
  | "manifest-signature"
  | "manifest-unsigned"
  | "file-altered"
  | "line-altered"
  | "malformed-line"
  | "line-count"
  | "count-mismatch"
  | "keys-file"
  | "seal-leaf-mismatch"
  | "seal-missing";

export interface BundleFailure {
  readonly kind: BundleFailureKind;
  readonly message: string;
  readonly file?: string;
  /** 1-based line in events.jsonl. */
  readonly line?: number;
  readonly eventId?: string;
  readonly stream?: string;
  readonly revision?: string;
  readonly position?: string;
}

/**
 * How far a bundle can be believed.
 * - `verified`: everything checks out, and the manifest is signed by a bus key the verifier trusts from
 *   outside the bundle (trusted keys, or a bus key id obtained out of band). The manifest holds the SM3 of
 *   every file, so the bus vouches for the events, the seals and the keys in keys.json.
 * - `self-consistent`: everything checks out, but only against keys that came with the bundle (or the
 *   manifest is unsigned). Whoever made the bundle chose those keys: a forger who rewrote events, put their
 *   own keys in keys.json, recomputed every hash and dropped the manifest signature gets this too.
 * - `failed`: something does not check out (see `failures`).
 */
export type BundleTrust = "verified" | "self-consistent" | "failed";

export interface BundleVerification {
  /** `trust` is `verified`, or `self-consistent` and the caller accepted that (`acceptSelfAttested`). */
  readonly ok: boolean;
  readonly trust: BundleTrust;
  /** Why `trust` is what it is: which key anchored the manifest, or what was missing. */
  readonly trustReason: string;
  readonly dir: string;
  readonly scope: BundleScope | null;
  readonly events: number;
  readonly seals: number;
  readonly signatures: number;
  readonly signed: boolean;
  /** Every problem found, most telling first (a changed line, then what it broke). */
  readonly failures: readonly BundleFailure[];
  readonly failure?: BundleFailure;
  readonly elapsedMs: number;
}

export interface VerifyBundleOptions {
  /**
   * Keys the verifier trusts, from outside the bundle (e.g. `--keys`, `--keys-dir`): the bus keys check the
   * manifest and the seals, the department keys the events' signatures. The bundle's keys.json is not used.
   * Every entry must name its owner.
   */
  readonly trustedKeys?: AuditKeys;
  /**
   * The id of the bus key, obtained out of band. Only the bus key with this id (from `trustedKeys`, else
   * from keys.json) checks the manifest and the seals; a manifest it signed vouches for keys.json.
   */
  readonly busKeyId?: string;
  /** Refuse a bundle whose manifest is not signed. */
  readonly requireSignature?: boolean;
  /** Let `ok` be true for a bundle that is only self-consistent (checked against its own keys). */
  readonly acceptSelfAttested?: boolean;
  readonly workers?: number;
  readonly onProgress?: (progress: VerifyProgress) => void;
}

function idIn(line: string): string | undefined {
  return /"id":"([^"]*)"/.exec(line)?.[1];
}

function eventOf(json: EventJson): StoredEvent & { position: ReturnType<typeof parsePosition> } {
  return {
    id: json.id,
    type: json.type,
    stream: json.stream,
    revision: BigInt(json.revision),
    position: parsePosition(json.position),
    time: new Date(json.time),
    data: json.data,
    metadata: json.metadata as unknown as StoredEvent["metadata"],
  };
}

function where(failure: EvidenceFailure): Omit<BundleFailure, "kind" | "message"> {
  return {
    ...(failure.eventId ? { eventId: failure.eventId } : {}),
    ...(failure.stream ? { stream: failure.stream } : {}),
    ...(failure.revision ? { revision: failure.revision } : {}),
    ...(failure.position ? { position: failure.position } : {}),
  };
}

/** Trusted keys must say whose they are: an entry without an owner skips the signer-is-the-event's-department check. */
function assertOwned(keys: AuditKeys): void {
  for (const [field, ring] of [
    ["departments", keys.departments],
    ["bus", keys.bus],
  ] as const) {
    for (const entry of ring) {
      if (entry.owner === undefined)
        throw new BundleError(
          `trusted ${field} key ${entry.key.keyId} has no owner: every trusted key must name the department it signs for`,
        );
    }
  }
}

const within = (p: LogPosition, first: LogPosition, last: LogPosition) => comparePositions(p, first) >= 0 && comparePositions(p, last) <= 0;

/** Verifies a bundle offline: manifest (signature, file hashes, counts), each line, then chains, signatures and seals. */
export async function verifyBundle(dir: string, options: VerifyBundleOptions = {}): Promise<BundleVerification> {
  const started = performance.now();
  const failures: BundleFailure[] = [];
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as Manifest;
  } catch (cause) {
    throw new BundleError(`${dir}: no readable manifest.json`, { cause });
  }
  if (manifest?.format !== BUNDLE_FORMAT) throw new BundleError(`${dir}/manifest.json: format is not ${BUNDLE_FORMAT}`);
  if (options.trustedKeys) assertOwned(options.trustedKeys);

  const raw: Record<string, Buffer> = {};
  for (const name of BUNDLE_FILES) {
    try {
      raw[name] = await readFile(join(dir, name));
    } catch {
      raw[name] = Buffer.alloc(0);
      failures.push({ kind: "file-altered", file: name, message: `${name} is missing` });
    }
  }
  // The bundle's own keys: a claim of whoever made the bundle, to be used only when nothing trusted replaces them.
  let bundleKeys: AuditKeys | undefined;
  let bundleKeyCount: number | undefined;
  try {
    const json = JSON.parse(raw["keys.json"]!.toString("utf8")) as Partial<KeysJson>;
    bundleKeys = keysFromJson(json, `${dir}/keys.json`);
    bundleKeyCount = (json.departments?.length ?? 0) + (json.bus?.length ?? 0);
  } catch (cause) {
    failures.push({
      kind: "keys-file",
      file: "keys.json",
      message: `keys.json is not readable as keys: ${cause instanceof Error ? cause.message : String(cause)}`,
    });
  }
  const source = options.trustedKeys ?? bundleKeys ?? { departments: new KeyRing(), bus: new KeyRing() };
  const anchor =
    options.busKeyId !== undefined
      ? `bus key ${options.busKeyId} given by the verifier`
      : options.trustedKeys !== undefined
        ? "the verifier's trusted keys"
        : undefined;
  // Only the named bus key, when one was named: the manifest signed by any other does not count.
  const busEntry = options.busKeyId === undefined ? undefined : source.bus.get(options.busKeyId);
  const busKeys = options.busKeyId === undefined ? source.bus : new KeyRing(busEntry ? [busEntry] : []);
  const keys: AuditKeys = { departments: source.departments, bus: busKeys };

  // The manifest: signed by the bus, and every file as it says.
  const { signature, ...body } = manifest;
  let signedBy: string | undefined;
  if (signature === undefined) {
    if (options.requireSignature)
      failures.push({ kind: "manifest-unsigned", file: "manifest.json", message: "manifest.json is not signed" });
  } else {
    const parsed = parseSignature(signature);
    const key = parsed ? busKeys.get(parsed.keyId)?.key : undefined;
    const good = parsed !== undefined && key !== undefined && key.verify(canonicalBytes(body), Buffer.from(parsed.sig, "base64"));
    if (good) signedBy = parsed.keyId;
    else
      failures.push({
        kind: "manifest-signature",
        file: "manifest.json",
        message: `manifest.json: signature by key ${signature.keyId} does not verify with the bus keys${anchor ? ` (${anchor})` : ""}`,
      });
  }
  for (const name of BUNDLE_FILES) {
    const expected = manifest.files?.[name];
    const bytes = raw[name]!;
    const actual = sm3hex(bytes);
    if (expected?.sm3 !== actual || expected.bytes !== bytes.length) {
      failures.push({
        kind: "file-altered",
        file: name,
        message: `${name}: SM3 ${actual} (${bytes.length} bytes), the manifest says ${expected?.sm3 ?? "nothing"} (${expected?.bytes ?? "?"} bytes)`,
      });
    }
  }

  // Each line against its hash: names the event a changed byte is in.
  const text = raw["events.jsonl"]!.toString("utf8");
  const lines = text.length === 0 ? [] : text.replace(/\n$/, "").split("\n");
  const lineHashes = raw["events.sm3"]!.toString("utf8").split("\n").filter(Boolean);
  const events: ReturnType<typeof eventOf>[] = [];
  if (lineHashes.length !== lines.length) {
    failures.push({
      kind: "line-count",
      file: "events.jsonl",
      message: `events.jsonl has ${lines.length} lines, events.sm3 lists ${lineHashes.length}`,
    });
  }
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (lineHashes[i] !== undefined && sm3hex(line) !== lineHashes[i]) {
      const id = idIn(line);
      failures.push({
        kind: "line-altered",
        file: "events.jsonl",
        line: i + 1,
        ...(id ? { eventId: id } : {}),
        message: `events.jsonl line ${i + 1}${id ? ` (event ${id})` : ""} is not the line that was exported`,
      });
    }
    try {
      events.push(eventOf(JSON.parse(line) as EventJson));
    } catch {
      const id = idIn(line);
      failures.push({
        kind: "malformed-line",
        file: "events.jsonl",
        line: i + 1,
        ...(id ? { eventId: id } : {}),
        message: `events.jsonl line ${i + 1}${id ? ` (event ${id})` : ""} is not an event`,
      });
    }
  }

  // What the change broke: chains, signatures, seals.
  const sealLines = raw["seals.jsonl"]!.toString("utf8").split("\n").filter(Boolean);
  const sealEntries: { seal: unknown; previous?: unknown; leaves?: { position: string; hash: string }[] }[] = [];
  for (const [i, l] of sealLines.entries()) {
    try {
      sealEntries.push(JSON.parse(l) as (typeof sealEntries)[number]);
    } catch {
      failures.push({ kind: "seal-sequence", file: "seals.jsonl", line: i + 1, message: `seals.jsonl line ${i + 1} is not a seal` });
    }
  }
  let sealsOk = 0;
  let signatures = 0;
  const scope = manifest.scope ?? null;
  if (scope?.kind === "all") {
    const result = await verifyLog(events, {
      keys: ringWithBus(keys),
      busKeys,
      seals: sealEntries.map((s) => s.seal),
      signatures: "all",
      ...(options.workers !== undefined ? { workers: options.workers } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    sealsOk = result.seals;
    signatures = result.signatures;
    if (result.failure) failures.push({ kind: result.failure.kind, message: result.failure.message, ...where(result.failure) });
  } else {
    // A part: whole streams in the bundle, every signature checked, each seal against its block's leaves.
    const byStream = [...events].sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : a.revision < b.revision ? -1 : 1));
    const chain = verifyChain(byStream, { keys: ringWithBus(keys) });
    signatures = chain.ok ? events.length : chain.events;
    if (chain.failure) failures.push({ kind: chain.failure.kind, message: chain.failure.message, ...where(chain.failure) });
    const leafAt = new Map<string, string>();
    // Every block the bundle shows (its seals, and the seals they follow), whether or not its seal verified.
    const blocks: { first: LogPosition; last: LogPosition; block: number; proven: boolean }[] = [];
    let sealedThrough: LogPosition | undefined;
    const sealedTo = (s: Seal) => {
      const last = parsePosition(s.lastPosition);
      if (sealedThrough === undefined || comparePositions(last, sealedThrough) > 0) sealedThrough = last;
    };
    for (const entry of sealEntries) {
      const seal = parseSeal(entry.seal);
      const previous = entry.previous === undefined || entry.previous === null ? undefined : parseSeal(entry.previous);
      const leaves = entry.leaves ?? [];
      const check = verifySeal(entry.seal, {
        keys: busKeys,
        leaves: leaves.map((l) => l.hash),
        ...(entry.previous !== undefined ? { previous: parseSeal(entry.previous) ?? null } : {}),
        ...(leaves.length > 0 ? { positions: { first: leaves[0]!.position, last: leaves[leaves.length - 1]!.position } } : {}),
      });
      if (seal !== undefined) {
        blocks.push({
          first: parsePosition(seal.firstPosition),
          last: parsePosition(seal.lastPosition),
          block: seal.block,
          proven: check.ok,
        });
        sealedTo(seal);
      }
      if (previous !== undefined) sealedTo(previous);
      if (!check.ok || seal === undefined) {
        failures.push({
          kind: check.ok ? "seal-sequence" : check.failure.kind,
          file: "seals.jsonl",
          message: check.ok ? "malformed seal" : check.failure.message,
        });
        continue;
      }
      for (const l of leaves) leafAt.set(l.position, l.hash);
      sealsOk++;
    }
    // Each sealed event is the leaf its seal holds at its position. An event the bundle's own seals say is
    // sealed (at or before the last position any of them covers: the blocks cover the log's chained events
    // without gaps) but that lies in no block of the bundle had its seal line taken out: dropping the line
    // must not turn a sealed event into one proven by its signature alone.
    let mismatch: BundleFailure | undefined;
    const missing: (typeof events)[number][] = [];
    for (const event of events) {
      const position = formatPosition(event.position);
      const hash = chainLinkOf(event)?.hash;
      const block = blocks.find((b) => within(event.position, b.first, b.last));
      if (block === undefined) {
        if (hash !== undefined && sealedThrough !== undefined && comparePositions(event.position, sealedThrough) <= 0) missing.push(event);
        continue;
      }
      // A seal that failed is reported already; its leaves prove nothing.
      if (!block.proven || mismatch !== undefined) continue;
      const leaf = leafAt.get(position);
      if (leaf === undefined || leaf !== hash) {
        mismatch = {
          kind: "seal-leaf-mismatch",
          eventId: event.id,
          stream: event.stream,
          revision: event.revision.toString(),
          position,
          message: `event ${event.id} (${event.stream}@${event.revision}): chain hash ${hash ?? "none"} is not the sealed leaf ${leaf ?? "(none)"} at ${position} in block ${block.block}`,
        };
      }
    }
    if (mismatch) failures.push(mismatch);
    const first = missing[0];
    if (first !== undefined) {
      const position = formatPosition(first.position);
      failures.push({
        kind: "seal-missing",
        eventId: first.id,
        stream: first.stream,
        revision: first.revision.toString(),
        position,
        message: `event ${first.id} (${first.stream}@${first.revision}) at ${position} is sealed (the bundle's seals run through ${formatPosition(sealedThrough!)}) but seals.jsonl has no seal for its block${missing.length > 1 ? `; ${missing.length - 1} more such events` : ""}`,
      });
    }
  }

  // The counts the manifest states (signed with it) against what the files hold: a dropped seal line shows here.
  const counted: [keyof Manifest["counts"], number | undefined, string][] = [
    ["seals", sealLines.length, "seals.jsonl"],
    ["streams", new Set(events.map((e) => e.stream)).size, "events.jsonl"],
    ["keys", bundleKeyCount, "keys.json"],
  ];
  if (manifest.counts?.events !== events.length) {
    failures.push({
      kind: "line-count",
      file: "manifest.json",
      message: `the manifest counts ${String(manifest.counts?.events)} events, events.jsonl holds ${events.length}`,
    });
  }
  for (const [what, actual, file] of counted) {
    if (actual !== undefined && manifest.counts?.[what] !== actual) {
      failures.push({
        kind: "count-mismatch",
        file: "manifest.json",
        message: `the manifest counts ${String(manifest.counts?.[what])} ${what}, ${file} holds ${actual}`,
      });
    }
  }

  // Most telling first: a named line, then what its change broke, then file-level findings.
  const rank = (f: BundleFailure) =>
    f.kind === "line-altered" || f.kind === "malformed-line" ? 0 : f.eventId ? 1 : f.kind === "file-altered" ? 3 : 2;
  const ordered = [...failures].sort((a, b) => rank(a) - rank(b));
  const trust: BundleTrust =
    ordered.length > 0 ? "failed" : anchor !== undefined && signedBy !== undefined ? "verified" : "self-consistent";
  const trustReason =
    trust === "failed"
      ? `${ordered.length} failure${ordered.length === 1 ? "" : "s"}`
      : trust === "verified"
        ? `manifest signed by bus key ${signedBy} (${anchor}); it vouches for every file's SM3`
        : anchor === undefined
          ? "checked only against the bundle's own keys.json, which whoever made the bundle chose: give trusted keys (--keys, --keys-dir) or the bus key id obtained out of band (--bus-key-id)"
          : `the manifest is not signed, so no trusted bus key (${anchor}) vouches for the bundle as a whole`;
  return {
    ok: trust === "verified" || (trust === "self-consistent" && options.acceptSelfAttested === true),
    trust,
    trustReason,
    dir,
    scope,
    events: events.length,
    seals: sealsOk,
    signatures,
    signed: signature !== undefined,
    failures: ordered,
    ...(ordered[0] ? { failure: ordered[0] } : {}),
    elapsedMs: performance.now() - started,
  };
}

/** Sizes of a bundle's files on disk. */
export async function bundleSize(dir: string): Promise<number> {
  let total = 0;
  for (const name of [...BUNDLE_FILES, "manifest.json"]) total += (await stat(join(dir, name))).size;
  return total;
}
