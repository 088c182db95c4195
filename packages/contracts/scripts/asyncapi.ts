// Builds the AsyncAPI 3.0 document from the contracts: one channel per family
// topic, one message per Avro schema. Written by `generate`; a unit test fails
// when the committed asyncapi.json is stale.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot, type SchemaFile } from "./schema-files.js";

const AVRO_FORMAT = "application/vnd.apache.avro;version=1.9.0";

const ceHeaders = {
  type: "object",
  required: ["ce_id", "ce_source", "ce_type", "ce_specversion", "ce_time", "ce_subject", "content-type"],
  properties: {
    ce_id: { type: "string", description: "Unique event id (UUIDv7); consumers deduplicate on it." },
    ce_source: { type: "string", description: "Publishing department, /departments/<code>." },
    ce_type: { type: "string", description: "Avro full name of the payload schema." },
    ce_specversion: { type: "string", const: "1.0" },
    ce_time: { type: "string", format: "date-time" },
    ce_subject: { type: "string", description: "Ordering key: USCC or case id; equals the Kafka key." },
    "content-type": { type: "string", const: "application/avro" },
    traceparent: { type: "string", description: "W3C trace context, when present." },
  },
};

export function asyncApiDocument(files: readonly SchemaFile[]): object {
  const version = (JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string }).version;
  const families = [...new Set(files.map((f) => f.family))];
  const channels: Record<string, object> = {};
  const operations: Record<string, object> = {};
  const messages: Record<string, object> = {};
  for (const family of families) {
    const own = files.filter((f) => f.family === family);
    channels[family] = {
      address: `shenguan.${family}.v1`,
      title: `${family} events`,
      messages: Object.fromEntries(own.map((f) => [f.name, { $ref: `#/components/messages/${f.name}` }])),
    };
    channels[`${family}DeadLetter`] = {
      address: `shenguan.${family}.v1.dlq`,
      title: `${family} dead letters`,
      description: "Messages a consumer could not decode or process, unchanged, with the reason in the x-dlq-reason header.",
    };
    operations[`receive${family[0]!.toUpperCase()}${family.slice(1)}`] = {
      action: "receive",
      channel: { $ref: `#/channels/${family}` },
      messages: own.map((f) => ({ $ref: `#/channels/${family}/messages/${f.name}` })),
    };
  }
  for (const f of files) {
    messages[f.name] = {
      name: f.name,
      title: f.fullName,
      ...(f.schema.doc ? { summary: f.schema.doc } : {}),
      contentType: "application/avro",
      headers: ceHeaders,
      bindings: { kafka: { key: { type: "string" }, schemaIdLocation: "payload", schemaIdPayloadEncoding: "confluent", bindingVersion: "0.5.0" } },
      payload: { schemaFormat: AVRO_FORMAT, schema: f.schema },
    };
  }
  return {
    asyncapi: "3.0.0",
    info: {
      title: "shenguan 审管联动 event bus",
      version,
      description: "Approval, linkage, supervision, enforcement and credit events exchanged between departments. Values are Confluent-framed Avro (magic byte, 4-byte schema id, body); attributes are CloudEvents Kafka binary-mode headers.",
    },
    defaultContentType: "application/avro",
    servers: { local: { host: "127.0.0.1:9092", protocol: "kafka", description: "The development broker started by infra/kafka/start.sh" } },
    channels,
    operations,
    components: { messages },
  };
}
