import { buildElicenceId, catalog, computeOrgCodeCheckChar, computeUsccCheckChar, families, type Family } from "@shenguan/contracts";
import { localDateOf } from "@shenguan/deadlines";
import type { DepartmentSeed } from "@shenguan/gateway";
import type { Clock } from "@shenguan/service-kit";
import type { Logger } from "pino";
import type { Bus } from "./bus.js";

/** The demo's departments of 福州市 (Fuzhou, region 350100). */
export const DEMO = {
  bureau: "SPJ-350100", // 福州市行政审批局
  market: "SCJG-350100", // 福州市市场监督管理局
  health: "WJW-350100", // 福州市卫生健康委员会
  enforcement: "ZHZF-350100", // 福州市综合行政执法局
  credit: "XYB-350100", // 福州市信用平台
  items: {
    food: { code: "000105001000", name: "食品经营许可" },
    hygiene: { code: "000105002000", name: "公共场所卫生许可" },
    construction: { code: "000108003000", name: "建筑业企业资质" },
  },
} as const;

/** A valid, fictitious USCC: both GB 32100 checks computed, so the demo never uses a real company's code. */
export function demoUscc(serial: number): string {
  const body8 = `MA${String(serial).padStart(6, "0")}`;
  const first17 = `91350100${body8}${computeOrgCodeCheckChar(body8)}`;
  return first17 + computeUsccCheckChar(first17);
}

/** A valid, fictitious USCC of a government agency (registration authority 1, 机关). */
function agencyUscc(body8: string): string {
  const first17 = `11350100${body8}${computeOrgCodeCheckChar(body8)}`;
  return first17 + computeUsccCheckChar(first17);
}
const BUREAU_USCC = agencyUscc("00354832");

const publishes = (...fs: Family[]) => Object.entries(catalog).filter(([, c]) => fs.includes(c.family)).map(([name]) => name);
const reads = (...fs: Family[]) => ({ families: fs, regions: ["350100"] });
const none = { pii: false, audit: false, admin: false };

/**
 * The departments the bus registers at start (the gateway's registry), with
 * the grants of their part in the loop: each publishes its own family and
 * reads the families it reacts to, in the city. The operator administers the
 * registry; the supervisor and the operator audit.
 */
export const DEMO_DEPARTMENTS: readonly DepartmentSeed[] = [
  { code: DEMO.bureau, name: "福州市行政审批局", uscc: BUREAU_USCC, region: "350100", kind: "approval-bureau", grants: { publish: publishes("approval"), subscribe: reads("linkage", "supervision", "enforcement", "credit"), ...none, pii: true } },
  { code: DEMO.market, name: "福州市市场监督管理局", uscc: agencyUscc("00354833"), region: "350100", kind: "regulator", grants: { publish: publishes("supervision"), subscribe: reads("approval", "linkage", "enforcement"), ...none, pii: true } },
  { code: DEMO.health, name: "福州市卫生健康委员会", uscc: agencyUscc("00354834"), region: "350100", kind: "regulator", grants: { publish: publishes("supervision"), subscribe: reads("approval", "linkage", "enforcement"), ...none, pii: true } },
  { code: DEMO.enforcement, name: "福州市综合行政执法局", uscc: agencyUscc("00354835"), region: "350100", kind: "enforcement", grants: { publish: publishes("enforcement"), subscribe: reads("supervision", "approval"), ...none, pii: true } },
  { code: DEMO.credit, name: "福州市信用平台", uscc: agencyUscc("00354836"), region: "350100", kind: "credit-platform", grants: { publish: publishes("credit"), subscribe: reads("enforcement", "supervision"), ...none } },
  { code: "OPS-350100", name: "福州市审管联动运维", uscc: agencyUscc("00354837"), region: "350100", kind: "operator", grants: { publish: [], subscribe: { families: [...families], regions: ["*"] }, pii: false, audit: true, admin: true } },
  { code: "ZWJD-350100", name: "福州市政务服务监督", uscc: agencyUscc("00354838"), region: "350100", kind: "supervisor", grants: { publish: [], subscribe: { families: ["linkage"], regions: ["350100"] }, pii: false, audit: true, admin: false } },
];

type Inject = (app: Bus["apps"][keyof Bus["apps"]], method: "GET" | "POST", url: string, department: string, body?: object, key?: string) => Promise<{ status: number; body: unknown }>;

export async function seedDemo(bus: Bus, clock: Clock, logger: Logger): Promise<void> {
  // Through the services' own APIs, as the gateway would forward the department's requests.
  const inject: Inject = async (app, method, url, department, body, key) => {
    const res = await app.inject({
      method,
      url,
      headers: { ...bus.vouch(department), ...(key ? { "idempotency-key": key } : {}) },
      ...(body ? { payload: body } : {}),
    });
    return { status: res.statusCode, body: res.json() };
  };
  await seedCases(bus, clock, logger, inject);
}

/**
 * Seeds routes and five cases at different stages through the services' own
 * APIs (so the seed exercises the same paths a department would). Idempotency
 * keys and case ids are fixed: running it again changes nothing.
 */
async function seedCases(bus: Bus, clock: Clock, logger: Logger, inject: Inject): Promise<void> {
  const { approval, supervision, linkage } = bus.apps;
  const today = localDateOf(clock.now());
  const must = (what: string, r: { status: number; body: unknown }) => {
    if (r.status >= 400 && !(r.status === 409 && JSON.stringify(r.body).includes("exists"))) {
      throw new Error(`demo seed: ${what} failed with ${r.status}: ${JSON.stringify(r.body)}`);
    }
    return r.body;
  };

  must("route food", await inject(linkage, "POST", "/routes", "OPS-350100", { itemCode: DEMO.items.food.code, regionCode: "350100", regulator: DEMO.market, claimLimit: { amount: 5, unit: "WORKING_DAYS" }, pushIsClaim: false }, "demo-route-food"));
  must("route hygiene", await inject(linkage, "POST", "/routes", "OPS-350100", { itemCode: DEMO.items.hygiene.code, regionCode: "350100", regulator: DEMO.health, claimLimit: { amount: 3, unit: "WORKING_DAYS" }, pushIsClaim: true }, "demo-route-hygiene"));

  const cases = [
    { id: "DEMO-1", item: DEMO.items.food, uscc: demoUscc(1), name: "福州鼓楼示范餐饮有限公司", commitment: false, deficiency: { missingMaterials: ["经营场所平面图"], supplementDeadline: addDaysIso(today, 10) }, grant: false },
    { id: "DEMO-2", item: DEMO.items.food, uscc: demoUscc(2), name: "福州台江示范食品店", commitment: true, deficiency: null, grant: true },
    { id: "DEMO-3", item: DEMO.items.food, uscc: demoUscc(3), name: "福州仓山示范小吃店", commitment: true, deficiency: null, grant: true },
    { id: "DEMO-4", item: DEMO.items.hygiene, uscc: demoUscc(4), name: "福州晋安示范宾馆", commitment: false, deficiency: null, grant: true },
    { id: "DEMO-5", item: DEMO.items.construction, uscc: demoUscc(5), name: "福州马尾示范建筑有限公司", commitment: false, deficiency: null, grant: true },
  ];
  for (const [i, c] of cases.entries()) {
    must(`accept ${c.id}`, await inject(approval, "POST", "/cases", DEMO.bureau, {
      caseId: c.id,
      applicationNumber: `SL-${c.id}`,
      itemCode: c.item.code,
      itemName: c.item.name,
      applicant: { name: c.name, uscc: c.uscc },
      regionCode: "350102",
      underCommitment: c.commitment,
      deficiency: c.deficiency,
    }, `demo-accept-${c.id}`));
    if (!c.grant) continue;
    must(`grant ${c.id}`, await inject(approval, "POST", `/cases/${c.id}/grant`, DEMO.bureau, {
      licenceId: `JY1350102${String(i + 1).padStart(7, "0")}`,
      elicenceId: buildElicenceId({ typeCode: "11100000000000000123", issuerUscc: BUREAU_USCC, serial: `DEMO${i + 1}`, version: "001" }),
      decisionNumber: `榕审批许〔${today.slice(0, 4)}〕${i + 1}号`,
      licenceContent: c.item.name,
      legalRepresentative: "林某某",
      decisionDate: today,
      validUntil: `${Number(today.slice(0, 4)) + 5}${today.slice(4)}`,
      issuingAuthorityName: "福州市行政审批局",
    }, `demo-grant-${c.id}`));
  }

  // DEMO-3 moves further: its regulator claims it and records a failed inspection.
  const handoffId = `H-JY13501020000003`;
  const inbox = await waitFor(async () => {
    const r = await inject(supervision, "GET", `/handoffs/${handoffId}`, DEMO.market);
    return r.status === 200 ? r.body : undefined;
  }, 30_000);
  if (!inbox) {
    logger.warn({ handoffId }, "demo seed: the handoff did not reach the regulator within 30 s; is the relay running?");
    return;
  }
  must("claim DEMO-3", await inject(supervision, "POST", `/handoffs/${handoffId}/claim`, DEMO.market, {}, "demo-claim-3"));
  must("inspect DEMO-3", await inject(supervision, "POST", `/handoffs/${handoffId}/inspections`, DEMO.market, {
    inspectionDate: today,
    method: "RANDOM",
    result: "NON_COMPLIANT",
    findings: "后厨未做生熟分区",
    handling: "责令限期整改",
    rectificationDue: addDaysIso(today, 15),
  }, "demo-inspect-3"));
  logger.info("demo seeded: cases DEMO-1 … DEMO-5 (accepted, pushed, claimed and inspected, auto-claimed, unrouted)");
}

function addDaysIso(date: string, n: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  return undefined;
}
