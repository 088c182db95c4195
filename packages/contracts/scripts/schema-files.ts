// Reads the .avsc sources. Shared by the generator, the registrar and the tests
// so all three agree on what "the current contracts" are.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const packageRoot = fileURLToPath(new URL("..", import.meta.url));
export const schemasDir = join(packageRoot, "schemas");

export interface SchemaFile {
  readonly family: string;
  readonly file: string;
  readonly fullName: string;
  readonly name: string;
  readonly schema: AvroRecordSchema;
}

export interface AvroField {
  readonly name: string;
  readonly type: unknown;
  readonly doc?: string;
  readonly default?: unknown;
  readonly format?: string;
  readonly pii?: string;
}

export interface AvroRecordSchema {
  readonly type: "record";
  readonly name: string;
  readonly namespace: string;
  readonly doc?: string;
  readonly fields: readonly AvroField[];
}

export function readSchemaFiles(dir = schemasDir): SchemaFile[] {
  const out: SchemaFile[] = [];
  for (const family of readdirSync(dir).sort()) {
    for (const file of readdirSync(join(dir, family)).sort()) {
      if (!file.endsWith(".avsc")) continue;
      const path = join(dir, family, file);
      const schema = JSON.parse(readFileSync(path, "utf8")) as AvroRecordSchema;
      const expectedNamespace = `cn.gov.shenguan.${family}`;
      if (schema.namespace !== expectedNamespace) {
        throw new Error(`${path}: namespace must be ${expectedNamespace}, found ${schema.namespace}`);
      }
      if (`${schema.name}.avsc` !== file) {
        throw new Error(`${path}: file name must be the record name (${schema.name}.avsc)`);
      }
      out.push({ family, file: path, fullName: `${schema.namespace}.${schema.name}`, name: schema.name, schema });
    }
  }
  const names = new Set<string>();
  for (const s of out) {
    if (names.has(s.name)) throw new Error(`event name ${s.name} is used by two families; short names must be unique`);
    names.add(s.name);
  }
  return out;
}
