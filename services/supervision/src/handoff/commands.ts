import type { Command } from "@shenguan/eventstore";
import type { HandoffPushed, InspectionMethod, InspectionResult } from "@shenguan/contracts";
import type { LicenceEnd } from "./events.js";

/** From Kafka HandoffPushed. */
export type ReceiveHandoff = Command<"ReceiveHandoff", { readonly handoff: HandoffPushed }>;

/** 认领 */
export type ClaimHandoff = Command<"ClaimHandoff", Record<string, never>>;

/** 检查 */
export type RecordInspection = Command<
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
export type OrderRectification = Command<
  "OrderRectification",
  { readonly rectificationId: string; readonly requirements: string; readonly dueDate: string }
>;

export type CompleteRectification = Command<
  "CompleteRectification",
  { readonly round: number; readonly passed: boolean; readonly findings: string }
>;

/** 告知承诺核查 */
export type VerifyCommitment = Command<
  "VerifyCommitment",
  { readonly verificationId: string; readonly truthful: boolean; readonly findings: string }
>;

/** 移交执法 */
export type TransferToEnforcement = Command<
  "TransferToEnforcement",
  { readonly transferId: string; readonly enforcementDepartment: string; readonly reason: string }
>;

export type RequestRevocation = Command<"RequestRevocation", { readonly requestId: string; readonly grounds: string }>;

/** From Kafka LicenceCancelled / LicenceRevoked; a revocation may answer one of this handoff's requests. */
export type NoteLicenceEnded = Command<"NoteLicenceEnded", LicenceEnd & { readonly answersRequestId: string | null }>;

/** From Kafka RevocationRequestDeclined. */
export type NoteRevocationDeclined = Command<
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
