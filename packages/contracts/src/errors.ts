/**
 * The root of shenguan's one error hierarchy. Every package throws subclasses
 * with a stable `code`; services map codes to RFC 9457 problem details in one
 * place, so no route decides HTTP statuses ad hoc.
 */
export abstract class ShenguanError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** One rule a value broke, at a field path such as `holder.uscc`. */
export interface ValidationIssue {
  readonly path: string;
  readonly rule: string;
  readonly message: string;
}

/** Input (a payload, a command, an identifier) broke a contract rule. */
export class ContractViolationError extends ShenguanError {
  readonly code = "contract.violation";
  constructor(
    readonly subject: string,
    readonly issues: readonly ValidationIssue[],
  ) {
    super(`${subject} is invalid: ${issues.map((i) => `${i.path || "(root)"}: ${i.message}`).join("; ")}`);
  }
}

/** Bytes that are not a Confluent-framed message of a schema we know. */
export class WireFormatError extends ShenguanError {
  readonly code = "contract.wire-format";
}

/** A schema id or event name that the registry manifest does not hold. */
export class UnknownSchemaError extends ShenguanError {
  readonly code = "contract.unknown-schema";
}

/** A schema change that old data could not be read with. */
export class IncompatibleSchemaError extends ShenguanError {
  readonly code = "contract.incompatible-schema";
}
