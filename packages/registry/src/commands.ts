import { catalog, ContractViolationError, families, issuesOf } from "@shenguan/contracts";
import type { Command } from "@shenguan/eventstore";
import { z } from "zod";

/** A department code as the bus names departments: `SPJ-350100`. */
export const DEPARTMENT_CODE = /^[A-Z0-9][A-Z0-9-]{1,39}$/;

/** What a department is on the bus; it decides nothing by itself, the grants do. */
export const departmentKinds = ["approval-bureau", "regulator", "enforcement", "credit-platform", "supervisor", "auditor", "operator", "bus"] as const;
export type DepartmentKind = (typeof departmentKinds)[number];

/** Who holds the private key: the bus signs for the department (custody, like an X-Road security server), or the department signs itself. */
export const custodies = ["bus", "department"] as const;
export type Custody = (typeof custodies)[number];

const regionOrAny = z.union([z.literal("*"), z.string().regex(/^\d{6}$/, "a 6-digit region code (GB/T 2260) or \"*\"")]);

export const grantsSchema = z.strictObject({
  publish: z.array(z.enum(Object.keys(catalog) as [string, ...string[]], "a contract event type")),
  subscribe: z.strictObject({
    families: z.array(z.enum(families, `a topic family (${families.join(", ")})`)),
    regions: z.array(regionOrAny),
  }),
  pii: z.boolean(),
  audit: z.boolean(),
  admin: z.boolean(),
});

/** Certificate serials as hex without separators, upper case, no leading zeros: openssl and Node print them differently. */
export function normaliseSerial(serial: string): string {
  const hex = serial.replaceAll(":", "").toUpperCase().replace(/^0+(?=.)/, "");
  return hex;
}

export const commandData = {
  RegisterDepartment: z.strictObject({
    code: z.string().regex(DEPARTMENT_CODE, "a department code: A-Z, 0-9 and '-', 2-40 characters"),
    name: z.string().trim().min(1, "the department's name is required").max(200),
    uscc: z.string(),
    region: z.string().regex(/^\d{6}$/, "a 6-digit region code (GB/T 2260)"),
    kind: z.enum(departmentKinds),
  }),
  AddKey: z.strictObject({
    pem: z.string().includes("-----BEGIN", { message: "a PEM public key (-----BEGIN PUBLIC KEY-----)" }),
    custody: z.enum(custodies),
  }),
  RetireKey: z.strictObject({
    keyId: z.string().regex(/^[0-9a-f]{32}$/, "a key id: 32 lowercase hex digits"),
    reason: z.string().trim().min(1, "say why the key is retired"),
  }),
  ChangeGrants: z.strictObject({ grants: grantsSchema }),
  RecordCertificate: z.strictObject({
    serial: z.string().regex(/^[0-9A-Fa-f:]{1,64}$/, "a certificate serial in hex"),
    notAfter: z.iso.datetime({ offset: true, message: "an ISO 8601 date-time" }),
  }),
  RevokeCertificate: z.strictObject({
    serial: z.string().regex(/^[0-9A-Fa-f:]{1,64}$/, "a certificate serial in hex"),
    reason: z.string().trim().min(1, "say why the certificate is revoked"),
  }),
  Deactivate: z.strictObject({ reason: z.string().trim().min(1, "say why the department is deactivated") }),
} as const;

export type CommandType = keyof typeof commandData;
export type CommandData<T extends CommandType> = z.infer<(typeof commandData)[T]>;
export type RegistryCommand = { [T in CommandType]: Command<T, CommandData<T>> }[CommandType];

/** Checks a command's data, naming each field that breaks a rule (400). */
export function parseCommandData<T extends CommandType>(type: T, data: unknown): CommandData<T> {
  const result = commandData[type].safeParse(data);
  if (!result.success) throw new ContractViolationError(type, issuesOf(result.error));
  return result.data as CommandData<T>;
}
