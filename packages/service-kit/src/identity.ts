import type { FastifyRequest } from "fastify";
import { UnauthenticatedError } from "./errors.js";

/**
 * Who is calling. For now the department code comes in a request header that
 * the gateway (or, in development, the caller) sets; the gateway issue
 * replaces this with mutual TLS / signed tokens and the services will accept
 * only identities it vouches for.
 */
export const DEPARTMENT_HEADER = "x-shenguan-department";
const DEPARTMENT_CODE = /^[A-Z0-9][A-Z0-9-]{1,39}$/;

export function departmentOf(request: FastifyRequest): string {
  const raw = request.headers[DEPARTMENT_HEADER];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (!value) throw new UnauthenticatedError(`header ${DEPARTMENT_HEADER} is required: the calling department's code`);
  if (!DEPARTMENT_CODE.test(value)) {
    throw new UnauthenticatedError(`header ${DEPARTMENT_HEADER} must be a department code (A-Z, 0-9, '-', 2-40 chars), got ${JSON.stringify(value)}`);
  }
  return value;
}
