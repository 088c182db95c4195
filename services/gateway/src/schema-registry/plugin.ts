import avro from "avsc";
import { registry as defaultRegistry, type RegisteredSchema, type SchemaRegistry } from "@shenguan/contracts";
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";

/**
 * A read-only, Confluent-compatible Schema Registry API served from the
 * committed manifest (packages/contracts/registry/manifest.json), so kcat,
 * Confluent deserializers and any client that speaks the registry protocol
 * decode the bus's topics with the same ids the producers wrote.
 *
 * Subject naming is Confluent's RecordNameStrategy: subject = the Avro full
 * name (`cn.gov.shenguan.approval.LicenceGranted`). A family topic carries
 * several event types, which TopicNameStrategy (one subject per topic) cannot
 * describe; TopicRecordNameStrategy (`<topic>-<full name>`) would tie every
 * subject to a topic name, and topic names carry a deployment prefix, so one
 * contract would need a subject per deployment and per test run. With
 * RecordNameStrategy a contract has one history wherever it travels, and
 * compatibility (BACKWARD_TRANSITIVE) is checked per event type, which is what
 * a consumer of one event type relies on. Deserializers look schemas up by the
 * id in each message, so they work whatever the subject strategy.
 *
 * Errors use Confluent's body (`{error_code, message}`), not problem details:
 * the clients of this API parse that shape.
 */
export interface SchemaRegistryPluginOptions {
  /** Defaults to the manifest committed in @shenguan/contracts. */
  readonly registry?: SchemaRegistry;
}

export const SCHEMA_REGISTRY_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";

/** Confluent's error codes, as its clients switch on them. */
export const REGISTRY_ERROR = {
  subjectNotFound: 40401,
  versionNotFound: 40402,
  schemaNotFound: 40403,
  invalidSchema: 42201,
  invalidVersion: 42202,
  operationNotPermitted: 42205,
} as const;

class RegistryApiError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_VERSION = 2 ** 31 - 1;

export const schemaRegistryPlugin: FastifyPluginAsync<SchemaRegistryPluginOptions> = async (app: FastifyInstance, options) => {
  const registry = options.registry ?? defaultRegistry;
  // Parsing Canonical Form fingerprints per id, for "is this schema registered under this subject?".
  const fingerprints = new Map<number, string>();
  const fingerprintOf = (s: RegisteredSchema) => {
    let f = fingerprints.get(s.id);
    if (f === undefined) {
      f = avro.Type.forSchema(s.schema as avro.Schema).fingerprint("sha256").toString("hex");
      fingerprints.set(s.id, f);
    }
    return f;
  };

  const parseJson = app.getDefaultJsonParser("error", "error");
  app.addContentTypeParser(["application/vnd.schemaregistry.v1+json", "application/vnd.schemaregistry+json"], { parseAs: "string" }, parseJson);

  // Encapsulated: these handlers apply to this plugin's routes only, never to the gateway's problem details.
  app.setErrorHandler((err: unknown, _request, reply) => {
    if (err instanceof RegistryApiError) return send(reply.code(err.status), { error_code: err.errorCode, message: err.message });
    const status = typeof (err as { statusCode?: unknown }).statusCode === "number" ? (err as { statusCode: number }).statusCode : 500;
    return send(reply.code(status), { error_code: status >= 500 ? 50001 : status, message: (err as Error).message });
  });
  app.setNotFoundHandler((request, reply) => send(reply.code(404), { error_code: 404, message: `HTTP 404 Not Found: ${request.method} ${request.url}` }));

  const subjectOf = (request: FastifyRequest) => {
    const subject = (request.params as { subject: string }).subject;
    if (!registry.manifest.subjects[subject]?.length) {
      throw new RegistryApiError(404, REGISTRY_ERROR.subjectNotFound, `Subject '${subject}' not found.`);
    }
    return subject;
  };
  const versionOf = (request: FastifyRequest, subject: string): RegisteredSchema => {
    const raw = (request.params as { version: string }).version;
    if (raw === "latest" || raw === "-1") return registry.latest(subject);
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > MAX_VERSION) {
      throw new RegistryApiError(
        422,
        REGISTRY_ERROR.invalidVersion,
        `The specified version '${raw}' is not a valid version id. Allowed values are between [1, ${MAX_VERSION}] and the string "latest"`,
      );
    }
    const found = registry.versions(subject).find((v) => v.version === n);
    if (!found) throw new RegistryApiError(404, REGISTRY_ERROR.versionNotFound, `Version ${n} not found.`);
    return { subject, ...found };
  };
  const byId = (request: FastifyRequest): RegisteredSchema => {
    const raw = (request.params as { id: string }).id;
    const id = /^\d+$/.test(raw) ? Number(raw) : NaN;
    const found = Number.isSafeInteger(id) ? findId(registry, id) : undefined;
    if (!found) throw new RegistryApiError(404, REGISTRY_ERROR.schemaNotFound, `Schema ${raw} not found`);
    return found;
  };
  const asResponse = (s: RegisteredSchema) => ({ subject: s.subject, version: s.version, id: s.id, schema: JSON.stringify(s.schema) });

  const hidden = { schema: { hide: true } };
  app.get("/subjects", hidden, async (_request, reply) => send(reply, registry.subjects()));
  app.get("/subjects/:subject/versions", hidden, async (request, reply) => send(reply, registry.versions(subjectOf(request)).map((v) => v.version)));
  app.get("/subjects/:subject/versions/:version", hidden, async (request, reply) =>
    send(reply, asResponse(versionOf(request, subjectOf(request)))),
  );
  app.get("/subjects/:subject/versions/:version/schema", hidden, async (request, reply) =>
    send(reply, versionOf(request, subjectOf(request)).schema),
  );
  app.get("/schemas/ids/:id", hidden, async (request, reply) => send(reply, { schema: JSON.stringify(byId(request).schema) }));
  app.get("/schemas/ids/:id/schema", hidden, async (request, reply) => send(reply, byId(request).schema));
  app.get("/schemas/ids/:id/versions", hidden, async (request, reply) => {
    const s = byId(request);
    return send(reply, [{ subject: s.subject, version: s.version }]);
  });
  app.get("/schemas/ids/:id/subjects", hidden, async (request, reply) => send(reply, [byId(request).subject]));
  app.get("/schemas/types", hidden, async (_request, reply) => send(reply, ["AVRO"]));
  app.get("/config", hidden, async (_request, reply) => send(reply, { compatibilityLevel: registry.manifest.compatibility }));
  app.get("/config/:subject", hidden, async (request, reply) => {
    subjectOf(request);
    return send(reply, { compatibilityLevel: registry.manifest.compatibility });
  });
  app.get("/mode", hidden, async (_request, reply) => send(reply, { mode: "READONLY" }));

  // Looking a schema up is not a change: serializers with auto-registration off call this to find the id.
  app.post("/subjects/:subject", hidden, async (request, reply) => {
    const subject = subjectOf(request);
    const candidate = (request.body as { schema?: unknown } | undefined)?.schema;
    let fingerprint: string;
    try {
      if (typeof candidate !== "string") throw new Error("body.schema must be the schema as a JSON string");
      fingerprint = avro.Type.forSchema(JSON.parse(candidate) as avro.Schema).fingerprint("sha256").toString("hex");
    } catch (err) {
      throw new RegistryApiError(422, REGISTRY_ERROR.invalidSchema, `Invalid schema: ${(err as Error).message}`);
    }
    const match = registry
      .versions(subject)
      .map((v) => ({ subject, ...v }))
      .find((v) => fingerprintOf(v) === fingerprint);
    if (!match) throw new RegistryApiError(404, REGISTRY_ERROR.schemaNotFound, "Schema not found");
    return send(reply, asResponse(match));
  });

  // The manifest changes only through a reviewed commit (scripts/register.ts), never through this API.
  const readOnly = async (request: FastifyRequest) => {
    const subject = (request.params as { subject?: string }).subject;
    throw new RegistryApiError(
      422,
      REGISTRY_ERROR.operationNotPermitted,
      subject ? `Subject ${subject} is in read-only mode` : "The schema registry is in read-only mode",
    );
  };
  app.post("/subjects/:subject/versions", hidden, readOnly);
  app.delete("/subjects/:subject", hidden, readOnly);
  app.delete("/subjects/:subject/versions/:version", hidden, readOnly);
  app.put("/config", hidden, readOnly);
  app.put("/config/:subject", hidden, readOnly);
  app.put("/mode", hidden, readOnly);
};

function findId(registry: SchemaRegistry, id: number): RegisteredSchema | undefined {
  try {
    return registry.get(id);
  } catch {
    return undefined;
  }
}

function send(reply: FastifyReply, body: unknown) {
  // A Buffer, so fastify does not append a charset: clients compare the media type as Confluent sends it.
  return reply.type(SCHEMA_REGISTRY_CONTENT_TYPE).send(Buffer.from(JSON.stringify(body)));
}
