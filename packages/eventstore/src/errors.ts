import { ShenguanError } from "@shenguan/contracts";
import type { EvidenceFailureKind } from "@shenguan/evidence";
import type { ExpectedRevision } from "./port.js";

/** The stream was not at the revision the appender expected; whatever the adapter, this is what callers see. */
export class ConcurrencyError extends ShenguanError {
  readonly code = "eventstore.concurrency";
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    readonly actual: bigint | "no_stream",
    options?: ErrorOptions,
  ) {
    super(`stream ${stream} was expected at ${String(expected)} but is at ${String(actual)}`, options);
  }
}

/**
 * An append inside a transaction that is not READ COMMITTED (PostgreSQL,
 * PGlite). A programming error, not a conflict: an event's place in the log
 * is taken from a fresh snapshot at its transaction's first append
 * (migration 7), which REPEATABLE READ and SERIALIZABLE do not give.
 */
export class AppendIsolationError extends ShenguanError {
  readonly code = "eventstore.append-isolation";
}

/** The store could not be reached or failed; retrying later may succeed. */
export class StoreUnavailableError extends ShenguanError {
  readonly code = "eventstore.unavailable";
}

/**
 * The EvidenceStore refused an append: a pre-signed event whose signature,
 * key or chain link does not hold, or an event it cannot sign. Nothing of the
 * batch was stored.
 */
export class EvidenceRejectedError extends ShenguanError {
  readonly code = "eventstore.evidence-rejected";
  constructor(
    readonly kind: EvidenceFailureKind,
    readonly eventId: string | undefined,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A custody key store was used wrongly: a department code that cannot name a key file, an unreadable key. */
export class KeyCustodyError extends ShenguanError {
  readonly code = "eventstore.key-custody";
}
