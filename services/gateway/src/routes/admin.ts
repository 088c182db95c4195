import { commandData, type CommandData, type CommandType, type DepartmentRegistry } from "@shenguan/registry";
import { callerOf, NotFoundError, type ServiceApp } from "@shenguan/service-kit";
import type { FastifyRequest } from "fastify";
import { z } from "zod";
import { requireGrant } from "../access/acl.js";

const codeParams = z.object({ code: z.string() });
const keyParams = z.object({ code: z.string(), keyId: z.string() });
const serialParams = z.object({ code: z.string(), serial: z.string() });

/**
 * The registry's admin API (admin grant). Every change is an event on the
 * department's stream, so GET …/history is the audit of who changed what, when.
 */
export function adminRoutes(app: ServiceApp, registry: DepartmentRegistry): void {
  const admin = (req: FastifyRequest) => {
    const caller = callerOf(req);
    requireGrant(caller, "admin");
    return { department: caller.department, correlationId: req.id };
  };
  const run = <T extends CommandType>(req: FastifyRequest, code: string, type: T, data: CommandData<T>) => registry.execute(code, type, data, admin(req));
  const tags = ["registry"];

  app.get("/v1/admin/departments", { schema: { tags, summary: "Every registered department" } }, async (req) => {
    admin(req);
    return registry.list();
  });
  app.get("/v1/admin/departments/:code", { schema: { tags, summary: "One department: keys, certificates, grants", params: codeParams } }, async (req) => {
    admin(req);
    const d = registry.get(req.params.code);
    if (!d) throw new NotFoundError(`no department ${req.params.code}`);
    return d;
  });
  app.get("/v1/admin/departments/:code/history", { schema: { tags, summary: "Every change to the department: what, by whom, when", params: codeParams } }, async (req) => {
    admin(req);
    const h = registry.history(req.params.code);
    if (!h) throw new NotFoundError(`no department ${req.params.code}`);
    return h;
  });
  app.post("/v1/admin/departments", { schema: { tags, summary: "Register a department", body: commandData.RegisterDepartment } }, async (req, reply) =>
    reply.code(201).send(await run(req, req.body.code, "RegisterDepartment", req.body)),
  );
  app.post("/v1/admin/departments/:code/keys", { schema: { tags, summary: "Register a public key (SM2 or Ed25519)", params: codeParams, body: commandData.AddKey } }, async (req, reply) =>
    reply.code(201).send(await run(req, req.params.code, "AddKey", req.body)),
  );
  app.post(
    "/v1/admin/departments/:code/keys/:keyId/retire",
    { schema: { tags, summary: "Retire a key (kept to verify what it signed)", params: keyParams, body: commandData.RetireKey.omit({ keyId: true }) } },
    async (req) => run(req, req.params.code, "RetireKey", { keyId: req.params.keyId, reason: req.body.reason }),
  );
  app.put("/v1/admin/departments/:code/grants", { schema: { tags, summary: "Replace the department's grants", params: codeParams, body: commandData.ChangeGrants } }, async (req) =>
    run(req, req.params.code, "ChangeGrants", req.body),
  );
  app.post(
    "/v1/admin/departments/:code/certificates",
    { schema: { tags, summary: "Record a client certificate issued by the bus CA (infra/pki/ca.sh issue)", params: codeParams, body: commandData.RecordCertificate } },
    async (req, reply) => reply.code(201).send(await run(req, req.params.code, "RecordCertificate", req.body)),
  );
  app.post(
    "/v1/admin/departments/:code/certificates/:serial/revoke",
    { schema: { tags, summary: "Revoke a client certificate", params: serialParams, body: commandData.RevokeCertificate.omit({ serial: true }) } },
    async (req) => run(req, req.params.code, "RevokeCertificate", { serial: req.params.serial, reason: req.body.reason }),
  );
  app.post("/v1/admin/departments/:code/deactivate", { schema: { tags, summary: "Deactivate a department", params: codeParams, body: commandData.Deactivate } }, async (req) =>
    run(req, req.params.code, "Deactivate", req.body),
  );
}
