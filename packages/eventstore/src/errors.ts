import { ShenguanError } from "@shenguan/contracts";
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

/** The store could not be reached or failed; retrying later may succeed. */
export class StoreUnavailableError extends ShenguanError {
  readonly code = "eventstore.unavailable";
}
