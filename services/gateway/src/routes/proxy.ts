import proxy from "@fastify/http-proxy";
import { callerOf, IDENTITY_HEADER, ASSERTION_TTL_SECONDS, signIdentity, type AccessLog, type Clock, type ServiceApp } from "@shenguan/service-kit";
import { maskPersonalData } from "@shenguan/contracts";
import type { FastifyRequest } from "fastify";

export const SERVICES = ["approval", "supervision", "enforcement", "linkage"] as const;
export type ServiceName = (typeof SERVICES)[number];

/**
 * /v1/<service>/* → the service's own API, with the caller vouched for in a
 * gateway-tagged x-shenguan-identity (HMAC-SM3 with the service's hop key) and the department's credential removed
 * (services must not see, or come to rely on, the department's token).
 * With an access log, every read is recorded before it is forwarded: the
 * services' answers (a licence case, an inbox) hold applicants' names and
 * ID numbers, so who read which resource, and when, is kept like a delivery.
 */
export async function proxyRoutes(
  app: ServiceApp,
  upstreams: Partial<Record<ServiceName, string>>,
  identity: { readonly secret: Uint8Array; readonly clock: Clock },
  accessLog?: AccessLog,
): Promise<void> {
  for (const name of SERVICES) {
    const upstream = upstreams[name];
    if (!upstream) continue;
    await app.register(proxy, {
      upstream,
      prefix: `/v1/${name}`,
      rewritePrefix: "",
      ...(accessLog
        ? {
            preHandler: async (request: FastifyRequest) => {
              if (request.method !== "GET" && request.method !== "HEAD") return;
              const caller = callerOf(request);
              await accessLog.record([{ department: caller.department, action: "service.read", resource: request.url, detail: { service: name, pii: caller.grants.pii } }]);
            },
          }
        : {}),
      replyOptions: {
        // Services answer with applicants' ID numbers, names and phones; a
        // department without the pii grant gets them masked, as in deliveries.
        onResponse: (request, reply, res) => {
          const upstream = res as unknown as { stream: NodeJS.ReadableStream; headers: Record<string, string | string[] | undefined> };
          const caller = (request as FastifyRequest).caller;
          if (!caller || caller.grants.pii || !String(upstream.headers["content-type"] ?? "").includes("json")) {
            void reply.send(upstream.stream);
            return;
          }
          void maskedBody(upstream.stream).then(
            (body) => reply.removeHeader("content-length").send(body),
            (err: unknown) => reply.send(err),
          );
        },
        rewriteRequestHeaders: (request, headers) => {
          const caller = callerOf(request as never);
          const iat = Math.floor(identity.clock.now().getTime() / 1000);
          const { authorization: _dropped, ...rest } = headers;
          return {
            ...rest,
            // Bound to this service and this request as the service will see it (the prefix stripped).
            [IDENTITY_HEADER]: signIdentity(identity.secret, {
              dept: caller.department,
              grants: caller.grants,
              iat,
              exp: iat + ASSERTION_TTL_SECONDS,
              rid: String(request.id),
              aud: name,
              req: `${request.method} ${request.url.slice(`/v1/${name}`.length) || "/"}`,
            }),
          };
        },
      },
    });
  }
}

/** The upstream's JSON body with every personal value masked (@shenguan/contracts maskPersonalData). */
async function maskedBody(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.length === 0) return text;
  return JSON.stringify(maskPersonalData(JSON.parse(text) as unknown).value);
}

/** A vouched identity for a caller, for in-process calls into a service app (the bus's seed and bench). */
export function vouchHeaders(secret: Uint8Array, clock: Clock, caller: { department: string; grants: Parameters<typeof signIdentity>[1]["grants"] }, rid: string) {
  const iat = Math.floor(clock.now().getTime() / 1000);
  return { [IDENTITY_HEADER]: signIdentity(secret, { dept: caller.department, grants: caller.grants, iat, exp: iat + ASSERTION_TTL_SECONDS, rid }) };
}
