import type { z } from "zod";
import { ContractViolationError, type ValidationIssue } from "./errors.js";
import type { EventName, EventPayloads } from "./generated/types.js";
import { payloadValidators } from "./generated/validators.js";

/** zod issues as the project's ValidationIssue: a dotted path, a rule code, a message. */
export function issuesOf(error: z.ZodError): ValidationIssue[] {
  return error.issues.map((i) => ({
    path: i.path.map(String).join("."),
    // Identifier checks put their stable rule code (e.g. uscc.check-char) in params.
    rule: i.code === "custom" && typeof i.params?.["rule"] === "string" ? (i.params["rule"] as string) : i.code,
    message: i.message,
  }));
}

/** Checks a payload against its contract (structure and identifier formats); throws ContractViolationError naming each field. */
export function validatePayload<N extends EventName>(name: N, payload: unknown): EventPayloads[N] {
  const validator = payloadValidators[name];
  if (!validator) throw new ContractViolationError(String(name), [{ path: "", rule: "unknown-event", message: `no contract named ${String(name)}` }]);
  const result = validator.safeParse(payload);
  if (!result.success) throw new ContractViolationError(name, issuesOf(result.error));
  return result.data as unknown as EventPayloads[N];
}
