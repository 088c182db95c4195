// Appends a new manifest version for every schema file that differs from its
// subject's latest version, after the BACKWARD_TRANSITIVE gate. Never edits or
// removes a published version: ids are forever.
//   pnpm --filter @shenguan/contracts register
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertBackwardTransitive, type RegistryManifest, type SchemaVersion } from "../src/registry.js";
import { packageRoot, readSchemaFiles, type SchemaFile } from "./schema-files.js";

export const manifestPath = join(packageRoot, "registry", "manifest.json");

/** Pure: the manifest after registering `files`; throws IncompatibleSchemaError on a breaking change. */
export function registerAll(manifest: RegistryManifest, files: readonly SchemaFile[]): { manifest: RegistryManifest; added: string[] } {
  const subjects: Record<string, SchemaVersion[]> = {};
  for (const [k, v] of Object.entries(manifest.subjects)) subjects[k] = [...v];
  let nextId = Math.max(0, ...Object.values(subjects).flat().map((v) => v.id)) + 1;
  const added: string[] = [];
  for (const f of files) {
    const versions = subjects[f.fullName] ?? [];
    const latest = versions[versions.length - 1];
    if (latest && JSON.stringify(latest.schema) === JSON.stringify(f.schema)) continue;
    assertBackwardTransitive(f.fullName, f.schema, versions);
    const version = (latest?.version ?? 0) + 1;
    versions.push({ version, id: nextId, schema: f.schema });
    subjects[f.fullName] = versions;
    added.push(`${f.fullName} v${version} id ${nextId}`);
    nextId += 1;
  }
  return { manifest: { compatibility: "BACKWARD_TRANSITIVE", subjects }, added };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const current = JSON.parse(readFileSync(manifestPath, "utf8")) as RegistryManifest;
  const { manifest, added } = registerAll(current, readSchemaFiles());
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(added.length ? `registered:\n  ${added.join("\n  ")}` : "nothing changed");
}
