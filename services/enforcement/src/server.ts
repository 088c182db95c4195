// Enforcement and the credit platform as their own process: `pnpm --filter @shenguan/enforcement start`.
import { runServiceProcess } from "@shenguan/service-kit";
import { buildEnforcementApp } from "./app.js";
import { enforcementConsumers } from "./consumers.js";

await runServiceProcess({
  name: "enforcement",
  defaultPort: 4103,
  build: (rt) => buildEnforcementApp({ ...rt, creditDepartment: process.env["CREDIT_DEPARTMENT"] ?? "XYB-350100" }),
  consumers: (app) => enforcementConsumers(app.enforcement, app.credit),
});
