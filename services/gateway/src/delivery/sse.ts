import { once } from "node:events";
import type { ServerResponse } from "node:http";
import { ContractViolationError } from "@shenguan/contracts";
import { formatPosition, parsePosition, type LogPosition, type StoredEvent } from "@shenguan/eventstore";
import type { AccessEntry, AccessLog, Caller, Grants } from "@shenguan/service-kit";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { PiiProtector } from "../pii/index.js";
import { filterWithin, matches, renderShared, type DeliveryFilter } from "./filter.js";
import type { LogTail } from "./log-tail.js";

export interface SseOptions {
  /** The gateway's one reader of the log's live end (see log-tail.ts). */
  readonly tail: LogTail;
  readonly accessLog: AccessLog;
  readonly pii: PiiProtector;
  /** A comment line this often keeps proxies from closing an idle stream (default 15 s). */
  readonly heartbeatMs?: number;
  /** Events read from the store per step (default 100). */
  readonly batchSize?: number;
  /**
   * The department's grants as the registry has them now (undefined when it
   * is deactivated). Asked before every batch: a stream opened with grants
   * that are later withdrawn must not go on delivering.
   */
  readonly grantsOf?: (department: string) => Promise<Grants | undefined>;
  /** The clock a credential's expiry is judged by (default: the wall clock). */
  readonly now?: () => Date;
  /** Aborted when the app closes: open streams end so the server can stop. */
  readonly shutdown?: AbortSignal;
}

/** `Last-Event-ID` (the header EventSource sends on reconnect), or `?lastEventId=` for clients that cannot set headers. */
export function resumePosition(request: FastifyRequest, queryValue: string | undefined): LogPosition | undefined {
  const header = request.headers["last-event-id"];
  const raw = (Array.isArray(header) ? header[0] : header) ?? queryValue;
  if (raw === undefined || raw === "") return undefined;
  try {
    return parsePosition(raw);
  } catch {
    throw new ContractViolationError("request headers", [
      { path: "last-event-id", rule: "log-position", message: `"${raw}" is not an event id of this stream ("<commit>/<prepare>")` },
    ]);
  }
}

/**
 * Streams the global log to one subscriber as Server-Sent Events.
 *
 * Each delivered event goes out as `id: <log position>`, so a reconnect with
 * Last-Event-ID resumes strictly after the last event the client saw: no gap,
 * no duplicate. When the events after the last delivered one are all filtered
 * out, an id-only message moves the client's Last-Event-ID past them (per the
 * EventSource spec it updates the id without dispatching), so a reconnect does
 * not rescan them.
 *
 * Backpressure: the next batch is asked for only after the socket has
 * drained, so nothing is read ahead of a slow client; the shared LogTail
 * never waits for one, and a client that falls behind its buffer reads the
 * store until it catches up.
 *
 * Every batch is written to the access log (one row per batch, plus one
 * `pii.read` row when clear personal data went out) before it is sent.
 */
export async function streamEvents(
  request: FastifyRequest,
  reply: FastifyReply,
  caller: Caller,
  filter: DeliveryFilter,
  after: LogPosition | undefined,
  options: SseOptions,
): Promise<void> {
  const raw: ServerResponse = reply.raw;
  reply.hijack();
  raw.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  raw.write(`: subscribed ${filter.families.join(",")} ${filter.regions.join(",")}\nretry: 3000\n\n`);

  const stop = new AbortController();
  const closed = new Promise<void>((resolve) => raw.once("close", resolve));
  void closed.then(() => stop.abort());
  const endOnShutdown = () => raw.end();
  options.shutdown?.addEventListener("abort", endOnShutdown, { once: true });
  const heartbeat = setInterval(() => {
    // A heartbeat behind a full buffer would only add to it.
    if (!raw.writableNeedDrain && !raw.destroyed) raw.write(": heartbeat\n\n");
  }, options.heartbeatMs ?? 15_000);

  // A stream outlives no credential: at the token's expiry it ends even when idle.
  const expiry = caller.expiresAt
    ? setTimeout(
        () => {
          if (!raw.destroyed) raw.end(`event: access-ended\ndata: {"reason":"credential-expired"}\n\n`);
        },
        Math.max(0, caller.expiresAt.getTime() - Date.now()),
      )
    : undefined;
  expiry?.unref();

  const send = async (chunk: string) => {
    if (raw.destroyed) return false;
    if (!raw.write(chunk)) await Promise.race([once(raw, "drain"), closed]);
    return !raw.destroyed;
  };

  /**
   * Whether the stream may go on, and with which grants: the credential has
   * not expired, and the registry still grants what the stream asked for.
   * The client is told why, then reconnects with a fresh credential and its
   * Last-Event-ID and loses nothing.
   */
  let grants = caller.grants;
  const mayContinue = async (): Promise<boolean> => {
    const now = options.now?.() ?? new Date();
    let why: string | undefined;
    if (caller.expiresAt && now >= caller.expiresAt) why = "credential-expired";
    else if (options.grantsOf) {
      const current = await options.grantsOf(caller.department);
      if (!current) why = "department-inactive";
      else {
        try {
          filterWithin(current, { families: filter.families, regions: filter.regions }, "subscription");
          grants = current;
        } catch {
          why = "grant-withdrawn";
        }
      }
    }
    if (why === undefined) return true;
    if (!raw.destroyed) raw.write(`event: access-ended\ndata: {"reason":"${why}"}\n\n`);
    return false;
  };

  const deliver = async (events: readonly StoredEvent[]): Promise<boolean> => {
    if (stop.signal.aborted) return false;
    if (!(await mayContinue())) return false;
    const chunks: string[] = [];
    const delivered: string[] = [];
    const piiRead: Array<{ event: string; paths: readonly string[] }> = [];
    let lastSent: LogPosition | undefined;
    let treatment: string | undefined;
    for (const event of events) {
      if (!matches(filter, event)) continue;
      const r = renderShared(event, options.pii, grants.pii);
      const id = formatPosition(event.position);
      chunks.push(`id: ${id}\nevent: ${event.type}\ndata: ${r.json}\n\n`);
      delivered.push(event.id);
      treatment = r.treatment;
      if (r.treatment === "clear" && r.piiPaths.length > 0) piiRead.push({ event: event.id, paths: r.piiPaths });
      lastSent = event.position;
    }
    const last = events[events.length - 1]!.position;
    if (lastSent !== last) chunks.push(`id: ${formatPosition(last)}\n\n`);
    if (delivered.length > 0) {
      const entries: AccessEntry[] = [
        {
          department: caller.department,
          action: "delivery.sse",
          resource: `sse:${request.id}`,
          detail: { events: delivered, first: formatPosition(events[0]!.position), last: formatPosition(last), pii: treatment },
        },
      ];
      if (piiRead.length > 0) {
        entries.push({ department: caller.department, action: "pii.read", resource: `sse:${request.id}`, detail: { events: piiRead } });
      }
      await options.accessLog.record(entries);
    }
    // Events go out together, as many per write as fit below the response's
    // high-water mark: each write of a chunked response is a writev of its own
    // (at 20 subscribers × 1,000 events/s one write per event took a fifth of
    // the gateway's thread), and filling only up to the mark keeps what waits
    // in user space for a slow client at the mark plus one event, as before.
    let pending = "";
    let pendingBytes = 0;
    for (const chunk of chunks) {
      const bytes = Buffer.byteLength(chunk);
      if (pendingBytes > 0 && pendingBytes + bytes > raw.writableHighWaterMark - raw.writableLength) {
        if (!(await send(pending))) return false;
        pending = "";
        pendingBytes = 0;
      }
      pending += chunk;
      pendingBytes += bytes;
    }
    return pendingBytes === 0 || send(pending);
  };

  const batchSize = options.batchSize ?? 100;
  const follow = async () => {
    let position = after;
    while (!stop.signal.aborted) {
      const events = await options.tail.next(position, batchSize);
      if (events.length === 0) {
        await options.tail.wait(stop.signal, position);
        continue;
      }
      if (!(await deliver(events))) return;
      position = events[events.length - 1]!.position;
    }
  };

  try {
    await Promise.race([follow(), closed]);
  } catch (err) {
    request.log.error({ err }, "SSE subscription failed");
  } finally {
    clearInterval(heartbeat);
    if (expiry) clearTimeout(expiry);
    options.shutdown?.removeEventListener("abort", endOnShutdown);
    stop.abort();
    if (!raw.destroyed) raw.end();
  }
}
