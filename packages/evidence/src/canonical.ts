import { CanonicalFormError } from "./errors.js";
import { canonicalize, writeCanonicalMember, writeCanonicalMembers } from "./jcs.js";
import type { InclusionProof } from "./merkle.js";

export type SignatureAlgorithm = "SM2-SM3" | "Ed25519";

/** A signature as it travels with an event or a seal. */
export interface EvidenceSignature {
  readonly alg: SignatureAlgorithm;
  /** {@link keyIdOf} of the signer's public key: hex of the first 16 bytes of SM3(SPKI DER). */
  readonly keyId: string;
  /** Base64 of the signature: DER SEQUENCE { r, s } for SM2 (GM/T 0009), 64 raw bytes for Ed25519. */
  readonly sig: string;
  /**
   * Set on a batch signature (batch.ts): `sig` signs the statement of a
   * Merkle root over a batch of canonical events, and this is the event's
   * inclusion proof in that batch. Absent: `sig` signs the canonical bytes.
   */
  readonly batch?: InclusionProof;
}

/** An event's link in its stream's hash chain (both lowercase hex SM3 digests). */
export interface ChainLink {
  /** The chain hash of the previous revision; {@link GENESIS_HASH} for revision 0. */
  readonly prev: string;
  /** SM3(prev ‖ canonical event bytes). */
  readonly hash: string;
}

/** What `metadata.evidence` carries. It is excluded from the canonical form. */
export interface EventEvidence {
  readonly signature?: EvidenceSignature;
  readonly chain?: ChainLink;
}

/** The metadata key that holds {@link EventEvidence}; the only metadata the canonical form leaves out. */
export const EVIDENCE_FIELD = "evidence";

/**
 * The fields of an event the evidence layer reads; a `StoredEvent` of
 * `@shenguan/eventstore` fits as it is. `metadata` is any JSON object;
 * its `evidence` member holds {@link EventEvidence}.
 */
export interface EvidenceEvent {
  readonly id: string;
  readonly type: string;
  readonly stream: string;
  /** 0-based revision in the stream: a bigint, a safe integer, or its decimal string. */
  readonly revision: bigint | number | string;
  /** When the store accepted the event: a Date or an ISO 8601 string. */
  readonly time: Date | string;
  readonly data: unknown;
  readonly metadata: object;
}

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

/** The revision as a canonical decimal string ("0", "1", …). */
export function revisionString(revision: bigint | number | string): string {
  if (typeof revision === "bigint") {
    if (revision < 0n) throw new CanonicalFormError(`revision ${revision} is negative`);
    return revision.toString();
  }
  if (typeof revision === "number") {
    if (!Number.isSafeInteger(revision) || revision < 0)
      throw new CanonicalFormError(`revision ${revision} is not a non-negative safe integer`);
    return String(revision);
  }
  if (typeof revision === "string" && DECIMAL.test(revision)) return revision;
  throw new CanonicalFormError(`revision ${JSON.stringify(revision)} is not a decimal integer`);
}

/** The time as `Date.prototype.toISOString()`: UTC, millisecond precision, `Z`. */
export function timeString(time: Date | string): string {
  const date = time instanceof Date ? time : typeof time === "string" ? new Date(time) : undefined;
  const ms = date?.getTime() ?? Number.NaN;
  if (Number.isNaN(ms)) throw new CanonicalFormError(`time ${JSON.stringify(time)} is not a valid instant`);
  // A log's events come many to a second: toISOString once per second, its milliseconds written after
  // (where toISOString writes a four-digit year and so a fixed-width "YYYY-MM-DDTHH:mm:ss.").
  if (ms < FOUR_DIGIT_YEARS_FROM || ms >= FOUR_DIGIT_YEARS_UNTIL) return date!.toISOString();
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    isoPrefix = date!.toISOString().slice(0, 20);
    isoSecond = second;
  }
  return `${isoPrefix}${MILLIS[ms - second * 1000]!}Z`;
}

const FOUR_DIGIT_YEARS_FROM = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
const FOUR_DIGIT_YEARS_UNTIL = 253_402_300_800_000; // +010000-01-01T00:00:00.000Z
const MILLIS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0"));
let isoSecond = Number.NaN;
let isoPrefix = "";

/** The event's metadata without its evidence member. */
export function metadataWithoutEvidence(metadata: object): Record<string, unknown> {
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata))
    throw new CanonicalFormError("metadata is not an object");
  const { [EVIDENCE_FIELD]: _evidence, ...rest } = metadata as Record<string, unknown>;
  return rest;
}

/**
 * The object whose RFC 8785 canonical JSON is an event's canonical form:
 * `{ data, id, metadata, revision, stream, time, type }` with
 * - `revision` as a decimal string (bigints do not survive JSON),
 * - `time` as `toISOString()` (UTC, milliseconds),
 * - `metadata` without its `evidence` member (signature and chain link),
 * - `data` and `metadata` read as `JSON.stringify` reads them (see {@link canonicalize}),
 *   bigints inside them as decimal strings.
 * Not covered: the global log position (the block seals cover it) and the evidence itself.
 */
export function canonicalEventObject(event: EvidenceEvent): Record<string, unknown> {
  return {
    id: event.id,
    type: event.type,
    stream: event.stream,
    revision: revisionString(event.revision),
    time: timeString(event.time),
    data: event.data,
    metadata: metadataWithoutEvidence(event.metadata),
  };
}

/** The canonical bytes of an event: what a department signs and what the stream's hash chain hashes. */
export function canonicalEvent(event: EvidenceEvent): Buffer {
  return Buffer.from(canonicalEventJson(event), "utf8");
}

/** The canonical form of an event as text: canonicalEvent's bytes are its UTF-8. */
export function canonicalEventJson(event: EvidenceEvent): string {
  for (const field of ["id", "type", "stream"] as const) {
    if (typeof event[field] !== "string") throw new CanonicalFormError(`event ${field} is not a string`);
  }
  try {
    const text = writeEventFast(event);
    if (text !== undefined) return text;
  } catch {
    // Whatever is irregular, the general path below says it (or writes what the fast one would not).
  }
  return canonicalize(canonicalEventObject(event));
}

/**
 * canonicalize(canonicalEventObject(event)) without building that object and
 * a copy of the metadata (a verifier writes hundreds of thousands of events):
 * its seven members are written in their sorted order (data, id, metadata,
 * revision, stream, time, type), the metadata's members without `evidence`,
 * each member as canonicalize writes it at that depth. Undefined or a throw
 * where it cannot be sure to match: then the caller takes the general path.
 */
function writeEventFast(event: EvidenceEvent): string | undefined {
  const revision = revisionString(event.revision);
  const time = timeString(event.time);
  const metadata = event.metadata as Record<string, unknown>;
  // The general path copies the metadata's own members (dropping any toJSON of its prototype, calling an own one).
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata) || typeof metadata.toJSON === "function")
    return undefined;
  const data = writeCanonicalMember(event.data, 1);
  if (data === undefined) return undefined; // no data member at all: rare enough for the general path
  return assembleEvent(event, revision, time, data, writeCanonicalMembers(metadata, 1, EVIDENCE_FIELD));
}

/**
 * canonicalEventJson of an event whose data and metadata are given in canonical form already:
 * `data` is canonicalize(event.data) and `metadata` canonicalize(metadataWithoutEvidence(event.metadata)),
 * written by a reader that never builds the objects (a verifier transcoding PostgreSQL's jsonb text).
 * The other members are checked and written as canonicalEventJson does.
 */
export function canonicalEventJsonOf(event: Omit<EvidenceEvent, "data" | "metadata">, data: string, metadata: string): string {
  for (const field of ["id", "type", "stream"] as const) {
    if (typeof event[field] !== "string") throw new CanonicalFormError(`event ${field} is not a string`);
  }
  return assembleEvent(event, revisionString(event.revision), timeString(event.time), data, metadata);
}

/** The seven members in their sorted order: data, id, metadata, revision, stream, time, type. */
function assembleEvent(
  event: Omit<EvidenceEvent, "data" | "metadata">,
  revision: string,
  time: string,
  data: string,
  metadata: string,
): string {
  return (
    `{"data":${data},"id":${writeCanonicalMember(event.id, 1)!},"metadata":${metadata}` +
    `,"revision":"${revision}","stream":${writeCanonicalMember(event.stream, 1)!},"time":"${time}","type":${writeCanonicalMember(event.type, 1)!}}`
  );
}

/** The event's `metadata.evidence`, if it has one (unchecked: see the verifiers for validation). */
export function evidenceOf(event: EvidenceEvent): unknown {
  return (event.metadata as Record<string, unknown> | null)?.[EVIDENCE_FIELD];
}

/** A copy of the event whose `metadata.evidence` has `evidence` merged in. */
export function withEvidence<E extends EvidenceEvent>(event: E, evidence: EventEvidence): E {
  const current = evidenceOf(event);
  const merged = { ...(current !== null && typeof current === "object" ? current : {}), ...evidence };
  return { ...event, metadata: { ...event.metadata, [EVIDENCE_FIELD]: merged } };
}
