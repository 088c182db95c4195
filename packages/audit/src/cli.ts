/**
 * shenguan-audit: the auditor's command line over the same library as the HTTP API.
 *
 *   shenguan-audit timeline <caseId> [--verify]
 *   shenguan-audit as-of <stream> <time>
 *   shenguan-audit subject <uscc>
 *   shenguan-audit verify (--case X | --subject X | --all) [--signatures all]
 *   shenguan-audit export (--case X | --subject X | --all) <outDir> [--sign-key bus.pem]
 *   shenguan-audit verify-bundle <dir> [--bus-key-id <id>] [--accept-self-attested]   (offline: no database)
 *
 * Every command takes --json. The store comes from DATABASE_URL (--schema for a
 * PostgreSQL schema); trusted public keys from --keys <keys.json> (the format
 * of a bundle's keys.json) or --keys-dir <dir> (the bus's custody key
 * directory, e.g. .data/keys: only the public halves are used). Exit codes: 0 good, 1 verification failed, 2 bad
 * input, 3 not found or the store failed.
 */
import { readFile } from "node:fs/promises";
import { ContractViolationError, ShenguanError } from "@shenguan/contracts";
import { FileKeyStore, openEventStore, type EventStore } from "@shenguan/eventstore";
import { importSigningKey, type VerifyProgress } from "@shenguan/evidence";
import { NotFoundError } from "@shenguan/service-kit";
import cliProgress from "cli-progress";
import { Command, CommanderError, Option } from "commander";
import { asOf } from "./as-of.js";
import { exportBundle, verifyBundle, type BundleScope } from "./bundle.js";
import { toJsonText } from "./events.js";
import { verifyPart, verifyWholeLog, type AuditKeys } from "./evidence.js";
import { auditKeysOf } from "./http.js";
import { formatAsOf, formatBundleVerification, formatEvidence, formatExport, formatSubject, formatTimeline } from "./format.js";
import { invalid, parseInstant } from "./input.js";
import { keysFromJson } from "./keys.js";
import { readSubject, subjectFile } from "./subject.js";
import { caseTimeline } from "./timeline.js";

interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly isTty: boolean;
}

interface Global {
  json?: boolean;
  schema?: string;
  keys?: string;
  keysDir?: string;
}

class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** Progress on stderr: a bar on a terminal, plain lines otherwise (logs, CI). */
function progressReporter(io: Io, total: number | undefined): { update: (p: VerifyProgress) => void; stop: () => void } {
  if (io.isTty && total !== undefined) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: "验证 [{bar}] {percentage}% | {value}/{total} 事件 | {seals} 封存块 | {signatures} 签名",
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { seals: 0, signatures: 0 });
    return { update: (p) => bar.update(p.events, { seals: p.seals, signatures: p.signatures }), stop: () => bar.stop() };
  }
  return {
    update: (p) =>
      io.stderr(
        `verified ${p.events}${total !== undefined ? `/${total}` : ""} events, ${p.seals} seals, ${p.signatures} signatures, ${Math.round(p.elapsedMs)} ms`,
      ),
    stop: () => undefined,
  };
}

async function readKeys(g: Global, io: Io): Promise<AuditKeys> {
  if (g.keys !== undefined && g.keysDir !== undefined)
    invalid("--keys", "one-source", "give --keys <keys.json> or --keys-dir <dir>, not both");
  if (g.keysDir !== undefined) {
    // The bus's custody directory (FileKeyStore): every department's key, the bus's own under SHENGUAN-BUS.
    const keys = await auditKeysOf(new FileKeyStore(g.keysDir));
    if ([...keys.departments].length === 0) invalid("--keys-dir", "keys", `--keys-dir ${g.keysDir}: no <DEPARTMENT>.pem key files there`);
    return keys;
  }
  const file = g.keys ?? io.env.SHENGUAN_AUDIT_KEYS;
  if (!file)
    invalid(
      "--keys",
      "required",
      "--keys <keys.json> or --keys-dir <dir> (or SHENGUAN_AUDIT_KEYS) is required: the trusted public keys of the departments and the bus",
    );
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    invalid("--keys", "readable", `--keys ${file}: cannot read the file`);
  }
  return keysFromJson(JSON.parse(text) as unknown, file);
}

function scopeOf(o: { case?: string; subject?: string; all?: boolean }): BundleScope {
  const chosen = [o.case !== undefined, o.subject !== undefined, o.all === true].filter(Boolean).length;
  if (chosen !== 1) invalid("scope", "one-scope", "give exactly one of --case <caseId>, --subject <uscc>, --all");
  if (o.case !== undefined) return { kind: "case", id: o.case };
  if (o.subject !== undefined) return { kind: "subject", id: o.subject };
  return { kind: "all" };
}

/** Runs the CLI with `argv` (without node and the script); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  let store: { store: EventStore; close(): Promise<void> } | undefined;
  const open = async (g: Global): Promise<EventStore> => {
    if (!io.env.DATABASE_URL && !io.env.KURRENTDB_URL)
      invalid("DATABASE_URL", "required", "set DATABASE_URL (PostgreSQL) or KURRENTDB_URL to the bus's event store");
    store = await openEventStore({ env: io.env, ...(g.schema ? { schema: g.schema } : {}), poolSize: 4 });
    return store.store;
  };
  const print = (g: Global, value: unknown, human: () => string) => io.stdout(g.json ? toJsonText(value, 2) : human());

  const program = new Command("shenguan-audit")
    .description("审计: case timelines, state as of a moment, subject files (一企一档), evidence verification and verifiable export")
    .option("--json", "machine-readable output")
    .option("--schema <schema>", "PostgreSQL schema of the event store")
    .option("--keys <file>", "trusted public keys (keys.json format); default SHENGUAN_AUDIT_KEYS")
    .option("--keys-dir <dir>", "the bus's custody key directory (e.g. .data/keys): the public halves of its <DEPARTMENT>.pem files")
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s.trimEnd()), writeErr: (s) => io.stderr(s.trimEnd()) });

  program
    .command("timeline <caseId>")
    .description("every event of a case in log order, with departments, deadlines and causation")
    .option("--verify", "verify chains and seals of the case's streams (needs --keys)")
    .action(async (caseId: string, o: { verify?: boolean }) => {
      const g = program.opts<Global>();
      const keys = o.verify ? await readKeys(g, io) : undefined;
      const t = await caseTimeline(await open(g), caseId, keys ? { keys } : {});
      print(g, t, () => formatTimeline(t));
      if (t.evidence && !t.evidence.ok) throw new Exit(1);
    });

  program
    .command("as-of <stream> <time>")
    .description(
      "the state of a stream (licence case, handoff, enforcement case …) as it stood at <time>, rebuilt by its service's decider",
    )
    .action(async (stream: string, time: string) => {
      const g = program.opts<Global>();
      const at = parseInstant("time", time);
      const a = await asOf(await open(g), stream, at);
      print(g, a, () => formatAsOf(a));
    });

  program
    .command("subject <uscc>")
    .description("一企一档: licences, handoffs, inspections, commitments, penalties and credit records of one USCC")
    .action(async (uscc: string) => {
      const g = program.opts<Global>();
      const f = await subjectFile(await open(g), uscc);
      print(g, f, () => formatSubject(f));
    });

  program
    .command("verify")
    .description("verify signatures, hash chains and seals; prints the first broken link")
    .option("--case <caseId>")
    .option("--subject <uscc>")
    .option("--all", "the whole log")
    .addOption(
      new Option("--signatures <mode>", "whole log: every department signature on all cores, or only those after the last seal")
        .choices(["all", "sealed-only"])
        .default("sealed-only"),
    )
    .action(async (o: { case?: string; subject?: string; all?: boolean; signatures: "all" | "sealed-only" }) => {
      const g = program.opts<Global>();
      const scope = scopeOf(o);
      const keys = await readKeys(g, io);
      const s = await open(g);
      let report;
      if (scope.kind === "all") {
        const progress = progressReporter(io, undefined);
        try {
          report = await verifyWholeLog(s, { keys, signatures: o.signatures, onProgress: progress.update });
        } finally {
          progress.stop();
        }
      } else {
        const events = scope.kind === "case" ? await s.readByCorrelationKey(scope.id) : await readSubject(s, scope.id);
        if (events.length === 0) throw new NotFoundError(`no events for ${scope.kind} ${scope.id}`);
        report = await verifyPart(s, events, `${scope.kind} ${scope.id}`, { keys });
      }
      print(g, report, () => formatEvidence(report));
      if (!report.ok) throw new Exit(1);
    });

  program
    .command("export <outDir>")
    .description("a self-contained bundle (events.jsonl, seals, public keys, manifest) that verify-bundle checks offline")
    .option("--case <caseId>")
    .option("--subject <uscc>")
    .option("--all", "the whole log")
    .option("--sign-key <pem>", "the bus's private key (PKCS#8 PEM) to sign the manifest")
    .action(async (outDir: string, o: { case?: string; subject?: string; all?: boolean; signKey?: string }) => {
      const g = program.opts<Global>();
      const scope = scopeOf(o);
      const keys = await readKeys(g, io);
      const signer = o.signKey ? importSigningKey(await readFile(o.signKey, "utf8")) : undefined;
      const r = await exportBundle(await open(g), outDir, { scope, keys, ...(signer ? { signer } : {}) });
      print(g, r, () => formatExport(r));
    });

  program
    .command("verify-bundle <dir>")
    .description("verify an export bundle offline: any changed byte fails, naming the event it is in")
    .option("--bus-key-id <keyId>", "the bus key's id, obtained out of band: the manifest must be signed by that key")
    .option("--require-signature", "refuse a bundle whose manifest is not signed by the bus")
    .option("--accept-self-attested", "exit 0 for a bundle that checks out only against its own keys.json (no trusted bus key signed it)")
    .action(async (dir: string, o: { busKeyId?: string; requireSignature?: boolean; acceptSelfAttested?: boolean }) => {
      const g = program.opts<Global>();
      // Trusted keys only from outside the bundle; without them (or --bus-key-id) the result is self-consistent at best.
      const trusted = g.keys !== undefined || g.keysDir !== undefined || io.env.SHENGUAN_AUDIT_KEYS ? await readKeys(g, io) : undefined;
      const progress = progressReporter(io, undefined);
      let v;
      try {
        v = await verifyBundle(dir, {
          ...(trusted ? { trustedKeys: trusted } : {}),
          ...(o.busKeyId !== undefined ? { busKeyId: o.busKeyId } : {}),
          requireSignature: o.requireSignature === true,
          acceptSelfAttested: o.acceptSelfAttested === true,
          onProgress: progress.update,
        });
      } finally {
        progress.stop();
      }
      print(g, v, () => formatBundleVerification(v));
      if (v.trust === "self-consistent") {
        io.stderr(
          v.ok
            ? `shenguan-audit: accepted as self-attested only (--accept-self-attested): ${v.trustReason}`
            : `shenguan-audit: not verified: ${v.trustReason}; pass --accept-self-attested to accept that`,
        );
      }
      if (!v.ok) throw new Exit(1);
    });

  try {
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof Exit) return err.code;
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof ContractViolationError) {
      io.stderr(`shenguan-audit: ${err.issues.map((i) => `${i.path}: ${i.message} [${i.rule}]`).join("; ")}`);
      return 2;
    }
    if (err instanceof NotFoundError) {
      io.stderr(`shenguan-audit: ${err.message}`);
      return 3;
    }
    io.stderr(
      `shenguan-audit: ${err instanceof ShenguanError ? `${err.message} [${err.code}]` : err instanceof Error ? err.message : String(err)}`,
    );
    return 3;
  } finally {
    await store?.close().catch(() => undefined);
  }
}

const isMain = process.argv[1] !== undefined && /cli\.(ts|js)$|shenguan-audit(\.js)?$/.test(process.argv[1]);
if (isMain) {
  const code = await runCli(process.argv.slice(2), {
    stdout: (t) => process.stdout.write(`${t}\n`),
    stderr: (t) => process.stderr.write(`${t}\n`),
    env: process.env,
    isTty: process.stderr.isTTY === true,
  });
  process.exitCode = code;
}
