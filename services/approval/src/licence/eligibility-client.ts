import { StoreUnavailableError } from "@shenguan/eventstore";
import type { EligibilityLookup } from "./service.js";

/**
 * The 告知承诺 check across hosts: linkage's GET /subjects/:uscc/commitment-eligibility.
 * Failing closed: when linkage cannot answer, the acceptance fails (503) instead of
 * letting a barred applicant through.
 *
 * Linkage accepts only callers the gateway vouches for, so the usual
 * `linkageUrl` is the gateway's /v1/linkage and `credentials` gives the
 * bureau's bearer token (@shenguan/gateway mintToken) for each call. By
 * default, SHENGUAN_LINKAGE_AUTHORIZATION is sent as the Authorization header.
 */
export function httpEligibility(
  linkageUrl: string,
  credentials: () => Record<string, string> = (): Record<string, string> => {
    const authorization = process.env["SHENGUAN_LINKAGE_AUTHORIZATION"];
    return authorization ? { authorization } : {};
  },
): EligibilityLookup {
  return async ({ uscc, idNumber }) => {
    const subject = uscc ?? idNumber;
    if (!subject) return { eligible: true, reasons: [] };
    let res: Response;
    try {
      res = await fetch(`${linkageUrl}/subjects/${encodeURIComponent(subject)}/commitment-eligibility`, {
        headers: credentials(),
        signal: AbortSignal.timeout(5_000),
      });
    } catch (err) {
      throw new StoreUnavailableError(`linkage did not answer the credit check: ${(err as Error).message}`);
    }
    if (!res.ok) throw new StoreUnavailableError(`linkage answered the credit check with ${res.status}`);
    const body = (await res.json()) as { eligible: boolean; reasons: string[] };
    return { eligible: body.eligible, reasons: body.reasons };
  };
}
