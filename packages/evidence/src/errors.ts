// The error base alone, not the contracts' index (zod schemas, Avro codecs): the verifier's
// worker threads bundle this package, and start in a fraction of the time without them.
import { ShenguanError } from "@shenguan/contracts/errors";

/** A value that has no canonical form (a non-finite number, a lone surrogate, a cycle, a malformed revision or time). */
export class CanonicalFormError extends ShenguanError {
  readonly code = "evidence.canonical-form";
}

/** A key that cannot be used: unsupported algorithm or curve, malformed PEM/DER, a point off the curve. */
export class EvidenceKeyError extends ShenguanError {
  readonly code = "evidence.key";
}
