import { ForbiddenError, type Caller } from "@shenguan/service-kit";

/**
 * Whether a granted region covers a region: "*" all, the same code, or an
 * enclosing one (GB/T 2260: a province XX0000 covers XX….; a city XXXX00 covers its districts).
 */
export function regionCovers(granted: string, region: string): boolean {
  if (granted === "*" || granted === region) return true;
  if (granted.endsWith("0000")) return region.startsWith(granted.slice(0, 2));
  if (granted.endsWith("00")) return region.startsWith(granted.slice(0, 4));
  return false;
}

/** Only a department granted an event type publishes it (only an approval bureau publishes licence decisions). */
export function requirePublish(caller: Caller, type: string): void {
  if (!caller.grants.publish.includes(type)) {
    throw new ForbiddenError(`${caller.department} may not publish ${type}: it lacks the grant publish:${type}`, `publish:${type}`);
  }
}

/** Reading a topic family in a region needs both granted. */
export function requireSubscription(caller: Caller, family: string, region: string): void {
  const { families, regions } = caller.grants.subscribe;
  if (!families.includes(family) || !regions.some((r) => regionCovers(r, region))) {
    throw new ForbiddenError(`${caller.department} may not read ${family} events of region ${region}: it lacks subscribe:${family}@${region}`, `subscribe:${family}@${region}`);
  }
}

export function requireGrant(caller: Caller, grant: "audit" | "pii" | "admin"): void {
  if (!caller.grants[grant]) throw new ForbiddenError(`${caller.department} lacks the ${grant} grant`, grant);
}
