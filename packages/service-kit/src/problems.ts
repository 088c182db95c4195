import { ContractViolationError, InvalidIdentifierError, ShenguanError, type ValidationIssue } from "@shenguan/contracts";
import { ConcurrencyError, DomainRefusal, EvidenceRejectedError, NotPartyRefusal, StoreUnavailableError } from "@shenguan/eventstore";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import {
  ForbiddenError,
  IdempotencyInProgressError,
  IdempotencyKeyReusedError,
  NotFoundError,
  UnauthenticatedError,
} from "./errors.js";

/** RFC 9457 problem details, with the field-level issues of a 400. */
export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance?: string;
  readonly code: string;
  readonly errors?: readonly ValidationIssue[];
  /** 401: why the credential was refused (also the last segment of `type`); 422: the evidence failure kind. */
  readonly reason?: string;
  /** 403: the grant the caller lacks (`publish:LicenceGranted`, `subscribe:approval@350100`, `admin` …). */
  readonly grant?: string;
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

// The one place an error class becomes an HTTP status. Routes never choose.
const statusOf: Array<[abstract new (...args: never[]) => ShenguanError, number, string]> = [
  [ContractViolationError, 400, "Invalid input"],
  [InvalidIdentifierError, 400, "Invalid identifier"],
  [UnauthenticatedError, 401, "Unauthenticated"],
  [ForbiddenError, 403, "Forbidden"],
  [NotPartyRefusal, 403, "Not a party to this case"],
  [NotFoundError, 404, "Not found"],
  [DomainRefusal, 409, "Refused"],
  [ConcurrencyError, 409, "Concurrent change"],
  [IdempotencyInProgressError, 409, "Request in progress"],
  [IdempotencyKeyReusedError, 422, "Idempotency key reused"],
  [EvidenceRejectedError, 422, "Evidence rejected"],
  [StoreUnavailableError, 503, "Store unavailable"],
];

export function problemOf(err: unknown, instance?: string): ProblemDetails {
  if (err instanceof ShenguanError) {
    const [, status, title] = statusOf.find(([cls]) => err instanceof cls) ?? [ShenguanError, 500, "Internal error"];
    const p = problem(status, err.code, title, err.message, instance, issuesOf(err));
    if (err instanceof UnauthenticatedError && err.reason) return { ...p, reason: err.reason };
    if (err instanceof ForbiddenError && err.grant) return { ...p, grant: err.grant };
    // The failure kind (signature-invalid, unknown-key, wrong-signer, prev-mismatch …) names what was wrong with the evidence.
    if (err instanceof EvidenceRejectedError) return { ...p, reason: err.kind };
    return p;
  }
  const fe = err as FastifyError;
  if (hasZodFastifySchemaValidationErrors(fe)) {
    const errors = fe.validation.map((v) => ({
      path: [fe.validationContext, ...String(v.instancePath).split("/").filter(Boolean)].filter(Boolean).join("."),
      rule: ruleOf(v),
      message: v.message ?? "is invalid",
    }));
    return problem(400, "request.invalid", "Invalid request", errors.map((e) => `${e.path}: ${e.message}`).join("; "), instance, errors);
  }
  if (typeof fe?.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    return problem(fe.statusCode, `http.${fe.code ?? fe.statusCode}`, fe.name, fe.message, instance);
  }
  return problem(500, "internal", "Internal error", "the service failed; the error is logged with this request's id", instance);
}

/** Identifier checks (formats.uscc …) put their stable rule code in the zod issue's params; other issues keep zod's code. */
function ruleOf(v: { keyword: string; params?: Record<string, unknown> }): string {
  const nested = v.params?.["params"] as { rule?: unknown } | undefined;
  return v.keyword === "custom" && typeof nested?.rule === "string" ? nested.rule : String(v.keyword);
}

function problem(status: number, code: string, title: string, detail: string, instance?: string, errors?: readonly ValidationIssue[]): ProblemDetails {
  return { type: `urn:shenguan:problem:${code}`, title, status, detail, code, ...(instance ? { instance } : {}), ...(errors ? { errors } : {}) };
}

function issuesOf(err: ShenguanError): readonly ValidationIssue[] | undefined {
  if (err instanceof ContractViolationError) return err.issues;
  if (err instanceof InvalidIdentifierError) return err.errors.map((e) => ({ path: err.field, rule: e.rule, message: e.message }));
  if (err instanceof DomainRefusal && err.field) return [{ path: err.field, rule: err.code, message: err.message }];
  return undefined;
}

/** fastify's setErrorHandler and setNotFoundHandler both end here. */
export function sendProblem(err: unknown, request: FastifyRequest, reply: FastifyReply) {
  const p = problemOf(err, request.url);
  if (p.status >= 500) request.log.error({ err }, "request failed");
  return reply.code(p.status).type(PROBLEM_CONTENT_TYPE).send(p);
}
