import type { TLSSocket } from "node:tls";
import { normaliseSerial, type DepartmentRegistry } from "@shenguan/registry";
import { UnauthenticatedError, type Caller } from "@shenguan/service-kit";
import { activeDepartment } from "./department.js";

/**
 * The caller a client certificate proves. The TLS layer checks the chain to
 * the bus CA and the CRL (the server is configured with both, and lets the
 * handshake finish so a token can still be used); here: the verdict, then the
 * registry: the serial must be recorded for the department named by the CN,
 * and not revoked there.
 */
export function verifyClientCertificate(socket: TLSSocket, registry: DepartmentRegistry): Caller | undefined {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  const error = socket.authorizationError as unknown as string | Error | null;
  const code = error instanceof Error ? (error as NodeJS.ErrnoException).code ?? error.message : error;
  if (code === "CERT_REVOKED") throw new UnauthenticatedError(`client certificate ${cert.serialNumber} is revoked (bus CA CRL)`, "certificate-revoked");
  if (code === "CERT_HAS_EXPIRED") throw new UnauthenticatedError(`client certificate ${cert.serialNumber} has expired`, "certificate-expired");
  if (!socket.authorized) {
    throw new UnauthenticatedError(`the client certificate is not issued by the bus CA (${String(code)})`, "certificate-untrusted");
  }
  const cn = Array.isArray(cert.subject.CN) ? cert.subject.CN[0] : cert.subject.CN;
  const serial = normaliseSerial(cert.serialNumber);
  const recorded = registry.byCertificateSerial(serial);
  if (!recorded || recorded.department.code !== cn) {
    throw new UnauthenticatedError(`certificate ${serial} (CN=${String(cn)}) is not recorded for that department in the registry`, "certificate-unknown");
  }
  if (recorded.certificate.revoked) {
    throw new UnauthenticatedError(`certificate ${serial} is revoked: ${recorded.certificate.revoked.reason}`, "certificate-revoked");
  }
  const department = activeDepartment(registry, recorded.department.code);
  return { department: department.code, grants: department.grants };
}
