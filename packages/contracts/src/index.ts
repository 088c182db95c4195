/**
 * @shenguan/contracts — what integrators install: the Avro contracts of the
 * 审管联动 bus, their TypeScript types and zod validators, the Confluent wire
 * codec, CloudEvents Kafka headers, topic names and identifier validation.
 */
export * from "./errors.js";
export * from "./generated/types.js";
export * from "./generated/validators.js";
export { catalog } from "./generated/catalog.js";
export * from "./registry.js";
export * from "./wire.js";
export * from "./codec.js";
export * from "./cloudevents.js";
export * from "./topics.js";
export * from "./pii.js";
export * from "./personal-data.js";
export * from "./formats.js";
export * from "./validate.js";
export * from "./samples.js";
export * from "./identifiers/index.js";
