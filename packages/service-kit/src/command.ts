import { localDateOf } from "@shenguan/deadlines";
import type { Command, EventMetadata } from "@shenguan/eventstore";
import type { Clock } from "./clock.js";

/** Who issues a command and in answer to what: becomes the metadata of the events it appends. */
export interface CommandContext {
  readonly department: string;
  /** The request id, or the ce_id of the Kafka event being reacted to. */
  readonly correlationId: string;
  /** The event that caused this command; null for a person's request. */
  readonly causationId?: string | null;
  readonly traceparent?: string;
}

/** A command stamped with the acting department and the clock's now and local date: deciders never read a clock. */
export function stampCommand<C extends Command>(clock: Clock, type: C["type"], data: C["data"], department: string): C {
  const now = clock.now();
  return { type, data, department, now, today: localDateOf(now) } as unknown as C;
}

/** The metadata of the events a command appends: who, why, and which case and Kafka subject they belong to. */
export function metadataOf(ctx: CommandContext, about: { readonly caseId?: string | null; readonly subject?: string | null } = {}): EventMetadata {
  return {
    correlationId: ctx.correlationId,
    causationId: ctx.causationId ?? null,
    department: ctx.department,
    ...(about.caseId ? { caseId: about.caseId } : {}),
    ...(about.subject ? { subject: about.subject } : {}),
    ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}),
  };
}
