/**
 * The auditor's HTTP API, for the gateway to mount: the same library as the
 * CLI. Only a caller whose department holds the audit grant may use it, and
 * every query (allowed or not) is itself recorded in the access log.
 *
 *   GET /audit/cases/:caseId/timeline[?verify=true]
 *   GET /audit/streams/:stream/as-of?at=<instant>
 *   GET /audit/subjects/:uscc
 *   GET /audit/verify?case=X | ?subject=X | ?all=true
 *
 * Timelines, as-of states and subject files carry personal data: a caller
 * without the `pii` grant gets it masked; a caller with it gets it in clear,
 * and a `pii.read` entry names the paths that went out.
 */
import { maskPersonalData } from "@shenguan/contracts";
import type { EventStore } from "@shenguan/eventstore";
import { KeyRing, type KeyRingEntry } from "@shenguan/evidence";
import { ForbiddenError, sendProblem, UnauthenticatedError } from "@shenguan/service-kit";
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from "fastify";
import { asOf } from "./as-of.js";
import { VerifiedBlocks, verifyPart, verifyWholeLog, type AuditKeys } from "./evidence.js";
import { invalid, parseInstant, requireText } from "./input.js";
import { readSubject, subjectFile } from "./subject.js";
import { caseTimeline } from "./timeline.js";

/** One access-log entry (the shape of service-kit's AccessLog.record). */
export interface AuditAccessEntry {
  readonly department: string;
  readonly action: "audit.query" | "pii.read";
  readonly resource: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** Where audit queries are recorded: service-kit's AccessLog fits. */
export interface AuditAccessLog {
  record(entries: readonly AuditAccessEntry[]): Promise<unknown>;
}

/** The bus's KeyStore fits: its publicKeys() are owned entries, the bus's own under the bus department. */
export type AuditKeySource = AuditKeys | { publicKeys(): Promise<readonly KeyRingEntry[]> };

export interface AuditPluginOptions {
  readonly store: EventStore;
  readonly keys: AuditKeySource;
  readonly accessLog?: AuditAccessLog;
  /** The department code the bus seals as (default SHENGUAN-BUS). */
  readonly busDepartment?: string;
  /** Route prefix inside the plugin (default /audit). */
  readonly prefix?: string;
  /** Sealed blocks remembered once proven, so later case and subject queries skip re-reading them (default 256; 0: none). */
  readonly provenBlocks?: number;
}

/** Splits a key store's entries: the bus's seal keys, and every key as a department key (the seal events are signed by the bus as a department). */
export async function auditKeysOf(source: AuditKeySource, busDepartment = "SHENGUAN-BUS"): Promise<AuditKeys> {
  if ("departments" in source) return source;
  const entries = await source.publicKeys();
  return { departments: new KeyRing(entries), bus: new KeyRing(entries.filter((e) => e.owner === busDepartment)) };
}

const bool = (v: unknown) => v === "true" || v === "1";

async function plugin(app: FastifyInstance, options: AuditPluginOptions): Promise<void> {
  const { store, accessLog } = options;
  const prefix = options.prefix ?? "/audit";
  const keys = () => auditKeysOf(options.keys, options.busDepartment);
  // One per plugin: an auditor looking at case after case reads and hashes each sealed block once.
  const blocks = new VerifiedBlocks(options.provenBlocks ?? 256);

  // Who may ask, and the record that they asked: before any route runs, so refused queries are recorded too.
  // The plugin is encapsulated (no fastify-plugin), so this hook and the error handler cover its routes only.
  app.addHook("onRequest", async (request: FastifyRequest) => {
    const caller = request.caller;
    const allowed = caller?.grants.audit === true;
    if (caller && accessLog) {
      await accessLog.record([
        {
          department: caller.department,
          action: "audit.query",
          resource: request.url,
          detail: { method: request.method, route: request.routeOptions.url ?? null, allowed },
        },
      ]);
    }
    if (!caller) throw new UnauthenticatedError("the auditor API needs an authenticated department");
    if (!allowed) throw new ForbiddenError(`department ${caller.department} has no audit grant`, "audit");
  });

  /** What a caller may see of `value`: personal data masked without the pii grant, logged as read with it. */
  const release = async <T>(request: FastifyRequest, value: T): Promise<T> => {
    const caller = request.caller!;
    const masked = maskPersonalData(value);
    if (!caller.grants.pii) return masked.value;
    if (masked.paths.length > 0 && accessLog) {
      await accessLog.record([
        {
          department: caller.department,
          action: "pii.read",
          resource: request.url,
          detail: { via: "audit", count: masked.paths.length, paths: masked.paths.slice(0, 200) },
        },
      ]);
    }
    return value;
  };

  app.get<{ Params: { caseId: string }; Querystring: { verify?: string } }>(`${prefix}/cases/:caseId/timeline`, async (request) => {
    const verify = bool(request.query.verify);
    return release(request, await caseTimeline(store, request.params.caseId, verify ? { keys: await keys(), blocks } : {}));
  });

  app.get<{ Params: { stream: string }; Querystring: { at?: string } }>(`${prefix}/streams/:stream/as-of`, async (request) =>
    release(request, await asOf(store, requireText("stream", request.params.stream), parseInstant("at", request.query.at))),
  );

  app.get<{ Params: { uscc: string } }>(`${prefix}/subjects/:uscc`, async (request) =>
    release(request, await subjectFile(store, request.params.uscc)),
  );

  app.get<{ Querystring: { case?: string; subject?: string; all?: string } }>(`${prefix}/verify`, async (request) => {
    const q = request.query;
    const chosen = [q.case !== undefined, q.subject !== undefined, bool(q.all)].filter(Boolean).length;
    if (chosen !== 1) invalid("query", "one-scope", "give exactly one of case=<caseId>, subject=<uscc>, all=true");
    const k = await keys();
    if (q.case !== undefined)
      return verifyPart(store, await store.readByCorrelationKey(requireText("case", q.case)), `case ${q.case}`, { keys: k, blocks });
    if (q.subject !== undefined)
      return verifyPart(store, await readSubject(store, requireText("subject", q.subject)), `subject ${q.subject}`, { keys: k, blocks });
    return verifyWholeLog(store, { keys: k });
  });

  // Problem details for these routes whatever handler the host has.
  app.setErrorHandler((err, request, reply) => sendProblem(err, request, reply));
}

/**
 * The auditor API as a fastify plugin. Needs `request.caller` set by the
 * host's authentication (the gateway): 401 without it, 403 without grants.audit.
 */
export const auditPlugin: FastifyPluginAsync<AuditPluginOptions> = plugin;
