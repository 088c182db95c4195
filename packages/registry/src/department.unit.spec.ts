import { ContractViolationError, InvalidIdentifierError } from "@shenguan/contracts";
import { DomainRefusal, deciderSpec } from "@shenguan/eventstore";
import { generateSigningKey } from "@shenguan/evidence";
import { NO_GRANTS } from "@shenguan/service-kit";
import { describe, expect, it } from "vitest";
import type { CommandType, RegistryCommand } from "./commands.js";
import { departmentDecider, type DepartmentEvent } from "./department.js";

const spec = deciderSpec(departmentDecider);
const now = new Date("2026-03-02T02:00:00Z");
const cmd = <T extends CommandType>(type: T, data: unknown): RegistryCommand =>
  ({ type, data, department: "OPS-350100", now, today: "2026-03-02" }) as unknown as RegistryCommand;

const sm2 = generateSigningKey("SM2-SM3").publicKey;
const ed = generateSigningKey("Ed25519").publicKey;
const register = { code: "SCJG-350100", name: "福州市市场监督管理局", uscc: "91350100M000100Y43", region: "350100", kind: "regulator" };
const registered: DepartmentEvent = { type: "DepartmentRegistered", data: register as never };
const keyAdded: DepartmentEvent = { type: "KeyAdded", data: { keyId: sm2.keyId, alg: "SM2-SM3", pem: sm2.toPem(), custody: "bus" } };
const certRecorded: DepartmentEvent = { type: "CertificateRecorded", data: { serial: "1A2B", notAfter: "2027-03-02T00:00:00.000Z" } };
const deactivated: DepartmentEvent = { type: "DepartmentDeactivated", data: { reason: "merged" } };
const grants = { publish: ["InspectionRecorded"], subscribe: { families: ["approval", "linkage"], regions: ["350100"] }, pii: false, audit: false, admin: false };

/** A refusal with this code, naming this field when one is given. */
const refused = (code: string, field?: string) => (e: Error) => {
  expect(e).toBeInstanceOf(DomainRefusal);
  expect((e as DomainRefusal).code).toBe(code);
  if (field) expect((e as DomainRefusal).field).toBe(field);
};
const invalid = (path: string) => (e: Error) => {
  expect(e).toBeInstanceOf(ContractViolationError);
  expect((e as ContractViolationError).issues.map((i) => i.path)).toContain(path);
};

describe("department decider", () => {
  describe("RegisterDepartment", () => {
    it("registers a department with no grants", () => {
      spec.given([]).when(cmd("RegisterDepartment", register)).then([registered]);
      const state = departmentDecider.evolve(departmentDecider.initialState(), registered);
      expect(state).toMatchObject({ status: "active", grants: NO_GRANTS, keys: [] });
    });
    it("refuses a second registration", () => spec.given([registered]).when(cmd("RegisterDepartment", register)).thenThrows(refused("department.exists", "code")));
    it("refuses a USCC that fails GB 32100", () =>
      spec.given([]).when(cmd("RegisterDepartment", { ...register, uscc: "91350100M000100Y44" })).thenThrows((e) => {
        expect(e).toBeInstanceOf(InvalidIdentifierError);
        expect((e as InvalidIdentifierError).field).toBe("uscc");
      }));
    it("refuses a region that is not 6 digits", () => spec.given([]).when(cmd("RegisterDepartment", { ...register, region: "3501" })).thenThrows(invalid("region")));
    it("refuses a malformed code", () => spec.given([]).when(cmd("RegisterDepartment", { ...register, code: "scjg 350100" })).thenThrows(invalid("code")));
    it("refuses an unknown kind", () => spec.given([]).when(cmd("RegisterDepartment", { ...register, kind: "bank" })).thenThrows(invalid("kind")));
  });

  describe("AddKey", () => {
    it("adds an SM2 key in bus custody under its SM3 key id", () => spec.given([registered]).when(cmd("AddKey", { pem: sm2.toPem(), custody: "bus" })).then([keyAdded]));
    it("adds an Ed25519 key the department holds", () =>
      spec
        .given([registered])
        .when(cmd("AddKey", { pem: ed.toPem(), custody: "department" }))
        .then([{ type: "KeyAdded", data: { keyId: ed.keyId, alg: "Ed25519", pem: ed.toPem(), custody: "department" } }]));
    it("refuses the same key twice", () => spec.given([registered, keyAdded]).when(cmd("AddKey", { pem: sm2.toPem(), custody: "bus" })).thenThrows(refused("key.exists", "pem")));
    it("refuses an unreadable key", () =>
      spec.given([registered]).when(cmd("AddKey", { pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", custody: "bus" })).thenThrows(refused("key.unreadable", "pem")));
    it("refuses a key for an unregistered department", () => spec.given([]).when(cmd("AddKey", { pem: sm2.toPem(), custody: "bus" })).thenThrows(refused("department.not-registered")));
    it("refuses a key for a deactivated department", () =>
      spec.given([registered, deactivated]).when(cmd("AddKey", { pem: sm2.toPem(), custody: "bus" })).thenThrows(refused("department.inactive")));
    it("refuses an unknown custody", () => spec.given([registered]).when(cmd("AddKey", { pem: sm2.toPem(), custody: "vendor" })).thenThrows(invalid("custody")));
  });

  describe("RetireKey", () => {
    it("retires a key, which stays for verification", () => {
      spec.given([registered, keyAdded]).when(cmd("RetireKey", { keyId: sm2.keyId, reason: "rotated" })).then([{ type: "KeyRetired", data: { keyId: sm2.keyId, reason: "rotated" } }]);
      const state = [registered, keyAdded, { type: "KeyRetired", data: { keyId: sm2.keyId, reason: "rotated" } } as DepartmentEvent].reduce(departmentDecider.evolve, departmentDecider.initialState());
      expect(state.status === "active" && state.keys).toEqual([expect.objectContaining({ keyId: sm2.keyId, retired: true })]);
    });
    it("refuses an unknown key", () => spec.given([registered]).when(cmd("RetireKey", { keyId: ed.keyId, reason: "x" })).thenThrows(refused("key.unknown", "keyId")));
    it("refuses a retired key", () =>
      spec
        .given([registered, keyAdded, { type: "KeyRetired", data: { keyId: sm2.keyId, reason: "rotated" } }])
        .when(cmd("RetireKey", { keyId: sm2.keyId, reason: "again" }))
        .thenThrows(refused("key.retired")));
    it("refuses without a reason", () => spec.given([registered, keyAdded]).when(cmd("RetireKey", { keyId: sm2.keyId, reason: " " })).thenThrows(invalid("reason")));
  });

  describe("ChangeGrants", () => {
    it("replaces the grants", () => spec.given([registered]).when(cmd("ChangeGrants", { grants })).then([{ type: "GrantsChanged", data: { grants } }]));
    it("refuses an event type that is not a contract", () =>
      spec.given([registered]).when(cmd("ChangeGrants", { grants: { ...grants, publish: ["Whatever"] } })).thenThrows(invalid("grants.publish.0")));
    it("refuses a region that is neither 6 digits nor *", () =>
      spec.given([registered]).when(cmd("ChangeGrants", { grants: { ...grants, subscribe: { families: ["approval"], regions: ["35"] } } })).thenThrows(invalid("grants.subscribe.regions.0")));
    it("refuses an unknown family", () =>
      spec.given([registered]).when(cmd("ChangeGrants", { grants: { ...grants, subscribe: { families: ["tax"], regions: ["*"] } } })).thenThrows(invalid("grants.subscribe.families.0")));
    it("refuses grants for a deactivated department", () => spec.given([registered, deactivated]).when(cmd("ChangeGrants", { grants })).thenThrows(refused("department.inactive")));
  });

  describe("certificates", () => {
    it("records a certificate under its normalised serial", () =>
      spec.given([registered]).when(cmd("RecordCertificate", { serial: "00:1a:2b", notAfter: "2027-03-02T08:00:00+08:00" })).then([certRecorded]));
    it("refuses a certificate already recorded", () =>
      spec.given([registered, certRecorded]).when(cmd("RecordCertificate", { serial: "1A2B", notAfter: "2027-03-02T00:00:00Z" })).thenThrows(refused("certificate.exists", "serial")));
    it("refuses an expired certificate", () =>
      spec.given([registered]).when(cmd("RecordCertificate", { serial: "1A2C", notAfter: "2026-03-01T00:00:00Z" })).thenThrows(refused("certificate.expired", "notAfter")));
    it("refuses a serial that is not hex", () => spec.given([registered]).when(cmd("RecordCertificate", { serial: "xyz", notAfter: "2027-03-02T00:00:00Z" })).thenThrows(invalid("serial")));
    it("revokes a certificate, also of a deactivated department", () =>
      spec
        .given([registered, certRecorded, deactivated])
        .when(cmd("RevokeCertificate", { serial: "1a2b", reason: "key compromise" }))
        .then([{ type: "CertificateRevoked", data: { serial: "1A2B", reason: "key compromise" } }]));
    it("refuses to revoke an unknown certificate", () =>
      spec.given([registered]).when(cmd("RevokeCertificate", { serial: "99", reason: "x" })).thenThrows(refused("certificate.unknown", "serial")));
    it("refuses to revoke twice", () =>
      spec
        .given([registered, certRecorded, { type: "CertificateRevoked", data: { serial: "1A2B", reason: "lost" } }])
        .when(cmd("RevokeCertificate", { serial: "1A2B", reason: "again" }))
        .thenThrows(refused("certificate.revoked")));
  });

  describe("Deactivate", () => {
    it("deactivates", () => spec.given([registered]).when(cmd("Deactivate", { reason: "merged" })).then([deactivated]));
    it("refuses twice", () => spec.given([registered, deactivated]).when(cmd("Deactivate", { reason: "again" })).thenThrows(refused("department.inactive")));
    it("refuses an unregistered department", () => spec.given([]).when(cmd("Deactivate", { reason: "x" })).thenThrows(refused("department.not-registered")));
  });
});
