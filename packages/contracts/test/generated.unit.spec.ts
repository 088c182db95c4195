import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generatedFiles } from "../scripts/generate.js";
import { packageRoot } from "../scripts/schema-files.js";

describe("generated code and AsyncAPI document", () => {
  it.each(Object.entries(generatedFiles()))("%s matches the schemas (run `pnpm --filter @shenguan/contracts generate`)", (file, text) => {
    expect(readFileSync(join(packageRoot, file), "utf8")).toBe(text);
  });

  it("AsyncAPI document is 3.0 with one channel per family and Avro 1.9.0 payloads", () => {
    const doc = JSON.parse(readFileSync(join(packageRoot, "asyncapi.json"), "utf8"));
    expect(doc.asyncapi).toBe("3.0.0");
    expect(doc.channels.approval.address).toBe("shenguan.approval.v1");
    expect(doc.channels.approvalDeadLetter.address).toBe("shenguan.approval.v1.dlq");
    expect(Object.keys(doc.channels.approval.messages)).toContain("LicenceGranted");
    const granted = doc.components.messages.LicenceGranted;
    expect(granted.payload.schemaFormat).toBe("application/vnd.apache.avro;version=1.9.0");
    expect(granted.payload.schema.name).toBe("LicenceGranted");
    expect(granted.headers.required).toContain("ce_subject");
  });
});
