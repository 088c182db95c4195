import { catalog } from "@shenguan/contracts";
import { describe, expect, it } from "vitest";
import { DeadlineTracker } from "./deadlines.js";
import { EVENT_LABELS } from "./labels.js";
import { sectionOf } from "./subject.js";

// Internal events of the services' streams (not in the contract catalog).
const INTERNAL = [
  "RevocationRequestReceived",
  "HandoffReceived",
  "RevocationAnswered",
  "HandoffClosed",
  "LicenceEndNoted",
  "EnforcementCaseOpened",
  "LogSealed",
];

describe("labels and deadlines (unit)", () => {
  it("labels every published and internal event type, and files each in a subject section", () => {
    for (const type of [...Object.keys(catalog), ...INTERNAL]) {
      expect(EVENT_LABELS[type], type).toMatch(/\p{Script=Han}/u);
      if (type !== "LogSealed") expect(sectionOf(type), type).not.toBe("other");
    }
  });

  it("folds deadlines: opened by the push, carded yellow then red, met by the step, cancelled by the licence's end", () => {
    const t = new DeadlineTracker();
    const at = new Date("2026-03-02T02:00:00Z");
    t.apply({
      type: "HandoffPushed",
      time: at,
      data: { handoffId: "H-1", licenceId: "L-1", regulator: "SCJG", claimDue: "2026-03-09", verificationDue: "2026-06-02" },
    });
    t.apply({ type: "DeadlineWarned", time: at, data: { kind: "CLAIM", subjectRef: "H-1", dueDate: "2026-03-09" } });
    expect(t.snapshot(at).map((d) => [d.deadlineId, d.status])).toEqual([
      ["claim-H-1", "yellow"],
      ["verification-L-1", "open"],
    ]);
    t.apply({ type: "DeadlineBreached", time: at, data: { kind: "CLAIM", subjectRef: "H-1", dueDate: "2026-03-09" } });
    expect(t.snapshot(new Date("2026-03-10T02:00:00Z"))[0]).toMatchObject({ status: "red", overdue: true });
    t.apply({ type: "HandoffClaimed", time: at, data: { handoffId: "H-1" } });
    t.apply({
      type: "RevocationRequested",
      time: at,
      data: { requestId: "R-1", licenceId: "L-1", approvalAuthority: "SPJ", requestedAt: at.getTime() },
    });
    expect(t.snapshot(at)[2]).toMatchObject({ deadlineId: "revocation-R-1", dueDate: "2026-05-01", status: "open" });
    t.apply({ type: "LicenceRevoked", time: at, data: { licenceId: "L-1", answersRequestId: "R-1" } });
    expect(t.snapshot(at).map((d) => [d.kind, d.status, d.metBy])).toEqual([
      ["CLAIM", "met", "HandoffClaimed"],
      ["COMMITMENT_VERIFICATION", "cancelled", null],
      ["REVOCATION_DECISION", "met", "LicenceRevoked"],
    ]);
  });
});
