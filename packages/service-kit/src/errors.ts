import { ShenguanError } from "@shenguan/contracts";

/**
 * No credential, or one the service cannot accept. `reason` (token-expired,
 * certificate-revoked …) becomes part of the code, so a client tells the
 * cases apart by the problem's `type` without parsing the message.
 */
export class UnauthenticatedError extends ShenguanError {
  readonly code: string;
  constructor(
    message: string,
    readonly reason?: string,
  ) {
    super(message);
    this.code = reason ? `access.unauthenticated.${reason}` : "access.unauthenticated";
  }
}

/** A known department acting outside its part (not the case's party, no grant); `grant` names the grant it lacks. */
export class ForbiddenError extends ShenguanError {
  readonly code = "access.forbidden";
  constructor(
    message: string,
    readonly grant?: string,
  ) {
    super(message);
  }
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
