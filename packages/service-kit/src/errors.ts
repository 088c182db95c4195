import { ShenguanError } from "@shenguan/contracts";

/** No credential, or one the service cannot accept. */
export class UnauthenticatedError extends ShenguanError {
  readonly code = "access.unauthenticated";
}

/** A known department acting outside its part (not the case's party, no grant). */
export class ForbiddenError extends ShenguanError {
  readonly code = "access.forbidden";
}

export class NotFoundError extends ShenguanError {
  readonly code = "resource.not-found";
}

/** The same idempotency key came back with a different request. */
export class IdempotencyKeyReusedError extends ShenguanError {
  readonly code = "idempotency.key-reused";
}

/** The first request with this idempotency key is still running. */
export class IdempotencyInProgressError extends ShenguanError {
  readonly code = "idempotency.in-progress";
}
