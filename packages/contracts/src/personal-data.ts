/**
 * Personal data (个人信息) in anything built from events: the auditor's subject
 * files, timelines and as-of states, and the services' answers the gateway
 * forwards. ID-card numbers, natural persons' names and phone numbers are
 * masked for a caller without the `pii` grant (deliveries are masked per field
 * by the gateway's PiiProtector with the same shapes); the paths found go to
 * the access log.
 *
 * Two sources of "personal", both applied:
 * - the contracts' catalog (`piiFieldsOf`) for anything shaped like an event
 *   (`{ type, data }`: subject file entries): exact paths, with their conditions;
 * - field names, for what has no event type (an as-of state is the decider's
 *   own shape: `application.applicant`, `licence.holder`, …): ID and phone keys
 *   always, `legalRepresentative`/`contactName`/`personName`, a `name` next to
 *   an ID number or a null `uscc`, an `xName` next to a null `xUscc`, and the
 *   `from`/`to` of a change of a personal licence field.
 * Finally any other string equal to a value masked above is masked too (a
 * subject file repeats the holder's name at its top).
 */
import { PERSONAL_LICENCE_FIELDS, piiFieldsOf, type PiiKind } from "./pii.js";

/** A recognisable shape with the identifying part hidden: 3501**********1234, 张*, 138****5678. */
export function maskValue(kind: PiiKind, value: string): string {
  const chars = Array.from(value);
  const n = chars.length;
  const keep = (head: number, tail: number) =>
    n <= head + tail ? "*".repeat(n) : chars.slice(0, head).join("") + "*".repeat(n - head - tail) + chars.slice(n - tail).join("");
  if (kind === "id-card") return keep(4, 4);
  if (kind === "phone") return keep(3, 4);
  return n <= 1 ? "*" : chars[0] + "*".repeat(n - 1);
}

const ID_KEYS = new Set(["idNumber", "idCard", "idCardNo", "idCardNumber"]);
const PHONE_KEYS = new Set(["phone", "mobile", "mobilePhone", "telephone", "contactPhone"]);
const NAME_KEYS = new Set(["legalRepresentative", "personName", "contactName"]);
/** Licence fields whose change (`{ field, from, to }`) carries personal data. */
const CHANGE_KINDS = new Map<string, PiiKind>(
  (Object.entries(PERSONAL_LICENCE_FIELDS) as [PiiKind, readonly string[]][]).flatMap(([kind, fields]) => fields.map((f) => [f, kind] as const)),
);

type Node = Record<string, unknown>;
const isNode = (v: unknown): v is Node => v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);
const hasText = (v: unknown) => typeof v === "string" && v.length > 0;
const present = (v: unknown) => v !== null && v !== undefined;
const join = (path: string, key: string | number) => (path === "" ? String(key) : `${path}.${key}`);

function kindByName(key: string, holder: Node): PiiKind | undefined {
  if (ID_KEYS.has(key)) return "id-card";
  if (PHONE_KEYS.has(key)) return "phone";
  if (NAME_KEYS.has(key)) return "name";
  if (key === "name") return hasText(holder.idNumber) || ("uscc" in holder && !hasText(holder.uscc)) ? "name" : undefined;
  const prefix = /^(.+)Name$/.exec(key)?.[1];
  if (prefix !== undefined && `${prefix}Uscc` in holder && !hasText(holder[`${prefix}Uscc`])) return "name";
  if ((key === "from" || key === "to") && typeof holder.field === "string") return CHANGE_KINDS.get(holder.field);
  return undefined;
}

export interface Masked<T> {
  /** A copy with every personal value masked. */
  readonly value: T;
  /** Concrete paths of the personal values found (`sections.licences.0.data.applicant.idNumber`), for the access log. */
  readonly paths: readonly string[];
}

/** A copy of `value` with every personal value masked, and where they were. */
export function maskPersonalData<T>(value: T): Masked<T> {
  const copy = structuredClone(value);
  const paths = new Set<string>();
  const clear = new Map<string, PiiKind>();
  const mask = (holder: Node, key: string, kind: PiiKind, path: string) => {
    const v = holder[key];
    if (!hasText(v) || paths.has(path)) return;
    clear.set(v as string, kind);
    holder[key] = maskValue(kind, v as string);
    paths.add(path);
  };

  // The catalog's paths inside an event's data: `applicant.idNumber`, `changes[].to`.
  const visit = (node: unknown, steps: readonly string[], path: string, found: (holder: Node, key: string, path: string) => void) => {
    if (!isNode(node) || steps.length === 0) return;
    const [step, ...rest] = steps as [string, ...string[]];
    const many = step.endsWith("[]");
    const key = many ? step.slice(0, -2) : step;
    if (!many && rest.length === 0) return found(node, key, join(path, key));
    const next = node[key];
    if (!many) return visit(next, rest, join(path, key), found);
    if (Array.isArray(next)) next.forEach((item, i) => visit(item, rest, join(join(path, key), i), found));
  };
  const catalog = (type: string, data: unknown, path: string) => {
    for (const field of piiFieldsOf(type)) {
      visit(data, field.path.split("."), path, (holder, key, at) => {
        if (field.unlessPresent !== undefined && present(holder[field.unlessPresent])) return;
        if (field.whenSibling && !field.whenSibling.values.includes(String(holder[field.whenSibling.field]))) return;
        mask(holder, key, field.kind, at);
      });
    }
  };

  const walk = (node: unknown, path: string, depth: number) => {
    if (depth > 64 || node === null || typeof node !== "object") return;
    if (Array.isArray(node)) return node.forEach((item, i) => walk(item, join(path, i), depth + 1));
    if (!isNode(node)) return;
    if (typeof node.type === "string" && isNode(node.data)) catalog(node.type, node.data, join(path, "data"));
    for (const key of Object.keys(node)) {
      const kind = kindByName(key, node);
      if (kind !== undefined && typeof node[key] === "string") mask(node, key, kind, join(path, key));
      else walk(node[key], join(path, key), depth + 1);
    }
  };
  walk(copy, "", 0);

  // The same personal values elsewhere (a subject file's `name` is its holder's).
  const again = (node: unknown, path: string, depth: number) => {
    if (depth > 64 || node === null || typeof node !== "object") return;
    if (Array.isArray(node)) return node.forEach((item, i) => again(item, join(path, i), depth + 1));
    if (!isNode(node)) return;
    for (const key of Object.keys(node)) {
      const v = node[key];
      const kind = typeof v === "string" ? clear.get(v) : undefined;
      if (kind !== undefined) mask(node, key, kind, join(path, key));
      else again(v, join(path, key), depth + 1);
    }
  };
  if (clear.size > 0) again(copy, "", 0);
  return { value: copy, paths: [...paths] };
}
