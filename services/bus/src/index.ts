export { startBus, type Bus, type BusOptions } from "./bus.js";
export { readConfig, type BusConfig } from "./config.js";
export { seedDemo, demoUscc, DEMO } from "./seed.js";
