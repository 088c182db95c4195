// The approval service as its own process: `pnpm --filter @shenguan/approval start`.
// Its 告知承诺 gate asks linkage over HTTP (LINKAGE_URL) for the applicant's credit standing.
import { runServiceProcess } from "@shenguan/service-kit";
import { buildApprovalApp } from "./app.js";
import { approvalConsumers } from "./consumers.js";
import { httpEligibility } from "./licence/eligibility-client.js";

await runServiceProcess({
  name: "approval",
  defaultPort: 4101,
  build: (rt) => buildApprovalApp({ ...rt, eligibility: httpEligibility(process.env["LINKAGE_URL"] ?? "http://127.0.0.1:4104") }),
  consumers: (app) => approvalConsumers(app.licences),
});
