import { payloadValidators, validatePayload, type EventName, type EventPayloads } from "@shenguan/contracts";

/**
 * The generated zod validators, compiled into plain checks for the relay's
 * hot path. zod's per-node overhead was the relay's largest cost per event
 * (~7 µs); the rules it enforces are mostly structure (strict objects,
 * strings, booleans, enums, arrays, nullables), which a direct check decides
 * at a fraction of that.
 *
 * Sound by construction: it walks the very zod schema validatePayload uses.
 * A node it recognises exactly (strict object, unrefined string / boolean,
 * string enum, array, nullable; no checks, coercion or custom errors) becomes
 * a direct check as strict as zod's; every other node (numbers with their
 * int/range checks, strings carrying a `format` refinement: dates, USCC,
 * region, item code, e-licence id) is handed to that node's own zod schema
 * (a string one remembers the strings it accepted: its rules are pure).
 * The relay still calls validatePayload for anything this rejects, so a
 * refused event is parked with zod's own issues, and an accepted one
 * is exactly what zod accepts (fast-validate.unit.spec.ts checks this over
 * sampleOf() variants and their mutations). zod returns a copy of an
 * accepted value without transforming it (no transforms in the generated
 * schemas; a transform would be a node handed to zod, whose output this
 * does not use, so compile() refuses them), so the input itself is returned.
 */
type Check = (value: unknown) => boolean;

interface ZodLike {
  readonly _zod: { readonly def: Record<string, unknown> & { readonly type: string } };
  safeParse(value: unknown): { success: boolean };
}

function onlyKeys(def: Record<string, unknown>, allowed: readonly string[]): boolean {
  return Object.keys(def).every((k) => allowed.includes(k));
}

function delegate(schema: ZodLike): Check {
  const { type } = schema._zod.def;
  // Nodes whose output differs from their input: our accepted value would not be zod's.
  if (type === "transform" || type === "pipe" || type === "default" || type === "prefault" || type === "catch") {
    throw new Error(`fast validator: zod node "${type}" changes values; not supported`);
  }
  if (type !== "string") return (value) => schema.safeParse(value).success;
  // A string with refinements: the `format`s, pure functions of the string
  // (calendar dates, check digits, code tables). Identifiers and dates recur
  // across events (applicants, authorities, regions, items, decision dates),
  // so remember the strings accepted, a bounded number of them.
  const accepted = new Set<string>();
  return (value) => {
    if (typeof value === "string" && accepted.has(value)) return true;
    if (!schema.safeParse(value).success) return false;
    if (accepted.size >= ACCEPTED_STRINGS_PER_FORMAT) accepted.clear();
    accepted.add(value as string);
    return true;
  };
}

/** Bounds the memory of delegate()'s memo: a few hundred kB per formatted field at most. */
const ACCEPTED_STRINGS_PER_FORMAT = 4096;

export function compile(schema: ZodLike): Check {
  const def = schema._zod.def;
  switch (def.type) {
    case "object": {
      const catchall = def.catchall as ZodLike | undefined;
      if (!onlyKeys(def, ["type", "shape", "catchall"]) || catchall?._zod.def.type !== "never") break;
      const fields = Object.entries(def.shape as Record<string, ZodLike>).map(([key, s]) => [key, compile(s)] as const);
      const known = new Set(fields.map(([key]) => key));
      return (value) => {
        if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
        const o = value as Record<string, unknown>;
        for (const [key, check] of fields) if (!check(o[key])) return false;
        for (const key of Object.keys(o)) if (!known.has(key)) return false;
        return true;
      };
    }
    case "string":
      if (!onlyKeys(def, ["type"])) break;
      return (value) => typeof value === "string";
    case "boolean":
      if (!onlyKeys(def, ["type"])) break;
      return (value) => typeof value === "boolean";
    case "enum": {
      const values = Object.values(def.entries as Record<string, unknown>);
      if (!onlyKeys(def, ["type", "entries"]) || !values.every((v) => typeof v === "string")) break;
      const allowed = new Set(values);
      return (value) => typeof value === "string" && allowed.has(value);
    }
    case "array": {
      if (!onlyKeys(def, ["type", "element"])) break;
      const element = compile(def.element as ZodLike);
      return (value) => {
        if (!Array.isArray(value)) return false;
        for (let i = 0; i < value.length; i++) if (!element(value[i])) return false;
        return true;
      };
    }
    case "nullable": {
      if (!onlyKeys(def, ["type", "innerType"])) break;
      const inner = compile(def.innerType as ZodLike);
      return (value) => value === null || inner(value);
    }
  }
  return delegate(schema);
}

const compiled = new Map<EventName, Check>();

/** validatePayload's verdict, faster on the common (valid) path; throws zod's ContractViolationError otherwise. */
export function validatePayloadFast<N extends EventName>(name: N, payload: unknown): EventPayloads[N] {
  let check = compiled.get(name);
  if (!check) {
    const schema = (payloadValidators as unknown as Record<string, ZodLike | undefined>)[name];
    if (!schema) return validatePayload(name, payload);
    compiled.set(name, (check = compile(schema)));
  }
  if (check(payload)) return payload as EventPayloads[N];
  // Rejected: let zod say why (and, should the two ever disagree, zod decides).
  return validatePayload(name, payload);
}
