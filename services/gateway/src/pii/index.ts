export { mask, personalPaths, PiiProtector, type PiiConfig, type PiiKeyRing, type PiiMode, type Protected } from "./protect.js";
export { piiPlugin, type PiiPluginOptions } from "./plugin.js";
