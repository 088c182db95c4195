import { ShenguanError } from "@shenguan/contracts";

/** A value that has no canonical form (a non-finite number, a lone surrogate, a cycle, a malformed revision or time). */
export class CanonicalFormError extends ShenguanError {
  readonly code = "evidence.canonical-form";
}

/** A key that cannot be used: unsupported algorithm or curve, malformed PEM/DER, a point off the curve. */
export class EvidenceKeyError extends ShenguanError {
  readonly code = "evidence.key";
}
