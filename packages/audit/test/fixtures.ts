/**
 * A real PostgreSQL store (fresh schema) behind the real evidence layer of
 * @shenguan/eventstore: an EvidenceStore signing each department's events
 * with its custody key (a FileKeyStore in a temporary directory, as the bus
 * keeps .data/keys) and linking each stream's SM3 chain, and a LogSealer
 * appending the bus's LogSealed events to `shenguan-seals`. The store's
 * clock is the fixture's: each event is appended at the time it names, so
 * deadlines and as-of queries see the times the tests chose.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  comparePositions,
  EvidenceStore,
  FileKeyStore,
  LogSealer,
  openEventStore,
  parsePosition,
  type LogPosition,
  type OpenedEventStore,
} from "@shenguan/eventstore";
import type { Seal, Signer } from "@shenguan/evidence";
import { databaseUrl } from "@shenguan/tests/harness/services";
import pg from "pg";
import { auditKeysOf, type AuditKeys } from "../src/index.js";

export const BUS = "SHENGUAN-BUS";

export interface Fixture {
  /** The EvidenceStore: what the services append through and the auditor reads. */
  readonly store: EvidenceStore;
  readonly opened: OpenedEventStore;
  readonly schema: string;
  readonly url: string;
  /** The custody key directory (FileKeyStore), what `--keys-dir` reads. */
  readonly keysDir: string;
  readonly keys: AuditKeys;
  /** The bus's custody signer (seals, and an export's manifest). */
  readonly bus: Signer;
  append(stream: string, events: readonly FixtureEvent[]): Promise<void>;
  /** Seals everything appended so far (LogSealer.flush: LogSealed appended to shenguan-seals). */
  seal(): Promise<Seal[]>;
  /** Resolves once the global log shows everything appended (readers hold back while older transactions run). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export interface FixtureEvent {
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly department: string;
  readonly caseId?: string;
  readonly subject?: string;
  readonly causationId?: string | null;
  /** The store's time for the event; consecutive events with the same time go in one append. */
  readonly time: Date;
  readonly id?: string;
}

/** Polls a condition (not a clock): the global log is held back by other sessions' open transactions. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export async function openFixture(name: string, departments: readonly string[]): Promise<Fixture> {
  const url = await databaseUrl();
  const schema = `audit_${name}_${randomUUID().replaceAll("-", "").slice(0, 8)}`;
  const keysDir = await mkdtemp(join(tmpdir(), "shenguan-audit-keys-"));
  const opened = await openEventStore({ url, schema, poolSize: 4 });
  const custody = new FileKeyStore(keysDir);
  for (const d of [...departments, BUS]) await custody.ensure(d, "SM2-SM3");
  let now = new Date("2026-03-02T00:00:00Z");
  const store = new EvidenceStore(opened.store, { keys: custody, clock: () => now });
  // Blocks are cut only by seal(): never by size (10 000 is more than any test appends) nor by delay.
  const sealer = new LogSealer({ store, blockSize: 10_000, maxDelayMs: Number.MAX_SAFE_INTEGER, clock: () => now });
  await sealer.start();
  const keys = await auditKeysOf(custody, BUS);
  const bus = (await custody.signerFor(BUS))!;
  let appendedThrough: LogPosition | undefined;

  const append = async (stream: string, events: readonly FixtureEvent[]) => {
    for (let i = 0; i < events.length;) {
      const time = events[i]!.time.getTime();
      let j = i;
      while (j < events.length && events[j]!.time.getTime() === time) j++;
      now = new Date(time);
      const result = await store.append(
        stream,
        events.slice(i, j).map((e) => ({
          ...(e.id ? { id: e.id } : {}),
          type: e.type,
          data: e.data,
          metadata: {
            correlationId: randomUUID(),
            causationId: e.causationId ?? null,
            department: e.department,
            ...(e.caseId ? { caseId: e.caseId } : {}),
            ...(e.subject ? { subject: e.subject } : {}),
          },
        })),
        "any",
      );
      if (appendedThrough === undefined || comparePositions(result.position, appendedThrough) > 0) appendedThrough = result.position;
      i = j;
    }
  };

  const settled = async () => {
    const through = appendedThrough;
    if (through === undefined) return;
    await until("the log to show every appended event", async () => {
      const [last] = await opened.store.readAll({ after: { commit: through.commit, prepare: through.prepare - 1n }, maxCount: 1 });
      return last !== undefined;
    });
  };

  return {
    store,
    opened,
    schema,
    url,
    keysDir,
    keys,
    bus,
    append,
    settled,
    async seal() {
      await settled();
      const seals = await sealer.flush();
      const through = sealer.metrics().sealedThrough;
      if (through === undefined || (appendedThrough !== undefined && comparePositions(parsePosition(through), appendedThrough) < 0)) {
        throw new Error(`the sealer sealed through ${through ?? "nothing"}, not every appended event`);
      }
      // The seal events themselves are appended too: later reads must see them.
      const last = await store.readStream("shenguan-seals", { direction: "backwards", maxCount: 1 });
      if (last[0] !== undefined && (appendedThrough === undefined || comparePositions(last[0].position, appendedThrough) > 0))
        appendedThrough = last[0].position;
      return seals;
    },
    async close() {
      await sealer.stop();
      await opened.close();
      await rm(keysDir, { recursive: true, force: true });
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await client.end();
      }
    },
  };
}

/** A small licence case across departments: accepted, granted, pushed, claimed, inspected. */
export function scriptedCase(caseId: string, uscc: string, start: number): { stream: string; events: FixtureEvent[] }[] {
  const t = (minutes: number) => new Date(start + minutes * 60_000);
  const licenceId = `JY-${caseId}`;
  const handoffId = `H-${licenceId}`;
  const grantId = randomUUID();
  const pushId = randomUUID();
  const holder = { name: "福州台江示范食品有限公司", uscc, idNumber: null };
  // What linkage pushed and the regulator received: the same handoff.
  const pushed = {
    handoffId,
    caseId,
    licenceId,
    holderName: holder.name,
    holderUscc: uscc,
    regulator: "SCJG-350100",
    pushedAt: start + 120_000,
    claimDue: "2026-03-09",
    autoClaimed: false,
    underCommitment: true,
    verificationDue: "2026-06-02",
  };
  return [
    {
      stream: `licence-case-${caseId}`,
      events: [
        {
          type: "ApplicationAccepted",
          department: "SPJ-350100",
          caseId,
          subject: uscc,
          time: t(0),
          data: {
            caseId,
            applicationNumber: `SL-${caseId}`,
            itemCode: "000105001000",
            itemName: "食品经营许可",
            applicant: holder,
            regionCode: "350102",
            acceptingAuthority: "SPJ-350100",
            acceptedAt: start,
            underCommitment: true,
            deficiency: null,
          },
        },
        {
          id: grantId,
          type: "LicenceGranted",
          department: "SPJ-350100",
          caseId,
          subject: uscc,
          time: t(1),
          data: {
            caseId,
            licenceId,
            decisionNumber: `榕审批许〔2026〕${caseId}号`,
            holder,
            underCommitment: true,
            decisionDate: "2026-03-02",
          },
        },
      ],
    },
    {
      stream: `handoff-${handoffId}`,
      events: [
        {
          id: pushId,
          type: "HandoffPushed",
          department: "LINKAGE",
          caseId,
          subject: uscc,
          causationId: grantId,
          time: t(2),
          data: pushed,
        },
      ],
    },
    {
      stream: `supervision-${handoffId}`,
      events: [
        {
          type: "HandoffReceived",
          department: "SCJG-350100",
          caseId,
          subject: uscc,
          causationId: pushId,
          time: t(3),
          data: pushed,
        },
        {
          type: "HandoffClaimed",
          department: "SCJG-350100",
          caseId,
          subject: uscc,
          time: t(4),
          data: {
            handoffId,
            licenceId,
            regulator: "SCJG-350100",
            claimedAt: start + 240_000,
            claimDue: "2026-03-09",
            onTime: true,
            automatic: false,
          },
        },
        {
          type: "InspectionRecorded",
          department: "SCJG-350100",
          caseId,
          subject: uscc,
          time: t(5),
          data: {
            inspectionId: `I-${caseId}`,
            licenceId,
            caseId,
            holderUscc: uscc,
            regulator: "SCJG-350100",
            inspectionDate: "2026-03-03",
            method: "RANDOM",
            result: "COMPLIANT",
            findings: "经营场所与许可一致",
            handling: "无",
            rectificationDue: null,
          },
        },
      ],
    },
  ];
}
