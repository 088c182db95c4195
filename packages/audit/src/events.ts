import { comparePositions, formatPosition, type EventStore, type LogPosition, type StoredEvent } from "@shenguan/eventstore";

/** The stream the bus's LogSealer appends its seals to (data = a Seal of @shenguan/evidence). */
export const SEAL_STREAM = "shenguan-seals";
export const SEAL_EVENT = "LogSealed";

/** Events in global log order. */
export function byPosition<E extends { readonly position: LogPosition }>(events: Iterable<E>): E[] {
  return [...events].sort((a, b) => comparePositions(a.position, b.position));
}

/** A stored event as JSON can carry it: bigints as decimal strings, time as ISO. */
export interface EventJson {
  readonly id: string;
  readonly type: string;
  readonly stream: string;
  readonly revision: string;
  readonly position: string;
  readonly time: string;
  readonly data: unknown;
  readonly metadata: Record<string, unknown>;
}

export function eventJson(e: StoredEvent): EventJson {
  return {
    id: e.id,
    type: e.type,
    stream: e.stream,
    revision: e.revision.toString(),
    position: formatPosition(e.position),
    time: e.time.toISOString(),
    data: e.data,
    metadata: e.metadata as unknown as Record<string, unknown>,
  };
}

/** JSON.stringify that writes bigints (anywhere in data) as decimal strings. */
export function toJsonText(value: unknown, space?: number): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v), space);
}

/** Reads the whole global log in pages, as an async iterable (the log may not fit in memory twice). */
export async function* readLog(store: EventStore, pageSize = 5_000): AsyncGenerator<StoredEvent> {
  let after: LogPosition | undefined;
  for (;;) {
    const page = await store.readAll(after === undefined ? { maxCount: pageSize } : { after, maxCount: pageSize });
    yield* page;
    if (page.length < pageSize) return;
    after = page[page.length - 1]!.position;
  }
}

/** A short human summary of an event's payload: the field an auditor looks for first. */
export function summaryOf(data: unknown): string {
  if (data === null || typeof data !== "object") return "";
  const d = data as Record<string, unknown>;
  for (const field of ["decisionNumber", "findings", "grounds", "reason", "summary", "requirements", "facts", "handling"]) {
    const v = d[field];
    if (typeof v === "string" && v.length > 0) return v;
  }
  return "";
}
