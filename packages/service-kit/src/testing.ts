// Test helpers: import from "@shenguan/service-kit/testing", never from production code.
import { randomBytes, randomUUID } from "node:crypto";
import { NO_GRANTS, type Grants } from "./caller.js";
import { ASSERTION_TTL_SECONDS, IDENTITY_HEADER, signIdentity, trustGateway } from "./identity.js";

/**
 * A gateway secret for tests, made in this process and held by every service
 * app in it. Trusting it opens nothing to anyone else: it never leaves this
 * process's memory.
 */
export const testGatewaySecret = randomBytes(32);
trustGateway(testGatewaySecret);

/** Every grant there is, for tests of what a department does rather than of what it may do. */
export const ALL_GRANTS: Grants = Object.freeze({
  publish: [],
  subscribe: { families: ["approval", "linkage", "supervision", "enforcement", "credit"], regions: ["*"] },
  pii: true,
  audit: true,
  admin: true,
});

/**
 * Headers that make a request come from `department` as the gateway vouches
 * for it: `app.inject({ headers: vouchFor("SPJ-350100") })`. `at` signs as of
 * another time (an expired assertion); `key` tags with another gateway's secret (a forged one).
 */
export function vouchFor(
  department: string,
  grants: Grants = NO_GRANTS,
  options: { readonly at?: Date; readonly key?: Uint8Array } = {},
): Record<typeof IDENTITY_HEADER, string> {
  const iat = Math.floor((options.at ?? new Date()).getTime() / 1000);
  const assertion = signIdentity(options.key ?? testGatewaySecret, { dept: department, grants, iat, exp: iat + ASSERTION_TTL_SECONDS, rid: randomUUID() });
  return { [IDENTITY_HEADER]: assertion };
}
