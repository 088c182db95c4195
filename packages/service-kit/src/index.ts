export * from "./app.js";
export * from "./clock.js";
export * from "./errors.js";
export * from "./identity.js";
export * from "./idempotency.js";
export * from "./problems.js";
export * from "./process.js";
export * from "./command.js";
