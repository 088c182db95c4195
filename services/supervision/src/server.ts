// The regulators' service as its own process: `pnpm --filter @shenguan/supervision start`.
import { runServiceProcess } from "@shenguan/service-kit";
import { buildSupervisionApp } from "./app.js";
import { supervisionConsumers } from "./consumers.js";

await runServiceProcess({
  name: "supervision",
  defaultPort: 4102,
  build: (rt) => buildSupervisionApp(rt),
  consumers: (app) => supervisionConsumers(app.handoffs),
});
