import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { registerAll } from "../scripts/register.js";
import { readSchemaFiles, type SchemaFile } from "../scripts/schema-files.js";
import { ContractCodec, IncompatibleSchemaError, manifest, SchemaRegistry, assertBackwardTransitive, sampleOf, encodeFrame } from "../src/index.js";
import avro from "avsc";

const files = readSchemaFiles();

describe("registry manifest", () => {
  it("holds every schema file as its subject's latest version (run `pnpm --filter @shenguan/contracts register`)", () => {
    const { added } = registerAll(manifest, files);
    expect(added).toEqual([]);
  });

  it("every subject's latest version reads all earlier versions (BACKWARD_TRANSITIVE)", () => {
    for (const [subject, versions] of Object.entries(manifest.subjects)) {
      const latest = versions[versions.length - 1]!;
      expect(() => assertBackwardTransitive(subject, latest.schema, versions.slice(0, -1))).not.toThrow();
    }
  });

  it("ids are unique and versions count up from 1", () => {
    const ids = Object.values(manifest.subjects).flat().map((v) => v.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const versions of Object.values(manifest.subjects)) {
      expect(versions.map((v) => v.version)).toEqual(versions.map((_, i) => i + 1));
    }
  });

  it("is append-only: every version committed at HEAD is still there, unchanged", () => {
    let committed: string;
    try {
      committed = execFileSync("git", ["show", "HEAD:packages/contracts/registry/manifest.json"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    } catch {
      return; // first commit of the manifest, or not a git checkout (an installed package): nothing to compare against
    }
    const before = JSON.parse(committed) as typeof manifest;
    for (const [subject, versions] of Object.entries(before.subjects)) {
      expect(manifest.subjects[subject]?.slice(0, versions.length), subject).toEqual(versions);
    }
  });
});

function withFields(f: SchemaFile, extra: object[]): SchemaFile {
  return { ...f, schema: { ...f.schema, fields: [...f.schema.fields, ...extra] } as SchemaFile["schema"] };
}

describe("compatibility gate", () => {
  const granted = files.find((f) => f.name === "LicenceGranted")!;

  it("rejects a new required field without a default", () => {
    const changed = withFields(granted, [{ name: "riskLevel", type: "string" }]);
    expect(() => registerAll(manifest, [changed])).toThrow(IncompatibleSchemaError);
    expect(() => registerAll(manifest, [changed])).toThrow(/riskLevel/);
  });

  it("rejects a removed enum symbol that old data may carry", () => {
    const inspected = files.find((f) => f.name === "InspectionRecorded")!;
    const fields = inspected.schema.fields.map((fl) =>
      fl.name === "method" ? { ...fl, type: { type: "enum", name: "InspectionMethod", symbols: ["RANDOM", "TARGETED"] } } : fl,
    );
    const changed = { ...inspected, schema: { ...inspected.schema, fields } } as SchemaFile;
    expect(() => registerAll(manifest, [changed])).toThrow(IncompatibleSchemaError);
  });

  it("accepts an optional field with a default as a new version, and old data decodes with the new reader", () => {
    const changed = withFields(granted, [{ name: "riskLevel", type: ["null", "string"], default: null }]);
    const { manifest: next, added } = registerAll(manifest, [changed]);
    expect(added).toHaveLength(1);
    const versions = next.subjects[granted.fullName]!;
    expect(versions).toHaveLength(manifest.subjects[granted.fullName]!.length + 1);

    // A frame written by the previous version decodes into the new shape, the new field defaulted.
    const oldVersion = versions[versions.length - 2]!;
    const oldBody = avro.Type.forSchema(oldVersion.schema as avro.Schema).toBuffer(sampleOf("LicenceGranted"));
    const codec = new ContractCodec(new SchemaRegistry(next));
    const decoded = codec.decode(encodeFrame(oldVersion.id, oldBody));
    expect(decoded.schemaId).toBe(oldVersion.id);
    expect(decoded.payload).toEqual({ ...sampleOf("LicenceGranted"), riskLevel: null });
  });
});
