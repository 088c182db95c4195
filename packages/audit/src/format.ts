/** Output for people: tables with Chinese labels where the domain has them. Programs use --json. */
import Table from "cli-table3";
import type { AsOf } from "./as-of.js";
import type { BundleVerification, ExportResult } from "./bundle.js";
import type { DeadlineSnapshot } from "./deadlines.js";
import type { EvidenceReport } from "./evidence.js";
import { DEADLINE_KIND_LABELS, DEADLINE_STATUS_LABELS, SUBJECT_SECTION_LABELS } from "./labels.js";
import type { SubjectFile, SubjectSection } from "./subject.js";
import type { CaseTimeline } from "./timeline.js";

const local = new Intl.DateTimeFormat("sv-SE", {
  timeZone: "Asia/Shanghai",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

/** An ISO instant as Beijing time, "2026-03-04 10:00:00". */
export function beijing(iso: string): string {
  return local.format(new Date(iso));
}

function deadlineText(d: DeadlineSnapshot): string {
  const status = DEADLINE_STATUS_LABELS[d.status] ?? d.status;
  return `${DEADLINE_KIND_LABELS[d.kind] ?? d.kind} ${d.dueDate ?? "?"} ${status}${d.overdue ? "(已超期)" : ""}`;
}

function table(head: string[]): Table.Table {
  return new Table({ head, style: { head: [], border: [] }, wordWrap: true });
}

export function formatTimeline(t: CaseTimeline): string {
  const rows = table(["#", "时间", "部门", "事件", "流@版本", "期限", "摘要"]);
  for (const e of t.entries) {
    const indent = e.depth === 0 ? "" : `${"  ".repeat(e.depth - 1)}└─ `;
    rows.push([
      String(e.seq),
      beijing(e.time),
      e.department,
      `${indent}${e.label} (${e.type})`,
      `${e.stream}@${e.revision}`,
      e.deadlines.map(deadlineText).join("\n"),
      e.summary,
    ]);
  }
  const out = [`案件 ${t.caseId}: ${t.entries.length} 个事件, ${t.streams.length} 个流`, rows.toString()];
  if (t.evidence) out.push(formatEvidence(t.evidence));
  return out.join("\n");
}

export function formatAsOf(a: AsOf): string {
  const head = `${a.stream} (${a.kind}, ${a.owner}) 截至 ${beijing(a.at)}: ${a.applied} 个事件`;
  const last = a.lastEvent ? `最后事件 ${a.lastEvent.type} ${beijing(a.lastEvent.time)} @${a.revision}` : "当时该流尚不存在";
  return [head, last, JSON.stringify(a.state, null, 2)].join("\n");
}

export function formatSubject(f: SubjectFile): string {
  const out = [
    `一企一档 ${f.uscc}${f.name ? ` ${f.name}` : ""}: ${f.events} 个事件; 案件 ${f.cases.join(", ") || "-"}; 许可 ${f.licences.join(", ") || "-"}`,
  ];
  for (const [section, label] of Object.entries(SUBJECT_SECTION_LABELS) as [SubjectSection, string][]) {
    const entries = f.sections[section];
    if (entries.length === 0) continue;
    const rows = table(["时间", "部门", "事件", "流@版本"]);
    for (const e of entries)
      rows.push([beijing(e.time), String(e.metadata.department ?? ""), `${e.label} (${e.type})`, `${e.stream}@${e.revision}`]);
    out.push(`${label} (${entries.length})`, rows.toString());
  }
  return out.join("\n");
}

export function formatEvidence(r: EvidenceReport): string {
  const counts = `${r.events} 个事件, ${r.streams} 个流, ${r.seals} 个封存块, ${r.signatures} 个签名, ${r.unsealedEvents} 个未封存, ${Math.round(r.elapsedMs)} ms`;
  if (r.ok) return `验证通过 (${r.scope}): ${counts}`;
  const f = r.failure!;
  return [
    `验证失败 (${r.scope}): 第一个断点`,
    `  事件   ${f.eventId ?? "-"}`,
    `  流     ${f.stream ?? "-"}${f.revision !== undefined ? `@${f.revision}` : ""}${f.position ? `  位置 ${f.position}` : ""}`,
    `  类型   ${f.kind}`,
    `  问题   ${f.message}`,
    ...(f.expected !== undefined ? [`  应为   ${f.expected}`, `  实为   ${f.actual ?? "-"}`] : []),
    `  此前已验证: ${counts}`,
  ].join("\n");
}

export function formatBundleVerification(v: BundleVerification): string {
  const counts = `${v.events} 个事件, ${v.seals} 个封存块, ${v.signatures} 个签名, 清单${v.signed ? "已签名" : "未签名"}, ${Math.round(v.elapsedMs)} ms`;
  if (v.trust === "verified") return `导出包验证通过 ${v.dir}: ${counts}\n  可信: ${v.trustReason}`;
  if (v.trust === "self-consistent") return `导出包仅自洽 (未经可信总线公钥验证) ${v.dir}: ${counts}\n  ${v.trustReason}`;
  const out = [`导出包验证失败 ${v.dir}:`];
  for (const f of v.failures) {
    const at = [
      f.file,
      f.line !== undefined ? `第 ${f.line} 行` : undefined,
      f.eventId ? `事件 ${f.eventId}` : undefined,
      f.stream ? `${f.stream}@${f.revision ?? "?"}` : undefined,
    ]
      .filter(Boolean)
      .join(" ");
    out.push(`  [${f.kind}] ${at}: ${f.message}`);
  }
  out.push(`  ${counts}`);
  return out.join("\n");
}

export function formatExport(r: ExportResult): string {
  const m = r.manifest;
  return `已导出 ${r.dir}: ${m.counts.events} 个事件, ${m.counts.streams} 个流, ${m.counts.seals} 个封存块, ${m.counts.keys} 个公钥, ${r.bytes} 字节, ${Math.round(r.elapsedMs)} ms${m.signature ? ", 清单已由总线签名" : ""}`;
}
