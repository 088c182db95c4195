import { assertRegionCode, assertUscc } from "@shenguan/contracts";
import { exhaustive, refuse, type Decider, type DomainEvent } from "@shenguan/eventstore";
import { importVerifyingKey, type SignatureAlgorithm, type VerifyingKey } from "@shenguan/evidence";
import { NO_GRANTS, type Grants } from "@shenguan/service-kit";
import { normaliseSerial, parseCommandData, type Custody, type DepartmentKind, type RegistryCommand } from "./commands.js";

/** A department's stream: its whole registry history, the audit of who changed what. */
export const departmentStream = (code: string) => `department-${code}`;
export const DEPARTMENT_STREAM_PREFIX = "department-";

export type DepartmentEvent =
  | DomainEvent<"DepartmentRegistered", { code: string; name: string; uscc: string; region: string; kind: DepartmentKind }>
  | DomainEvent<"KeyAdded", { keyId: string; alg: SignatureAlgorithm; pem: string; custody: Custody }>
  | DomainEvent<"KeyRetired", { keyId: string; reason: string }>
  | DomainEvent<"GrantsChanged", { grants: Grants }>
  | DomainEvent<"CertificateRecorded", { serial: string; notAfter: string }>
  | DomainEvent<"CertificateRevoked", { serial: string; reason: string }>
  | DomainEvent<"DepartmentDeactivated", { reason: string }>;

export const departmentEventTypes: ReadonlySet<string> = new Set<DepartmentEvent["type"]>([
  "DepartmentRegistered",
  "KeyAdded",
  "KeyRetired",
  "GrantsChanged",
  "CertificateRecorded",
  "CertificateRevoked",
  "DepartmentDeactivated",
]);

export interface RegisteredKey {
  readonly keyId: string;
  readonly alg: SignatureAlgorithm;
  readonly pem: string;
  readonly custody: Custody;
  /** Retired keys no longer sign, but stay to verify what they signed. */
  readonly retired: boolean;
}

export interface Certificate {
  readonly serial: string;
  readonly notAfter: string;
  readonly revoked: { readonly reason: string } | null;
}

export interface DepartmentRecord {
  readonly code: string;
  readonly name: string;
  readonly uscc: string;
  readonly region: string;
  readonly kind: DepartmentKind;
  readonly keys: readonly RegisteredKey[];
  readonly certificates: readonly Certificate[];
  readonly grants: Grants;
}

export type DepartmentState =
  | { readonly status: "none" }
  | ({ readonly status: "active" } & DepartmentRecord)
  | ({ readonly status: "inactive"; readonly reason: string } & DepartmentRecord);

function evolve(state: DepartmentState, event: DepartmentEvent): DepartmentState {
  if (event.type === "DepartmentRegistered") {
    return { status: "active", ...event.data, keys: [], certificates: [], grants: NO_GRANTS };
  }
  if (state.status === "none") return state;
  switch (event.type) {
    case "KeyAdded":
      return { ...state, keys: [...state.keys, { ...event.data, retired: false }] };
    case "KeyRetired":
      return { ...state, keys: state.keys.map((k) => (k.keyId === event.data.keyId ? { ...k, retired: true } : k)) };
    case "GrantsChanged":
      return { ...state, grants: event.data.grants };
    case "CertificateRecorded":
      return { ...state, certificates: [...state.certificates, { ...event.data, revoked: null }] };
    case "CertificateRevoked":
      return {
        ...state,
        certificates: state.certificates.map((c) => (c.serial === event.data.serial ? { ...c, revoked: { reason: event.data.reason } } : c)),
      };
    case "DepartmentDeactivated":
      return { ...state, status: "inactive", reason: event.data.reason };
    default:
      return exhaustive(event);
  }
}

function readKey(pem: string): VerifyingKey {
  try {
    return importVerifyingKey(pem);
  } catch (err) {
    return refuse("key.unreadable", `pem: not an SM2 or Ed25519 public key (${(err as Error).message})`, "pem");
  }
}

type Registered = Exclude<DepartmentState, { status: "none" }>;

function registered(state: DepartmentState, command: RegistryCommand): Registered {
  if (state.status === "none") refuse("department.not-registered", `${command.type}: the department is not registered`);
  return state;
}

/** Changes that give a department more (keys, grants, certificates) need it active; revoking and retiring never do. */
function active(state: DepartmentState, command: RegistryCommand): Registered & { status: "active" } {
  const s = registered(state, command);
  if (s.status !== "active") refuse("department.inactive", `${command.type}: department ${s.code} is deactivated (${s.reason})`);
  return s;
}

function decide(command: RegistryCommand, state: DepartmentState): DepartmentEvent[] {
  switch (command.type) {
    case "RegisterDepartment": {
      const data = parseCommandData(command.type, command.data);
      if (state.status !== "none") refuse("department.exists", `department ${state.code} is already registered`, "code");
      const uscc = assertUscc(data.uscc, "uscc");
      assertRegionCode(data.region, "region");
      return [{ type: "DepartmentRegistered", data: { code: data.code, name: data.name, uscc, region: data.region, kind: data.kind } }];
    }
    case "AddKey": {
      const data = parseCommandData(command.type, command.data);
      const s = active(state, command);
      const key = readKey(data.pem);
      if (s.keys.some((k) => k.keyId === key.keyId)) refuse("key.exists", `key ${key.keyId} is already registered for ${s.code}`, "pem");
      // Stored as the key's canonical SPKI PEM, so the registry shows one form whichever tool wrote it.
      return [{ type: "KeyAdded", data: { keyId: key.keyId, alg: key.alg, pem: key.toPem(), custody: data.custody } }];
    }
    case "RetireKey": {
      const data = parseCommandData(command.type, command.data);
      const s = registered(state, command);
      const key = s.keys.find((k) => k.keyId === data.keyId);
      if (!key) refuse("key.unknown", `${s.code} has no key ${data.keyId}`, "keyId");
      if (key.retired) refuse("key.retired", `key ${data.keyId} is already retired`, "keyId");
      return [{ type: "KeyRetired", data: { keyId: data.keyId, reason: data.reason } }];
    }
    case "ChangeGrants": {
      const { grants } = parseCommandData(command.type, command.data);
      active(state, command);
      return [{ type: "GrantsChanged", data: { grants } }];
    }
    case "RecordCertificate": {
      const data = parseCommandData(command.type, command.data);
      const s = active(state, command);
      const serial = normaliseSerial(data.serial);
      if (s.certificates.some((c) => c.serial === serial)) refuse("certificate.exists", `certificate ${serial} is already recorded`, "serial");
      const notAfter = new Date(data.notAfter);
      if (notAfter.getTime() <= command.now.getTime()) {
        refuse("certificate.expired", `certificate ${serial} expired at ${notAfter.toISOString()}`, "notAfter");
      }
      return [{ type: "CertificateRecorded", data: { serial, notAfter: notAfter.toISOString() } }];
    }
    case "RevokeCertificate": {
      const data = parseCommandData(command.type, command.data);
      const s = registered(state, command);
      const serial = normaliseSerial(data.serial);
      const cert = s.certificates.find((c) => c.serial === serial);
      if (!cert) refuse("certificate.unknown", `${s.code} has no certificate ${serial}`, "serial");
      if (cert.revoked) refuse("certificate.revoked", `certificate ${serial} is already revoked (${cert.revoked.reason})`, "serial");
      return [{ type: "CertificateRevoked", data: { serial, reason: data.reason } }];
    }
    case "Deactivate": {
      const data = parseCommandData(command.type, command.data);
      const s = registered(state, command);
      if (s.status === "inactive") refuse("department.inactive", `department ${s.code} is already deactivated`);
      return [{ type: "DepartmentDeactivated", data: { reason: data.reason } }];
    }
    default:
      return exhaustive(command);
  }
}

/** The department decider: pure; keys are parsed here only to reject unreadable ones and to fix their id. */
export const departmentDecider: Decider<RegistryCommand, DepartmentEvent, DepartmentState> = {
  initialState: () => ({ status: "none" }),
  evolve,
  decide,
};
