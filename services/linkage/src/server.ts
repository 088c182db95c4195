// The linkage service as its own process: `pnpm --filter @shenguan/linkage start`.
//   TICK_INTERVAL_MS  deadline timer period (default 5000); YELLOW_SHARE (default 0.8);
//   CARD_GRACE_MS     how long after midnight the day's cards wait for facts in flight (default 900000)
import { runServiceProcess } from "@shenguan/service-kit";
import { buildLinkageApp } from "./app.js";
import { linkageConsumers } from "./consumers.js";

await runServiceProcess({
  name: "linkage",
  defaultPort: 4104,
  build: (rt) =>
    buildLinkageApp({
      ...rt,
      ...(process.env["YELLOW_SHARE"] ? { yellowShare: Number(process.env["YELLOW_SHARE"]) } : {}),
      ...(process.env["CARD_GRACE_MS"] ? { cardGraceMs: Number(process.env["CARD_GRACE_MS"]) } : {}),
    }),
  consumers: (app) => linkageConsumers(app.linkage.handle),
  every: { ms: Number(process.env["TICK_INTERVAL_MS"] ?? 5_000), run: (app) => app.linkage.tick() },
});
