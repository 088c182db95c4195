import type avro from "avsc";
import { ContractViolationError, UnknownSchemaError, WireFormatError, type ValidationIssue } from "./errors.js";
import { catalog } from "./generated/catalog.js";
import type { EventName, EventPayloads } from "./generated/types.js";
import { registry as defaultRegistry, type SchemaRegistry } from "./registry.js";
import { HEADER_LENGTH, readSchemaId, writeHeader } from "./wire.js";

export interface DecodedEvent<N extends EventName = EventName> {
  readonly name: N;
  readonly payload: EventPayloads[N];
  /** The writer's schema id; differs from the current one when an older producer wrote it. */
  readonly schemaId: number;
}

interface Reader {
  readonly name: EventName;
  readonly type: avro.Type;
  /** Present when the writer's schema is an older version than the reader's. */
  readonly resolver: avro.Resolver | undefined;
}

const byFullName = new Map<string, EventName>(
  (Object.keys(catalog) as EventName[]).map((name) => [catalog[name].fullName, name]),
);

/**
 * Encodes contract payloads to Confluent-framed Avro with the current schema
 * and decodes frames written with any registered version into the current
 * shape (avsc's resolver), so producers and consumers upgrade independently.
 */
export class ContractCodec {
  private readonly writers = new Map<EventName, { id: number; type: avro.Type }>();
  private readonly readers = new Map<number, Reader>();
  // Encoding goes into one reused scratch buffer and is copied out once:
  // allocation per message is what makes a naive Avro path lose to JSON.
  private scratch = Buffer.allocUnsafe(64 * 1024);

  constructor(private readonly registry: SchemaRegistry = defaultRegistry) {}

  /** The schema id new messages of this event are written with. */
  schemaIdOf(name: EventName): number {
    return this.writer(name).id;
  }

  encode<N extends EventName>(name: N, payload: EventPayloads[N]): Buffer {
    const { id, type } = this.writer(name);
    let end: number;
    try {
      end = type.encode(payload, this.scratch, HEADER_LENGTH);
    } catch {
      throw new ContractViolationError(name, avroIssues(type, payload));
    }
    if (end < 0) {
      this.scratch = Buffer.allocUnsafe(Math.max(this.scratch.length * 2, this.scratch.length - end + HEADER_LENGTH));
      return this.encode(name, payload);
    }
    writeHeader(this.scratch, id);
    return Buffer.from(this.scratch.subarray(0, end));
  }

  decode(frame: Buffer): DecodedEvent {
    const schemaId = readSchemaId(frame);
    const reader = this.reader(schemaId);
    let decoded: { value: unknown; offset: number };
    try {
      decoded = reader.type.decode(frame, HEADER_LENGTH, reader.resolver);
    } catch (err) {
      throw new WireFormatError(`body does not decode with schema id ${schemaId} (${reader.name}): ${(err as Error).message}`);
    }
    if (decoded.offset !== frame.length) {
      throw new WireFormatError(
        decoded.offset < 0
          ? `body is truncated for schema id ${schemaId} (${reader.name})`
          : `${frame.length - decoded.offset} trailing bytes after a ${reader.name} body`,
      );
    }
    return { name: reader.name, payload: decoded.value as EventPayloads[EventName], schemaId };
  }

  private writer(name: EventName) {
    let w = this.writers.get(name);
    if (!w) {
      const entry = catalog[name];
      if (!entry) throw new UnknownSchemaError(`no contract named ${name}`);
      const id = this.registry.latest(entry.fullName).id;
      w = { id, type: this.registry.typeOf(id) };
      this.writers.set(name, w);
    }
    return w;
  }

  private reader(writerId: number): Reader {
    let r = this.readers.get(writerId);
    if (!r) {
      const written = this.registry.get(writerId);
      const name = byFullName.get(written.subject);
      if (!name) throw new UnknownSchemaError(`schema id ${writerId} (${written.subject}) is not a contract this package knows`);
      const current = this.writer(name);
      const writerType = this.registry.typeOf(writerId);
      r = {
        name,
        type: current.type,
        resolver: current.id === writerId ? undefined : current.type.createResolver(writerType),
      };
      this.readers.set(writerId, r);
    }
    return r;
  }
}

/** Field paths and reasons for a value Avro refuses, for an error a person can act on. */
export function avroIssues(type: avro.Type, value: unknown): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  type.isValid(value, {
    noUndeclaredFields: true,
    errorHook(path: string[], any: unknown, t: avro.Type) {
      const expected = typeof t.typeName === "string" ? t.typeName : String(t);
      issues.push({
        path: path.join("."),
        rule: any === undefined ? "required" : `avro.${expected}`,
        message: any === undefined ? "is required" : `must be ${describeType(t)}, got ${JSON.stringify(any)}`,
      });
    },
  });
  return issues.length > 0 ? issues : [{ path: "", rule: "avro", message: "does not encode with its Avro schema" }];
}

function describeType(t: avro.Type): string {
  const { symbols, types } = t as unknown as { symbols?: string[]; types?: avro.Type[] };
  if (t.typeName === "enum" && symbols) return `one of ${symbols.join(", ")}`;
  if (t.typeName.startsWith("union") && types) return types.map((x) => x.typeName).join(" or ");
  return `an Avro ${t.typeName}`;
}
