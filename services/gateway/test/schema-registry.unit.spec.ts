import { catalog, manifest } from "@shenguan/contracts";
import { createServiceApp, type ServiceApp } from "@shenguan/service-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { schemaRegistryPlugin, SCHEMA_REGISTRY_CONTENT_TYPE } from "../src/schema-registry/index.js";

describe("Schema Registry API (read-only, Confluent-compatible)", () => {
  let app: ServiceApp;
  beforeAll(async () => {
    app = await createServiceApp({ name: "gateway-test", description: "test", logger: false, authentication: "own" });
    await app.register(schemaRegistryPlugin, { prefix: "/schema-registry" });
    await app.ready();
  });
  afterAll(() => app.close());

  const get = async (url: string) => {
    const res = await app.inject({ method: "GET", url: `/schema-registry${url}` });
    expect(res.headers["content-type"]).toBe(SCHEMA_REGISTRY_CONTENT_TYPE);
    return { status: res.statusCode, body: res.json() as unknown };
  };

  it("lists every contract as a subject (RecordNameStrategy: the Avro full name)", async () => {
    const { status, body } = await get("/subjects");
    expect(status).toBe(200);
    expect(body).toEqual(Object.values(catalog).map((c) => c.fullName).sort());
  });

  it("serves versions, a version, latest and the raw schema", async () => {
    const subject = "cn.gov.shenguan.linkage.HandoffPushed";
    expect(await get(`/subjects/${subject}/versions`)).toEqual({ status: 200, body: [1, 2] });
    const v1 = await get(`/subjects/${subject}/versions/1`);
    expect(v1.body).toEqual({ subject, version: 1, id: 15, schema: JSON.stringify(manifest.subjects[subject]![0]!.schema) });
    expect((await get(`/subjects/${subject}/versions/latest`)).body).toMatchObject({ subject, version: 2, id: 25 });
    expect((await get(`/subjects/${subject}/versions/-1`)).body).toMatchObject({ version: 2 });
    expect((await get(`/subjects/${subject}/versions/2/schema`)).body).toEqual(catalog.HandoffPushed.schema);
  });

  it("serves schemas by global id, with the subjects and versions that use them", async () => {
    const { body } = await get("/schemas/ids/5");
    expect(JSON.parse((body as { schema: string }).schema)).toEqual(catalog.LicenceGranted.schema);
    expect((await get("/schemas/ids/26/versions")).body).toEqual([{ subject: "cn.gov.shenguan.supervision.CommitmentVerified", version: 2 }]);
    expect((await get("/schemas/ids/26/subjects")).body).toEqual(["cn.gov.shenguan.supervision.CommitmentVerified"]);
    expect((await get("/config")).body).toEqual({ compatibilityLevel: "BACKWARD_TRANSITIVE" });
    expect((await get("/schemas/types")).body).toEqual(["AVRO"]);
    expect((await get("/mode")).body).toEqual({ mode: "READONLY" });
  });

  it("answers unknown subjects, versions and ids with Confluent's error codes", async () => {
    expect(await get("/subjects/nope/versions")).toEqual({ status: 404, body: { error_code: 40401, message: "Subject 'nope' not found." } });
    expect(await get("/subjects/cn.gov.shenguan.approval.LicenceGranted/versions/9")).toEqual({
      status: 404,
      body: { error_code: 40402, message: "Version 9 not found." },
    });
    expect(await get("/schemas/ids/999")).toEqual({ status: 404, body: { error_code: 40403, message: "Schema 999 not found" } });
    expect(await get("/schemas/ids/abc")).toMatchObject({ status: 404, body: { error_code: 40403 } });
    expect(await get("/subjects/cn.gov.shenguan.approval.LicenceGranted/versions/0")).toMatchObject({ status: 422, body: { error_code: 42202 } });
  });

  it("finds the id of a registered schema and refuses every change", async () => {
    const subject = "cn.gov.shenguan.supervision.CommitmentVerified";
    const v1 = manifest.subjects[subject]![0]!.schema;
    const lookup = await app.inject({
      method: "POST",
      url: `/schema-registry/subjects/${subject}`,
      headers: { "content-type": SCHEMA_REGISTRY_CONTENT_TYPE },
      payload: JSON.stringify({ schema: JSON.stringify(v1) }),
    });
    expect(lookup.json()).toMatchObject({ subject, version: 1, id: 17 });
    const unknown = await app.inject({
      method: "POST",
      url: `/schema-registry/subjects/${subject}`,
      payload: { schema: JSON.stringify({ type: "record", name: "X", fields: [] }) },
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ error_code: 40403 });

    const register = await app.inject({
      method: "POST",
      url: `/schema-registry/subjects/${subject}/versions`,
      payload: { schema: JSON.stringify(v1) },
    });
    expect(register.statusCode).toBe(422);
    expect(register.json()).toEqual({ error_code: 42205, message: `Subject ${subject} is in read-only mode` });
    expect((await app.inject({ method: "DELETE", url: `/schema-registry/subjects/${subject}` })).json()).toMatchObject({ error_code: 42205 });
    expect((await app.inject({ method: "PUT", url: "/schema-registry/config", payload: { compatibility: "NONE" } })).json()).toMatchObject({
      error_code: 42205,
    });
  });

  it("leaves the rest of the app on problem details", async () => {
    const res = await app.inject({ method: "GET", url: "/nowhere" });
    expect(res.headers["content-type"]).toContain("application/problem+json");
  });
});
