/**
 * A subject file (一企一档): everything the log holds about one licensee
 * (USCC): its licences, handoffs, inspections and rectifications, commitments
 * and their verification, enforcement and penalties, credit records. Events
 * are found by metadata.subject (the Kafka key every service sets to the
 * USCC) and, through the cases they belong to, by the USCC in their data.
 */
import type { EventStore, StoredEvent } from "@shenguan/eventstore";
import { NotFoundError } from "@shenguan/service-kit";
import { byPosition, eventJson, type EventJson } from "./events.js";
import { invalid, requireText } from "./input.js";
import { eventLabel, SUBJECT_SECTION_LABELS } from "./labels.js";

export type SubjectSection = keyof typeof SUBJECT_SECTION_LABELS;

const SECTION_OF: Readonly<Record<string, SubjectSection>> = {
  ApplicationAccepted: "licences",
  LicenceGranted: "licences",
  LicenceDenied: "licences",
  LicenceChanged: "licences",
  LicenceRenewed: "licences",
  LicenceCancelled: "licences",
  LicenceRevoked: "licences",
  RevocationRequestReceived: "licences",
  RevocationDecisionExtended: "licences",
  RevocationRequestDeclined: "licences",
  HandoffPushed: "handoffs",
  HandoffUnrouted: "handoffs",
  HandoffClaimed: "handoffs",
  HandoffReceived: "handoffs",
  HandoffClosed: "handoffs",
  LicenceEndNoted: "handoffs",
  DeadlineWarned: "handoffs",
  DeadlineBreached: "handoffs",
  InspectionRecorded: "inspections",
  RectificationOrdered: "inspections",
  RectificationCompleted: "inspections",
  CommitmentVerified: "commitments",
  RevocationRequested: "commitments",
  RevocationAnswered: "commitments",
  TransferredToEnforcement: "penalties",
  EnforcementCaseOpened: "penalties",
  PenaltyImposed: "penalties",
  EnforcementConcluded: "penalties",
  CreditRecordPublished: "credit",
  CreditRepaired: "credit",
};

export function sectionOf(type: string): SubjectSection {
  return SECTION_OF[type] ?? "other";
}

export interface SubjectEntry extends EventJson {
  readonly label: string;
}

export interface SubjectFile {
  readonly uscc: string;
  /** 相对人名称 as the latest event names it. */
  readonly name: string | null;
  readonly cases: readonly string[];
  readonly licences: readonly string[];
  readonly events: number;
  /** Each section's events in log order. */
  readonly sections: Readonly<Record<SubjectSection, readonly SubjectEntry[]>>;
}

/** Does the payload name the USCC anywhere (holder.uscc, holderUscc, applicant.uscc …)? */
export function mentions(value: unknown, uscc: string, depth = 0): boolean {
  if (value === uscc) return true;
  if (value === null || typeof value !== "object" || depth > 4) return false;
  for (const v of Object.values(value)) if (mentions(v, uscc, depth + 1)) return true;
  return false;
}

function nameIn(data: unknown): string | null {
  const d = (data ?? {}) as Record<string, unknown>;
  const holder = d.holder as { name?: unknown } | undefined;
  const applicant = d.applicant as { name?: unknown } | undefined;
  for (const v of [d.holderName, holder?.name, applicant?.name, d.applicantName]) if (typeof v === "string" && v) return v;
  return null;
}

/** Groups events about a subject (already read) into its file. */
export function subjectFileOf(uscc: string, events: readonly StoredEvent[]): SubjectFile {
  const sections = Object.fromEntries(Object.keys(SUBJECT_SECTION_LABELS).map((k) => [k, [] as SubjectEntry[]])) as Record<
    SubjectSection,
    SubjectEntry[]
  >;
  const cases = new Set<string>();
  const licences = new Set<string>();
  let name: string | null = null;
  const ordered = byPosition(events);
  for (const event of ordered) {
    const metadata = event.metadata as unknown as Record<string, unknown>;
    const data = (event.data ?? {}) as Record<string, unknown>;
    if (typeof metadata.caseId === "string") cases.add(metadata.caseId);
    if (typeof data.licenceId === "string") licences.add(data.licenceId);
    name = nameIn(event.data) ?? name;
    sections[sectionOf(event.type)].push({ ...eventJson(event), label: eventLabel(event.type) });
  }
  return { uscc, name, cases: [...cases].sort(), licences: [...licences].sort(), events: ordered.length, sections };
}

/** Reads a subject's events: by its key, then the cases they belong to, keeping what concerns the subject. */
export async function readSubject(store: EventStore, uscc: string): Promise<StoredEvent[]> {
  const direct = await store.readByCorrelationKey(uscc);
  const byId = new Map(direct.map((e) => [e.id, e]));
  const cases = new Set<string>();
  for (const e of direct) {
    const caseId = (e.metadata as { caseId?: unknown }).caseId;
    if (typeof caseId === "string" && caseId !== uscc) cases.add(caseId);
  }
  // Events keyed by the case (e.g. before the subject was known) still belong to the file when they name the USCC.
  for (const caseId of cases) {
    for (const e of await store.readByCorrelationKey(caseId)) {
      if (!byId.has(e.id) && mentions(e.data, uscc)) byId.set(e.id, e);
    }
  }
  return byPosition(byId.values());
}

/** The subject file of a USCC; 400 for a malformed USCC, 404 when the log holds nothing about it. */
export async function subjectFile(store: EventStore, uscc: string): Promise<SubjectFile> {
  requireText("uscc", uscc);
  checkUscc(uscc);
  const events = await readSubject(store, uscc);
  if (events.length === 0) throw new NotFoundError(`no events about subject ${uscc}`);
  return subjectFileOf(uscc, events);
}

// Shape only: pilot codes that fail the check character are legal (domain.md), and the auditor must find them too.
const USCC_SHAPE = /^[0-9A-HJ-NPQRTUWXY]{18}$/;

function checkUscc(uscc: string): void {
  if (!USCC_SHAPE.test(uscc))
    invalid(
      "uscc",
      "uscc-shape",
      `uscc must be 18 characters of 0-9 and A-Y without I, O, S, V, Z (GB 32100-2015), got ${JSON.stringify(uscc)}`,
    );
}
