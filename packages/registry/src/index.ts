export * from "./commands.js";
export * from "./department.js";
export * from "./registry.js";
