/**
 * Chinese labels for people reading an audit: every event type the code base
 * appends (published contracts, service-internal events, the bus's seals),
 * the deadline kinds and their states. Unknown types fall back to the type name,
 * so a new event is shown rather than hidden.
 */
export const EVENT_LABELS: Readonly<Record<string, string>> = {
  // approval (行政审批局)
  ApplicationAccepted: "受理",
  LicenceGranted: "许可准予",
  LicenceDenied: "不予许可",
  LicenceChanged: "许可变更",
  LicenceRenewed: "许可延续",
  LicenceCancelled: "许可注销",
  LicenceRevoked: "许可撤销",
  RevocationRequestReceived: "收到撤销申请",
  RevocationDecisionExtended: "撤销决定延期",
  RevocationRequestDeclined: "不予撤销",
  // linkage (审管联动)
  HandoffPushed: "推送",
  HandoffUnrouted: "无法推送(职责清单无路由)",
  HandoffClaimed: "认领",
  DeadlineWarned: "黄牌预警",
  DeadlineBreached: "红牌超期",
  // supervision (行业主管部门)
  HandoffReceived: "接收推送",
  InspectionRecorded: "检查记录",
  RectificationOrdered: "责令整改",
  RectificationCompleted: "整改复查",
  CommitmentVerified: "告知承诺核查",
  TransferredToEnforcement: "移交执法",
  RevocationRequested: "申请撤销许可",
  RevocationAnswered: "撤销申请答复",
  HandoffClosed: "监管关闭",
  LicenceEndNoted: "许可终止登记",
  // enforcement (综合行政执法) and credit (信用平台)
  EnforcementCaseOpened: "执法立案",
  PenaltyImposed: "行政处罚",
  EnforcementConcluded: "执法结案",
  CreditRecordPublished: "信用记录公示",
  CreditRepaired: "信用修复",
  // the bus itself
  LogSealed: "日志封存",
};

export function eventLabel(type: string): string {
  return EVENT_LABELS[type] ?? type;
}

export const DEADLINE_KIND_LABELS: Readonly<Record<string, string>> = {
  CLAIM: "认领时限",
  COMMITMENT_VERIFICATION: "承诺核查时限",
  REVOCATION_DECISION: "撤销决定时限",
  SUPPLEMENT: "容缺补正时限",
  RECTIFICATION: "整改时限",
};

export const DEADLINE_STATUS_LABELS: Readonly<Record<string, string>> = {
  open: "进行中",
  yellow: "黄牌",
  red: "红牌",
  met: "已办结",
  cancelled: "已撤销",
};

/** Headings of a subject file (一企一档). */
export const SUBJECT_SECTION_LABELS = {
  licences: "许可",
  handoffs: "审管推送",
  inspections: "检查与整改",
  commitments: "告知承诺核查",
  penalties: "处罚与执法",
  credit: "信用记录",
  other: "其他",
} as const;
