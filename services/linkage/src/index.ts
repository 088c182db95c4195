export * from "./eventstore.js";
