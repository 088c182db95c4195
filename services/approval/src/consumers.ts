import type { ConsumerSpec } from "@shenguan/eventstore";
import type { LicenceService } from "./licence/service.js";

/** The approval bureau reacts to regulators' revocation requests (domain step 7). */
export function approvalConsumers(licences: LicenceService): ConsumerSpec[] {
  return [
    {
      name: "approval-incoming",
      families: ["supervision"],
      mode: "reactor",
      types: ["RevocationRequested"],
      handle: async (e) => {
        if (e.name === "RevocationRequested") {
          await licences.receiveRevocationRequest(e.payload, { eventId: e.ce.id, department: e.payload.approvalAuthority });
        }
      },
    },
  ];
}
