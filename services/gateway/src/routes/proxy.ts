import proxy from "@fastify/http-proxy";
import { callerOf, IDENTITY_HEADER, ASSERTION_TTL_SECONDS, signIdentity, type Clock, type ServiceApp } from "@shenguan/service-kit";
import type { KeyObject } from "node:crypto";

export const SERVICES = ["approval", "supervision", "enforcement", "linkage"] as const;
export type ServiceName = (typeof SERVICES)[number];

/**
 * /v1/<service>/* → the service's own API, with the caller vouched for in a
 * gateway-signed x-shenguan-identity and the department's credential removed
 * (services must not see, or come to rely on, the department's token).
 */
export async function proxyRoutes(
  app: ServiceApp,
  upstreams: Partial<Record<ServiceName, string>>,
  identity: { readonly key: KeyObject; readonly clock: Clock },
): Promise<void> {
  for (const name of SERVICES) {
    const upstream = upstreams[name];
    if (!upstream) continue;
    await app.register(proxy, {
      upstream,
      prefix: `/v1/${name}`,
      rewritePrefix: "",
      replyOptions: {
        rewriteRequestHeaders: (request, headers) => {
          const caller = callerOf(request as never);
          const iat = Math.floor(identity.clock.now().getTime() / 1000);
          const { authorization: _dropped, ...rest } = headers;
          return {
            ...rest,
            [IDENTITY_HEADER]: signIdentity(identity.key, { dept: caller.department, grants: caller.grants, iat, exp: iat + ASSERTION_TTL_SECONDS, rid: String(request.id) }),
          };
        },
      },
    });
  }
}

/** A vouched identity for a caller, for in-process calls into a service app (the bus's seed and bench). */
export function vouchHeaders(key: KeyObject, clock: Clock, caller: { department: string; grants: Parameters<typeof signIdentity>[1]["grants"] }, rid: string) {
  const iat = Math.floor(clock.now().getTime() / 1000);
  return { [IDENTITY_HEADER]: signIdentity(key, { dept: caller.department, grants: caller.grants, iat, exp: iat + ASSERTION_TTL_SECONDS, rid }) };
}
