import { ContractViolationError, type ValidationIssue } from "./errors.js";
import { catalog } from "./generated/catalog.js";
import type { EventName } from "./generated/types.js";

/**
 * CloudEvents 1.0 Kafka protocol binding, binary content mode: the event's
 * attributes travel as `ce_*` headers and the Kafka value is the Avro data.
 * The Kafka key is the event's subject (a USCC or case id), so one licensee's
 * events stay on one partition, in order.
 */
export interface CloudEventAttributes {
  /** Unique per event; consumers deduplicate on it. */
  readonly id: string;
  /** The publishing department, as a URI reference: `/departments/<code>`. */
  readonly source: string;
  /** The Avro full name, e.g. `cn.gov.shenguan.approval.LicenceGranted`. */
  readonly type: string;
  readonly specversion: "1.0";
  /** RFC 3339 instant. */
  readonly time: string;
  /** The ordering key: a USCC or a case id. */
  readonly subject: string;
  /** W3C trace context, when the publisher had one. */
  readonly traceparent?: string;
}

export const CONTENT_TYPE = "application/avro";

export const HEADER = {
  id: "ce_id",
  source: "ce_source",
  type: "ce_type",
  specversion: "ce_specversion",
  time: "ce_time",
  subject: "ce_subject",
  contentType: "content-type",
  traceparent: "traceparent",
} as const;

export type KafkaHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

export function sourceOf(departmentCode: string): string {
  return `/departments/${departmentCode}`;
}

export function cloudEventTypeOf(name: EventName): string {
  return catalog[name].fullName;
}

export function toKafkaHeaders(ce: CloudEventAttributes): Record<string, string> {
  const headers: Record<string, string> = {
    [HEADER.id]: ce.id,
    [HEADER.source]: ce.source,
    [HEADER.type]: ce.type,
    [HEADER.specversion]: ce.specversion,
    [HEADER.time]: ce.time,
    [HEADER.subject]: ce.subject,
    [HEADER.contentType]: CONTENT_TYPE,
  };
  if (ce.traceparent) headers[HEADER.traceparent] = ce.traceparent;
  return headers;
}

function headerText(headers: KafkaHeaders | undefined, key: string): string | undefined {
  const v = headers?.[key];
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : one.toString();
}

/** Reads and checks the binding's headers; a message without them is not ours (dead-letter it). */
export function fromKafkaHeaders(headers: KafkaHeaders | undefined): CloudEventAttributes {
  const issues: ValidationIssue[] = [];
  const required = (key: string): string => {
    const v = headerText(headers, key);
    if (v === undefined || v === "") issues.push({ path: key, rule: "required", message: `header ${key} is required` });
    return v ?? "";
  };
  const ce = {
    id: required(HEADER.id),
    source: required(HEADER.source),
    type: required(HEADER.type),
    specversion: required(HEADER.specversion) as "1.0",
    time: required(HEADER.time),
    subject: required(HEADER.subject),
    ...(headerText(headers, HEADER.traceparent) ? { traceparent: headerText(headers, HEADER.traceparent)! } : {}),
  };
  if (ce.specversion && ce.specversion !== "1.0") {
    issues.push({ path: HEADER.specversion, rule: "cloudevents.specversion", message: `must be 1.0, got ${ce.specversion}` });
  }
  if (ce.time && Number.isNaN(Date.parse(ce.time))) {
    issues.push({ path: HEADER.time, rule: "cloudevents.time", message: `must be an RFC 3339 instant, got ${ce.time}` });
  }
  const contentType = headerText(headers, HEADER.contentType);
  if (contentType !== undefined && contentType !== CONTENT_TYPE) {
    issues.push({ path: HEADER.contentType, rule: "cloudevents.content-type", message: `must be ${CONTENT_TYPE}, got ${contentType}` });
  }
  if (issues.length > 0) throw new ContractViolationError("CloudEvents headers", issues);
  return ce;
}
