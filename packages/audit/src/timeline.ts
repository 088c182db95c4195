/**
 * A case's timeline (全程留痕): every event of the case across approval,
 * linkage, supervision and enforcement, in log order, with who, when, the
 * deadlines as they stood at that moment, and which event led to which.
 */
import { formatPosition, type EventStore, type StoredEvent } from "@shenguan/eventstore";
import { NotFoundError } from "@shenguan/service-kit";
import { DeadlineTracker, type DeadlineSnapshot } from "./deadlines.js";
import { byPosition, summaryOf } from "./events.js";
import { readSeals, verifyPart, type AuditKeys, type EvidenceReport, type VerifiedBlocks } from "./evidence.js";
import { eventLabel } from "./labels.js";
import { requireText } from "./input.js";

export interface TimelineEntry {
  /** 1-based place in the timeline. */
  readonly seq: number;
  readonly position: string;
  readonly id: string;
  readonly type: string;
  /** Chinese label (许可准予 …). */
  readonly label: string;
  readonly stream: string;
  readonly revision: string;
  readonly department: string;
  readonly time: string;
  readonly summary: string;
  /** metadata.causationId as stored (an event id, a command id, or null for a person's command). */
  readonly causationId: string | null;
  /** The timeline event it points at, when the cause is an event of this case. */
  readonly causedBy: string | null;
  /** Depth in the causation tree: 0 for an event with no cause in this case. */
  readonly depth: number;
  /** Every deadline known after this event, as it stood at the event's time. */
  readonly deadlines: readonly DeadlineSnapshot[];
}

export interface CaseTimeline {
  readonly caseId: string;
  readonly streams: readonly string[];
  readonly entries: readonly TimelineEntry[];
  /** With `keys`: chains, seals and signatures of the case's streams. */
  readonly evidence?: EvidenceReport;
}

export interface TimelineOptions {
  /** Verify the evidence too (chain + seals; signatures of unsealed events). */
  readonly keys?: AuditKeys;
  readonly seals?: readonly unknown[];
  /** Blocks proven by earlier queries (see VerifiedBlocks). */
  readonly blocks?: VerifiedBlocks;
}

/** Builds the timeline from events already read (in any order). */
export function timelineOf(caseId: string, events: readonly StoredEvent[]): CaseTimeline {
  const ordered = byPosition(events);
  const tracker = new DeadlineTracker();
  const depthOf = new Map<string, number>();
  const entries: TimelineEntry[] = [];
  for (const event of ordered) {
    const metadata = event.metadata as unknown as Record<string, unknown>;
    const causationId = typeof metadata.causationId === "string" ? metadata.causationId : null;
    const parentDepth = causationId === null ? undefined : depthOf.get(causationId);
    const depth = parentDepth === undefined ? 0 : parentDepth + 1;
    depthOf.set(event.id, depth);
    tracker.apply(event);
    entries.push({
      seq: entries.length + 1,
      position: formatPosition(event.position),
      id: event.id,
      type: event.type,
      label: eventLabel(event.type),
      stream: event.stream,
      revision: event.revision.toString(),
      department: typeof metadata.department === "string" ? metadata.department : "",
      time: event.time.toISOString(),
      summary: summaryOf(event.data),
      causationId,
      causedBy: parentDepth === undefined ? null : causationId,
      depth,
      deadlines: tracker.snapshot(event.time),
    });
  }
  return { caseId, streams: [...new Set(ordered.map((e) => e.stream))].sort(), entries };
}

/** The timeline of a case as the store holds it; 404 when the case has no events. */
export async function caseTimeline(store: EventStore, caseId: string, options: TimelineOptions = {}): Promise<CaseTimeline> {
  requireText("caseId", caseId);
  // The seals do not depend on the case: read them alongside its events.
  const sealsRead = options.keys !== undefined && options.seals === undefined ? readSeals(store) : undefined;
  sealsRead?.catch(() => undefined); // awaited below, unless the case is not found
  const events = await store.readByCorrelationKey(caseId);
  if (events.length === 0) throw new NotFoundError(`no events for case ${caseId}`);
  if (options.keys === undefined) return timelineOf(caseId, events);
  const seals = options.seals ?? (await sealsRead!);
  // Started first: its reads (stream heads, leaves) run while the timeline is built on this thread.
  const verifying = verifyPart(store, events, `case ${caseId}`, {
    keys: options.keys,
    seals,
    ...(options.blocks ? { blocks: options.blocks } : {}),
  });
  let timeline: CaseTimeline;
  try {
    timeline = timelineOf(caseId, events);
  } catch (error) {
    verifying.catch(() => undefined);
    throw error;
  }
  return { ...timeline, evidence: await verifying };
}
