import avro from "avsc";
import manifestJson from "../registry/manifest.json" with { type: "json" };
import { IncompatibleSchemaError, UnknownSchemaError } from "./errors.js";
import { fastStringHook } from "./fast-string.js";

/**
 * The committed schema registry manifest: subject (Avro full name, i.e.
 * Confluent's RecordNameStrategy) → versions → global id. Append-only: ids and
 * published versions never change, so a consumer built years ago still decodes
 * what it reads, and the read-only Schema Registry API serves the same ids.
 */
export interface RegistryManifest {
  readonly compatibility: "BACKWARD_TRANSITIVE";
  readonly subjects: Readonly<Record<string, readonly SchemaVersion[]>>;
}

export interface SchemaVersion {
  readonly version: number;
  readonly id: number;
  readonly schema: object;
}

export interface RegisteredSchema extends SchemaVersion {
  readonly subject: string;
}

/** Indexes a manifest by id and by subject; types are parsed once and cached. */
export class SchemaRegistry {
  private readonly byId = new Map<number, RegisteredSchema>();
  private readonly types = new Map<number, avro.Type>();

  constructor(readonly manifest: RegistryManifest) {
    for (const [subject, versions] of Object.entries(manifest.subjects)) {
      for (const v of versions) this.byId.set(v.id, { subject, ...v });
    }
  }

  subjects(): string[] {
    return Object.keys(this.manifest.subjects).sort();
  }

  versions(subject: string): readonly SchemaVersion[] {
    const versions = this.manifest.subjects[subject];
    if (!versions || versions.length === 0) throw new UnknownSchemaError(`subject ${subject} is not in the registry manifest`);
    return versions;
  }

  latest(subject: string): RegisteredSchema {
    const versions = this.versions(subject);
    return { subject, ...versions[versions.length - 1]! };
  }

  byVersion(subject: string, version: number): RegisteredSchema {
    const v = this.versions(subject).find((x) => x.version === version);
    if (!v) throw new UnknownSchemaError(`subject ${subject} has no version ${version}`);
    return { subject, ...v };
  }

  get(id: number): RegisteredSchema {
    const s = this.byId.get(id);
    if (!s) throw new UnknownSchemaError(`schema id ${id} is not in the registry manifest`);
    return s;
  }

  typeOf(id: number): avro.Type {
    let t = this.types.get(id);
    if (!t) {
      t = avro.Type.forSchema(this.get(id).schema as avro.Schema, { typeHook: fastStringHook });
      this.types.set(id, t);
    }
    return t;
  }
}

export const manifest = manifestJson as unknown as RegistryManifest;
export const registry = new SchemaRegistry(manifest);

/**
 * BACKWARD compatibility of one pair: data written with `writer` can be read
 * with `reader` (Avro schema resolution). Returns why not, or undefined.
 */
export function backwardIncompatibility(reader: object, writer: object): string | undefined {
  try {
    avro.Type.forSchema(reader as avro.Schema).createResolver(avro.Type.forSchema(writer as avro.Schema));
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * The gate every schema change passes: the candidate must read data written
 * with every earlier version of its subject (BACKWARD_TRANSITIVE).
 */
export function assertBackwardTransitive(subject: string, candidate: object, earlier: readonly SchemaVersion[]): void {
  const problems = earlier
    .map((v) => ({ v, why: backwardIncompatibility(candidate, v.schema) }))
    .filter((p) => p.why !== undefined)
    .map((p) => `cannot read version ${p.v.version} (id ${p.v.id}): ${p.why}`);
  if (problems.length > 0) {
    throw new IncompatibleSchemaError(`${subject} is not BACKWARD_TRANSITIVE compatible: ${problems.join("; ")}`);
  }
}
