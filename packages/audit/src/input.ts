import { ContractViolationError } from "@shenguan/contracts";

/** Bad input names the field and the rule (400 over HTTP, exit code 2 on the command line). */
export function invalid(field: string, rule: string, message: string): never {
  throw new ContractViolationError("audit query", [{ path: field, rule, message }]);
}

export function requireText(field: string, value: unknown): string {
  if (typeof value !== "string" || value.trim().length === 0) invalid(field, "required", `${field} is required`);
  if (value.length > 200) invalid(field, "max-length", `${field} is longer than 200 characters`);
  return value;
}

/** An instant: ISO 8601 with a zone (2026-03-04T10:00:00+08:00), or a date (2026-03-04 = the end of that day in Asia/Shanghai). */
export function parseInstant(field: string, value: unknown): Date {
  const text = requireText(field, value);
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(text);
  if (!dateOnly && !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(text)) {
    invalid(
      field,
      "instant",
      `${field} must be an ISO 8601 instant with a zone (2026-03-04T10:00:00+08:00) or a date (2026-03-04), got ${JSON.stringify(text)}`,
    );
  }
  const date = new Date(dateOnly ? `${text}T23:59:59.999+08:00` : text);
  if (Number.isNaN(date.getTime())) invalid(field, "instant", `${field} is not a valid instant: ${JSON.stringify(text)}`);
  return date;
}
