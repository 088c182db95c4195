import type { TLSSocket } from "node:tls";
import type { DepartmentRegistry } from "@shenguan/registry";
import { UnauthenticatedError, type Caller } from "@shenguan/service-kit";
import type { FastifyRequest } from "fastify";
import { verifyClientCertificate } from "./certificate.js";
import { verifyToken } from "./token.js";

/**
 * Who is calling: a bearer token when the request carries one (TLS may end
 * upstream), else the client certificate of the mutual-TLS connection. No
 * credential at all is a 401 too: nothing at the gateway is anonymous except
 * health, metrics and the published contracts.
 */
export function authenticate(request: FastifyRequest, registry: DepartmentRegistry, now: Date): Caller {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!m) throw new UnauthenticatedError("Authorization must be 'Bearer <token>'", "token-malformed");
    return verifyToken(m[1]!, registry, now);
  }
  const socket = request.raw.socket as TLSSocket;
  const caller = typeof socket.getPeerCertificate === "function" ? verifyClientCertificate(socket, registry) : undefined;
  if (!caller) throw new UnauthenticatedError("no credential: present a bus client certificate (mutual TLS) or 'Authorization: Bearer <token>'", "credential-missing");
  return caller;
}
