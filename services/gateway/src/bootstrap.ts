import type { KeyStore } from "@shenguan/eventstore";
import type { DepartmentKind, DepartmentRegistry } from "@shenguan/registry";
import type { Grants } from "@shenguan/service-kit";

export interface DepartmentSeed {
  readonly code: string;
  readonly name: string;
  readonly uscc: string;
  readonly region: string;
  readonly kind: DepartmentKind;
  readonly grants: Grants;
}

/**
 * Registers the departments a deployment starts with, each with its custody
 * key (the bus signs for it) and its grants. Idempotent: a department already
 * registered keeps what an administrator changed since; only a missing
 * custody key is added. The registry's history names `by` as the author.
 */
export async function bootstrapDepartments(registry: DepartmentRegistry, keys: KeyStore, seeds: readonly DepartmentSeed[], by = "SHENGUAN-BUS"): Promise<void> {
  const actor = { department: by, correlationId: "bootstrap" };
  for (const seed of seeds) {
    const fresh = registry.get(seed.code) === undefined;
    if (fresh) await registry.execute(seed.code, "RegisterDepartment", { code: seed.code, name: seed.name, uscc: seed.uscc, region: seed.region, kind: seed.kind }, actor);
    const key = await keys.ensure(seed.code);
    if (!registry.get(seed.code)!.keys.some((k) => k.keyId === key.keyId)) {
      await registry.execute(seed.code, "AddKey", { pem: key.toPem(), custody: "bus" }, actor);
    }
    if (fresh) await registry.execute(seed.code, "ChangeGrants", { grants: seed.grants as never }, actor);
  }
}
