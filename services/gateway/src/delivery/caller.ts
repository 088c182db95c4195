import { UnauthenticatedError, type Caller } from "@shenguan/service-kit";
import type { FastifyRequest } from "fastify";

/**
 * The caller the gateway's authentication hook set. Never falls back to a
 * header: on the gateway an identity comes from mTLS or a token only.
 */
export function requireCaller(request: FastifyRequest): Caller {
  if (!request.caller) throw new UnauthenticatedError("no credential: present a client certificate or a signed token");
  return request.caller;
}
