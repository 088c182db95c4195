export { schemaRegistryPlugin, REGISTRY_ERROR, SCHEMA_REGISTRY_CONTENT_TYPE, type SchemaRegistryPluginOptions } from "./plugin.js";
