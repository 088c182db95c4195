import type { ConsumerSpec } from "@shenguan/eventstore";
import type { CreditService } from "./credit/service.js";
import type { EnforcementService } from "./enforcement/service.js";
import { onCommitmentVerified, onPenaltyImposed, onTransferredToEnforcement } from "./incoming.js";

/** Enforcement opens cases from transfers; the credit platform records false commitments and penalties. */
export function enforcementConsumers(enforcement: EnforcementService, credit: CreditService): ConsumerSpec[] {
  return [
    {
      name: "enforcement-incoming",
      families: ["supervision", "enforcement"],
      mode: "reactor",
      types: ["TransferredToEnforcement", "CommitmentVerified", "PenaltyImposed"],
      handle: async (e) => {
        const ctx = { eventId: e.ce.id, ...(e.ce.traceparent ? { traceparent: e.ce.traceparent } : {}) };
        if (e.name === "TransferredToEnforcement") return onTransferredToEnforcement(enforcement, e.payload, ctx);
        if (e.name === "CommitmentVerified") return onCommitmentVerified(credit, e.payload, ctx);
        if (e.name === "PenaltyImposed") return onPenaltyImposed(credit, e.payload, ctx);
      },
    },
  ];
}
