/**
 * A real PostgreSQL store (fresh schema) holding events with evidence as the
 * EvidenceStore writes them: the store's time in the signed bytes, each event
 * signed by its department's key and linked in its stream's SM3 chain, and
 * the bus's LogSealed events in `shenguan-seals` covering blocks of the log.
 */
import { randomUUID } from "node:crypto";
import { openEventStore, type EventStore, type OpenedEventStore, type StoredEvent } from "@shenguan/eventstore";
import {
  chainLinkOf,
  generateSigningKey,
  KeyRing,
  linkEvent,
  sealBlock,
  signEvent,
  withEvidence,
  GENESIS_HASH,
  type Seal,
  type SigningKey,
} from "@shenguan/evidence";
import { databaseUrl } from "@shenguan/tests/harness/services";
import pg from "pg";
import type { AuditKeys } from "../src/index.js";

export const BUS = "SHENGUAN-BUS";

export interface Fixture {
  readonly store: EventStore;
  readonly opened: OpenedEventStore;
  readonly schema: string;
  readonly url: string;
  readonly keys: AuditKeys;
  readonly signers: Map<string, SigningKey>;
  readonly bus: SigningKey;
  append(stream: string, events: readonly FixtureEvent[]): Promise<void>;
  /** Seals everything after the last seal as one block (LogSealed appended to shenguan-seals). */
  seal(): Promise<Seal | undefined>;
  close(): Promise<void>;
}

export interface FixtureEvent {
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly department: string;
  readonly caseId?: string;
  readonly subject?: string;
  readonly causationId?: string | null;
  readonly time: Date;
  readonly id?: string;
}

export async function openFixture(name: string, departments: readonly string[]): Promise<Fixture> {
  const url = await databaseUrl();
  const schema = `audit_${name}_${randomUUID().replaceAll("-", "").slice(0, 8)}`;
  const opened = await openEventStore({ url, schema, poolSize: 4 });
  const store = opened.store;
  const signers = new Map(departments.map((d) => [d, generateSigningKey("SM2-SM3")]));
  const bus = generateSigningKey("SM2-SM3");
  const ring = new KeyRing();
  for (const [d, k] of signers) ring.add(k.publicKey, d);
  const keys: AuditKeys = { departments: ring, bus: new KeyRing([{ key: bus.publicKey, owner: BUS }]) };
  const heads = new Map<string, { revision: bigint; hash: string }>();
  let lastSeal: Seal | null = null;
  let sealedUpTo: StoredEvent["position"] | undefined;

  const append = async (stream: string, events: readonly FixtureEvent[]) => {
    let head = heads.get(stream);
    const prepared = events.map((e) => {
      const revision = head === undefined ? 0n : head.revision + 1n;
      const metadata = {
        correlationId: randomUUID(),
        causationId: e.causationId ?? null,
        department: e.department,
        ...(e.caseId ? { caseId: e.caseId } : {}),
        ...(e.subject ? { subject: e.subject } : {}),
      };
      const bare = { id: e.id ?? randomUUID(), type: e.type, stream, revision, time: e.time, data: e.data, metadata };
      const key = e.department === BUS ? bus : signers.get(e.department);
      if (!key) throw new Error(`no key for ${e.department}`);
      const signed = withEvidence(bare, { signature: signEvent(bare, key) });
      const chain = linkEvent(signed, head?.hash ?? GENESIS_HASH);
      head = { revision, hash: chain.hash };
      return withEvidence(signed, { chain });
    });
    const expected = heads.get(stream)?.revision ?? "no_stream";
    await store.append(
      stream,
      prepared.map((p) => ({ id: p.id, type: p.type, data: p.data, time: p.time, metadata: p.metadata })),
      expected,
    );
    heads.set(stream, head!);
  };

  return {
    store,
    opened,
    schema,
    url,
    keys,
    signers,
    bus,
    append,
    async seal() {
      const pending = await store.readAll(sealedUpTo ? { after: sealedUpTo } : {});
      if (pending.length === 0) return undefined;
      const seal = sealBlock(
        { block: lastSeal === null ? 0 : lastSeal.block + 1, prev: lastSeal, entries: pending.map((e) => ({ position: e.position, hash: chainLinkOf(e)!.hash })) },
        bus,
      );
      lastSeal = seal;
      sealedUpTo = pending[pending.length - 1]!.position;
      await append("shenguan-seals", [{ type: "LogSealed", data: seal as unknown as Record<string, unknown>, department: BUS, time: new Date(seal.time) }]);
      return seal;
    },
    async close() {
      await opened.close();
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
  return [
    {
      stream: `licence-case-${caseId}`,
      events: [
        { type: "ApplicationAccepted", department: "SPJ-350100", caseId, subject: uscc, time: t(0), data: { caseId, applicationNumber: `SL-${caseId}`, itemCode: "000105001000", itemName: "食品经营许可", applicant: holder, regionCode: "350102", acceptingAuthority: "SPJ-350100", acceptedAt: start, underCommitment: true, deficiency: null } },
        { id: grantId, type: "LicenceGranted", department: "SPJ-350100", caseId, subject: uscc, time: t(1), data: { caseId, licenceId, decisionNumber: `榕审批许〔2026〕${caseId}号`, holder, underCommitment: true, decisionDate: "2026-03-02" } },
      ],
    },
    {
      stream: `handoff-${handoffId}`,
      events: [
        { id: pushId, type: "HandoffPushed", department: "LINKAGE", caseId, subject: uscc, causationId: grantId, time: t(2), data: { handoffId, caseId, licenceId, holderName: holder.name, holderUscc: uscc, regulator: "SCJG-350100", pushedAt: start + 120_000, claimDue: "2026-03-09", autoClaimed: false, underCommitment: true, verificationDue: "2026-06-02" } },
      ],
    },
    {
      stream: `supervision-${handoffId}`,
      events: [
        { type: "HandoffReceived", department: "SCJG-350100", caseId, subject: uscc, causationId: pushId, time: t(3), data: { handoffId, caseId, licenceId, holderName: holder.name, holderUscc: uscc, regulator: "SCJG-350100", pushedAt: start + 120_000, claimDue: "2026-03-09", autoClaimed: false, underCommitment: true, verificationDue: "2026-06-02" } },
        { type: "HandoffClaimed", department: "SCJG-350100", caseId, subject: uscc, time: t(4), data: { handoffId, licenceId, regulator: "SCJG-350100", claimedAt: start + 240_000, claimDue: "2026-03-09", onTime: true, automatic: false } },
        { type: "InspectionRecorded", department: "SCJG-350100", caseId, subject: uscc, time: t(5), data: { inspectionId: `I-${caseId}`, licenceId, caseId, holderUscc: uscc, regulator: "SCJG-350100", inspectionDate: "2026-03-03", method: "RANDOM", result: "COMPLIANT", findings: "经营场所与许可一致", handling: "无", rectificationDue: null } },
      ],
    },
  ];
}
