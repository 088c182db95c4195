export * from "./port.js";
export * from "./errors.js";
export * from "./decider.js";
export * from "./command-handler.js";
export * from "./decider-spec.js";
