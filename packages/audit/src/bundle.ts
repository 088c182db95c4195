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
import { parsePosition, START, type EventStore, type StoredEvent } from "@shenguan/eventstore";
import {
  canonicalBytes,
  chainLinkOf,
  evidenceOf,
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
import { readSeals, ringWithBus, type AuditKeys } from "./evidence.js";
import { keysFromJson, keysToJson } from "./keys.js";
import { readSubject } from "./subject.js";

export const BUNDLE_FORMAT = "shenguan-audit-bundle/1";
export const BUNDLE_FILES = ["events.jsonl", "events.sm3", "seals.jsonl", "keys.json"] as const;

export type BundleScope = { readonly kind: "case"; readonly id: string } | { readonly kind: "subject"; readonly id: string } | { readonly kind: "all" };

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
        return (position.commit > first.commit || (position.commit === first.commit && position.prepare >= first.prepare)) &&
          (position.commit < last.commit || (position.commit === last.commit && position.prepare <= last.prepare));
      });
      if (at >= 0) covering.add(at);
    }
    for (const at of [...covering].sort((a, b) => a - b)) {
      const seal = seals[at]!;
      const after = at === 0 ? START : parsePosition(seals[at - 1]!.lastPosition);
      const block = await store.readAll({ after, maxCount: seal.count });
      const leaves = block.map((e) => ({ position: eventJson(e).position, hash: chainLinkOf(e)?.hash ?? "" }));
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
  | "seal-leaf-mismatch";

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

export interface BundleVerification {
  readonly ok: boolean;
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
  /** Trusted bus keys (e.g. from another channel); the bundle's own keys.json is used otherwise. */
  readonly trustedKeys?: AuditKeys;
  /** Refuse a bundle whose manifest is not signed. */
  readonly requireSignature?: boolean;
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

/** Verifies a bundle offline: manifest (signature, file hashes), each line, then chains, signatures and seals. */
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

  const raw: Record<string, Buffer> = {};
  for (const name of BUNDLE_FILES) {
    try {
      raw[name] = await readFile(join(dir, name));
    } catch {
      raw[name] = Buffer.alloc(0);
      failures.push({ kind: "file-altered", file: name, message: `${name} is missing` });
    }
  }
  let keys: AuditKeys;
  try {
    keys = keysFromJson(JSON.parse(raw["keys.json"]!.toString("utf8")), `${dir}/keys.json`);
  } catch (cause) {
    throw new BundleError(`${dir}/keys.json is not readable`, { cause });
  }
  const busKeys = options.trustedKeys?.bus ?? keys.bus;

  // The manifest: signed by the bus, and every file as it says.
  const { signature, ...body } = manifest;
  if (signature === undefined) {
    if (options.requireSignature) failures.push({ kind: "manifest-unsigned", file: "manifest.json", message: "manifest.json is not signed" });
  } else {
    const parsed = parseSignature(signature);
    const key = parsed ? busKeys.get(parsed.keyId)?.key : undefined;
    const good = parsed !== undefined && key !== undefined && key.verify(canonicalBytes(body), Buffer.from(parsed.sig, "base64"));
    if (!good) failures.push({ kind: "manifest-signature", file: "manifest.json", message: `manifest.json: signature by key ${signature.keyId} does not verify with the bus keys` });
  }
  for (const name of BUNDLE_FILES) {
    const expected = manifest.files?.[name];
    const bytes = raw[name]!;
    const actual = sm3hex(bytes);
    if (expected?.sm3 !== actual || expected.bytes !== bytes.length) {
      failures.push({ kind: "file-altered", file: name, message: `${name}: SM3 ${actual} (${bytes.length} bytes), the manifest says ${expected?.sm3 ?? "nothing"} (${expected?.bytes ?? "?"} bytes)` });
    }
  }

  // Each line against its hash: names the event a changed byte is in.
  const text = raw["events.jsonl"]!.toString("utf8");
  const lines = text.length === 0 ? [] : text.replace(/\n$/, "").split("\n");
  const lineHashes = raw["events.sm3"]!.toString("utf8").split("\n").filter(Boolean);
  const events: ReturnType<typeof eventOf>[] = [];
  if (lineHashes.length !== lines.length) {
    failures.push({ kind: "line-count", file: "events.jsonl", message: `events.jsonl has ${lines.length} lines, events.sm3 lists ${lineHashes.length}` });
  }
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (lineHashes[i] !== undefined && sm3hex(line) !== lineHashes[i]) {
      const id = idIn(line);
      failures.push({ kind: "line-altered", file: "events.jsonl", line: i + 1, ...(id ? { eventId: id } : {}), message: `events.jsonl line ${i + 1}${id ? ` (event ${id})` : ""} is not the line that was exported` });
    }
    try {
      events.push(eventOf(JSON.parse(line) as EventJson));
    } catch {
      const id = idIn(line);
      failures.push({ kind: "malformed-line", file: "events.jsonl", line: i + 1, ...(id ? { eventId: id } : {}), message: `events.jsonl line ${i + 1}${id ? ` (event ${id})` : ""} is not an event` });
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
    for (const entry of sealEntries) {
      const seal = parseSeal(entry.seal);
      const leaves = entry.leaves ?? [];
      const check = verifySeal(entry.seal, {
        keys: busKeys,
        leaves: leaves.map((l) => l.hash),
        ...(entry.previous !== undefined ? { previous: parseSeal(entry.previous) ?? null } : {}),
        ...(leaves.length > 0 ? { positions: { first: leaves[0]!.position, last: leaves[leaves.length - 1]!.position } } : {}),
      });
      if (!check.ok || seal === undefined) {
        failures.push({ kind: check.ok ? "seal-sequence" : check.failure.kind, file: "seals.jsonl", message: check.ok ? "malformed seal" : check.failure.message });
        continue;
      }
      for (const l of leaves) leafAt.set(l.position, l.hash);
      sealsOk++;
    }
    // Each sealed event is the leaf its seal holds at its position.
    for (const event of events) {
      const position = `${event.position.commit}/${event.position.prepare}`;
      const leaf = leafAt.get(position);
      const hash = chainLinkOf(event)?.hash;
      if (leaf !== undefined && leaf !== hash) {
        failures.push({
          kind: "seal-leaf-mismatch",
          eventId: event.id,
          stream: event.stream,
          revision: event.revision.toString(),
          position,
          message: `event ${event.id} (${event.stream}@${event.revision}): chain hash ${hash ?? "none"} is not the sealed leaf ${leaf} at ${position}`,
        });
        break;
      }
    }
  }
  if (manifest.counts?.events !== events.length) {
    failures.push({ kind: "line-count", file: "manifest.json", message: `the manifest counts ${String(manifest.counts?.events)} events, events.jsonl holds ${events.length}` });
  }

  // Most telling first: a named line, then what its change broke, then file-level findings.
  const rank = (f: BundleFailure) => (f.kind === "line-altered" || f.kind === "malformed-line" ? 0 : f.eventId ? 1 : f.kind === "file-altered" ? 3 : 2);
  const ordered = [...failures].sort((a, b) => rank(a) - rank(b));
  return {
    ok: ordered.length === 0,
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
