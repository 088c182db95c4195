import type { Department, DepartmentRegistry } from "@shenguan/registry";
import { UnauthenticatedError } from "@shenguan/service-kit";

/** The registered, active department a credential names; a deactivated one authenticates no more. */
export function activeDepartment(registry: DepartmentRegistry, code: string): Department {
  const department = registry.get(code);
  if (!department) throw new UnauthenticatedError(`no department ${code} is registered`, "department-unknown");
  if (department.status !== "active") throw new UnauthenticatedError(`department ${code} is deactivated`, "department-inactive");
  return department;
}
