import { catalog, ContractViolationError, families, type EventName, type Family } from "@shenguan/contracts";
import { formatPosition, type StoredEvent } from "@shenguan/eventstore";
import { ForbiddenError, type Grants } from "@shenguan/service-kit";
import { regionCovers } from "../access/acl.js";
import type { PiiProtector } from "../pii/index.js";

/**
 * Who receives what. Only contract events (the @shenguan/contracts catalog)
 * leave the bus: LogSealed, department-registry and other internal events
 * are never delivered. A subscriber receives an event when its family is
 * among its families and the event's region is covered by its regions.
 *
 * The region of an event is its `regionCode` (6 or 12 digits; the first 6
 * count). Contracts without one (supervision, enforcement, credit, most
 * linkage events) fall back to the region in the party's USCC (characters
 * 3-8 of GB 32100: the registering authority's region). An event with
 * neither has no region and is delivered only to subscribers holding "*":
 * the rule fails closed, so a region-limited regulator never sees another
 * region's case by accident. A regionCode on every contract (a schema
 * version 2) would lift the limitation.
 *
 * Regions nest as GB/T 2260 codes do: "350000" (a province) covers every
 * "35xxxx", "350100" (a city) every "3501xx", "350102" (a county) itself.
 */
export interface DeliveryFilter {
  readonly families: readonly Family[];
  readonly regions: readonly string[];
}

export function isContractEvent(type: string): type is EventName {
  return Object.hasOwn(catalog, type);
}

const USCC_PATHS: ReadonlyArray<readonly string[]> = [["holderUscc"], ["applicantUscc"], ["holder", "uscc"], ["applicant", "uscc"]];

export function regionOf(data: unknown): string | undefined {
  const d = data as Record<string, unknown> | null;
  if (d && typeof d["regionCode"] === "string" && /^\d{6}/.test(d["regionCode"])) return d["regionCode"].slice(0, 6);
  for (const path of USCC_PATHS) {
    let v: unknown = d;
    for (const key of path) v = v && typeof v === "object" ? (v as Record<string, unknown>)[key] : undefined;
    if (typeof v === "string" && /^[0-9A-Z]{2}\d{6}/.test(v)) return v.slice(2, 8);
  }
  return undefined;
}

/** Whether `region` falls within one of `grants` ("*", or a province/city/county code). */
export function regionCovered(grants: readonly string[], region: string | undefined): boolean {
  if (grants.includes("*")) return true;
  if (region === undefined) return false;
  return grants.some((g) => regionCovers(g, region));
}

export function matches(filter: DeliveryFilter, event: StoredEvent): boolean {
  if (!isContractEvent(event.type)) return false;
  return filter.families.includes(catalog[event.type].family) && regionCovered(filter.regions, regionOf(event.data));
}

/**
 * The filter a subscriber asked for, checked against its grants: a family or
 * region outside them is a 403 naming the missing grant, an unknown family a
 * 400. Unset means everything the grants allow.
 */
export function filterWithin(
  grants: Grants,
  requested: { families?: readonly string[]; regions?: readonly string[] },
  where: string,
): DeliveryFilter {
  const fams = requested.families ?? grants.subscribe.families.filter((f): f is Family => (families as readonly string[]).includes(f));
  const unknown = fams.filter((f) => !(families as readonly string[]).includes(f));
  if (unknown.length > 0) {
    throw new ContractViolationError("subscription", [
      { path: `${where}.families`, rule: "enum", message: `unknown families ${unknown.join(", ")}; known: ${families.join(", ")}` },
    ]);
  }
  if (fams.length === 0) {
    throw new ForbiddenError("no family to subscribe to: the department holds no subscribe grant", "subscribe");
  }
  const missingFamily = fams.find((f) => !grants.subscribe.families.includes(f));
  if (missingFamily)
    throw new ForbiddenError(
      `no subscribe grant for family ${missingFamily}: it lacks subscribe:${missingFamily}`,
      `subscribe:${missingFamily}`,
    );
  const regions = requested.regions ?? grants.subscribe.regions;
  const bad = regions.find((r) => r !== "*" && !/^\d{6}$/.test(r));
  if (bad !== undefined) {
    throw new ContractViolationError("subscription", [
      { path: `${where}.regions`, rule: "region", message: `${bad} is not "*" or a 6-digit region code` },
    ]);
  }
  const missingRegion = regions.find((r) =>
    r === "*" ? !grants.subscribe.regions.includes("*") : !regionCovered(grants.subscribe.regions, r),
  );
  // Named as the ACL names it (access/acl.ts): family@region.
  if (missingRegion !== undefined) {
    const grant = `subscribe:${fams[0]}@${missingRegion}`;
    throw new ForbiddenError(`no subscribe grant for region ${missingRegion}: it lacks ${grant}`, grant);
  }
  return { families: fams as Family[], regions };
}

/** What a subscriber receives for one event: the JSON body and what the access log must say about it. */
export interface Rendered {
  readonly json: string;
  readonly treatment: "clear" | "mask" | "sm4";
  readonly piiPaths: readonly string[];
}

export function render(event: StoredEvent, pii: PiiProtector, hasPiiGrant: boolean): Rendered {
  const out = pii.forSubscriber(event.type, event.data, hasPiiGrant);
  const m = event.metadata;
  const body = {
    id: event.id,
    type: event.type,
    position: formatPosition(event.position),
    time: event.time.toISOString(),
    department: m.department,
    correlationId: m.correlationId,
    ...(m.caseId ? { caseId: m.caseId } : {}),
    ...(m.subject ? { subject: m.subject } : {}),
    data: out.data,
    pii: out.treatment,
  };
  return { json: JSON.stringify(body), treatment: out.treatment, piiPaths: out.paths };
}

/**
 * render, once per event and view for every subscriber that shares them:
 * the SSE streams following the live end all receive the same event objects
 * from the one LogTail, and twenty subscribers without the pii grant need the
 * same masked or SM4-sealed body, not twenty encryptions of it. Keyed by the
 * event object (a WeakMap: bodies go when the tail's buffer lets the event
 * go) and the protector, so another gateway's policy never shares a body.
 */
const renderedBodies = new WeakMap<StoredEvent, { readonly pii: PiiProtector; clear?: Rendered; protected?: Rendered }>();

export function renderShared(event: StoredEvent, pii: PiiProtector, hasPiiGrant: boolean): Rendered {
  let views = renderedBodies.get(event);
  if (views === undefined || views.pii !== pii) renderedBodies.set(event, (views = { pii }));
  const view = hasPiiGrant ? "clear" : "protected";
  return (views[view] ??= render(event, pii, hasPiiGrant));
}
