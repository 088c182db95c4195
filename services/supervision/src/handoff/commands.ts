import type { HandoffPushed, InspectionMethod, InspectionResult } from "@shenguan/contracts";
import type { LicenceEnd } from "./events.js";

interface Base<T extends string, D> {
  readonly type: T;
  readonly data: D;
  /** The acting department (for commands from Kafka: the handoff's regulator, unchecked). */
  readonly department: string;
  readonly now: Date;
  /** `now` as a local (Asia/Shanghai) date, YYYY-MM-DD. */
  readonly today: string;
}

/** From Kafka HandoffPushed. */
export type ReceiveHandoff = Base<"ReceiveHandoff", { readonly handoff: HandoffPushed }>;

/** 认领 */
export type ClaimHandoff = Base<"ClaimHandoff", Record<string, never>>;

/** 检查 */
export type RecordInspection = Base<
  "RecordInspection",
  {
    readonly inspectionId: string;
    readonly inspectionDate: string;
    readonly method: InspectionMethod;
    readonly result: InspectionResult;
    readonly findings: string;
    readonly handling: string;
    readonly rectificationDue: string | null;
  }
>;

/** 整改: opens the next round. */
export type OrderRectification = Base<
  "OrderRectification",
  { readonly rectificationId: string; readonly requirements: string; readonly dueDate: string }
>;

export type CompleteRectification = Base<
  "CompleteRectification",
  { readonly round: number; readonly passed: boolean; readonly findings: string }
>;

/** 告知承诺核查 */
export type VerifyCommitment = Base<
  "VerifyCommitment",
  { readonly verificationId: string; readonly truthful: boolean; readonly findings: string }
>;

/** 移交执法 */
export type TransferToEnforcement = Base<
  "TransferToEnforcement",
  { readonly transferId: string; readonly enforcementDepartment: string; readonly reason: string }
>;

export type RequestRevocation = Base<"RequestRevocation", { readonly requestId: string; readonly grounds: string }>;

/** From Kafka LicenceCancelled / LicenceRevoked; a revocation may answer one of this handoff's requests. */
export type NoteLicenceEnded = Base<"NoteLicenceEnded", LicenceEnd & { readonly answersRequestId: string | null }>;

/** From Kafka RevocationRequestDeclined. */
export type NoteRevocationDeclined = Base<
  "NoteRevocationDeclined",
  { readonly requestId: string; readonly decisionNumber: string; readonly decisionDate: string; readonly reason: string }
>;

export type HandoffCommand =
  | ReceiveHandoff
  | ClaimHandoff
  | RecordInspection
  | OrderRectification
  | CompleteRectification
  | VerifyCommitment
  | TransferToEnforcement
  | RequestRevocation
  | NoteLicenceEnded
  | NoteRevocationDeclined;
