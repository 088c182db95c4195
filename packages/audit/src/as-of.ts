/**
 * The state of a licence case, a handoff or an enforcement case as it stood
 * at a moment: the owning service's own decider (initialState + evolve)
 * folded over the stream's events stored up to then. Never a read model, so
 * the answer is what the service itself would have decided on at that time.
 */
import { licenceDecider } from "@shenguan/approval";
import { creditDecider, enforcementDecider } from "@shenguan/enforcement";
import type { EventStore, StoredEvent } from "@shenguan/eventstore";
import { NotFoundError } from "@shenguan/service-kit";
import { handoffDecider } from "@shenguan/supervision";
import { invalid, requireText } from "./input.js";

/** What a stream is, by its name's prefix (the services' own stream names). */
export type StreamKind =
  "licence-case" | "supervision-handoff" | "licence-end" | "enforcement-case" | "credit-subject" | "linkage-handoff" | "deadline";

interface Folder {
  readonly kind: StreamKind;
  readonly owner: string;
  readonly initial: () => unknown;
  readonly evolve: (state: unknown, event: { type: string; data: unknown }) => unknown;
}

// Deciders are typed over their own events; the auditor hands them stored events of their own streams.
const decider = (kind: StreamKind, owner: string, d: { initialState: () => unknown; evolve: (s: never, e: never) => unknown }): Folder => ({
  kind,
  owner,
  initial: d.initialState,
  evolve: d.evolve as unknown as Folder["evolve"],
});

/** Linkage keeps no decider for its handoff stream ([HandoffUnrouted?, HandoffPushed, HandoffClaimed?]): the same facts, folded. */
const linkageHandoff: Folder = {
  kind: "linkage-handoff",
  owner: "linkage",
  initial: () => ({ status: "none" }),
  evolve: (state, event) => {
    const s = state as Record<string, unknown>;
    switch (event.type) {
      case "HandoffUnrouted":
        return { ...s, status: s.status === "none" ? "unrouted" : s.status, unrouted: event.data };
      case "HandoffPushed":
        return { ...s, status: "pushed", pushed: event.data };
      case "HandoffClaimed":
        return { ...s, status: "claimed", claimed: event.data };
      default:
        return s;
    }
  },
};

/** A deadline stream holds its cards (黄牌, 红牌). */
const deadlineCards: Folder = {
  kind: "deadline",
  owner: "linkage",
  initial: () => ({ card: "none" }),
  evolve: (state, event) => {
    if (event.type === "DeadlineWarned") return (state as { card: string }).card === "red" ? state : { card: "yellow", warned: event.data };
    if (event.type === "DeadlineBreached") return { ...(state as object), card: "red", breached: event.data };
    return state;
  },
};

const licenceEnd: Folder = {
  kind: "licence-end",
  owner: "supervision",
  initial: () => ({ status: "none" }),
  evolve: (state, event) => (event.type === "LicenceEndNoted" ? { status: "ended", end: event.data } : state),
};

// Longest prefixes first: "supervision-licence-end-" before "supervision-".
const FOLDERS: ReadonlyArray<readonly [string, Folder]> = [
  ["licence-case-", decider("licence-case", "approval", licenceDecider)],
  ["supervision-licence-end-", licenceEnd],
  ["supervision-", decider("supervision-handoff", "supervision", handoffDecider)],
  ["enforcement-", decider("enforcement-case", "enforcement", enforcementDecider)],
  ["credit-", decider("credit-subject", "enforcement", creditDecider)],
  ["handoff-", linkageHandoff],
  ["deadline-", deadlineCards],
];

export function folderOf(stream: string): Folder | undefined {
  return FOLDERS.find(([prefix]) => stream.startsWith(prefix))?.[1];
}

export interface AsOf {
  readonly stream: string;
  readonly kind: StreamKind;
  /** The service whose decider rebuilt it. */
  readonly owner: string;
  readonly at: string;
  /** Events folded (those stored at or before `at`). */
  readonly applied: number;
  /** Revision of the last event folded; null when the stream did not exist yet. */
  readonly revision: string | null;
  readonly lastEvent: { readonly id: string; readonly type: string; readonly time: string } | null;
  readonly state: unknown;
}

/** Folds events (of one stream, in revision order) up to `at` with the stream's decider. */
export function stateAsOf(stream: string, events: readonly StoredEvent[], at: Date): AsOf {
  const folder = folderOf(stream);
  if (folder === undefined) {
    invalid("stream", "known-stream", `no decider rebuilds stream ${stream}: expected one of ${FOLDERS.map(([p]) => `${p}…`).join(", ")}`);
  }
  let state = folder.initial();
  let last: StoredEvent | undefined;
  let applied = 0;
  for (const event of events) {
    if (event.time.getTime() > at.getTime()) break;
    state = folder.evolve(state, { type: event.type, data: event.data });
    last = event;
    applied++;
  }
  return {
    stream,
    kind: folder.kind,
    owner: folder.owner,
    at: at.toISOString(),
    applied,
    revision: last ? last.revision.toString() : null,
    lastEvent: last ? { id: last.id, type: last.type, time: last.time.toISOString() } : null,
    state,
  };
}

/** The state of `stream` as it stood at `at`, from the store; 404 for a stream with no events. */
export async function asOf(store: EventStore, stream: string, at: Date): Promise<AsOf> {
  requireText("stream", stream);
  if (folderOf(stream) === undefined) stateAsOf(stream, [], at); // throws, naming the known prefixes
  const events = await store.readStream(stream);
  if (events.length === 0) throw new NotFoundError(`stream ${stream} has no events`);
  return stateAsOf(stream, events, at);
}
