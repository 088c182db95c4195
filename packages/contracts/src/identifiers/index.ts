// Identifier validation shared by all shenguan services. Validators return
// IdentifierResult; assert* variants throw InvalidIdentifierError.
export type {
  IdentifierError,
  IdentifierFailure,
  IdentifierOk,
  IdentifierResult,
  NonEmpty,
} from "./result.js";
export { InvalidIdentifierError } from "./result.js";

export type { UsccResult, UsccRule, UsccValidator } from "./uscc.js";
export {
  USCC_ALPHABET,
  assertUscc,
  computeOrgCodeCheckChar,
  computeUsccCheckChar,
  createUsccValidator,
  defaultUsccValidator,
  parseUsccExceptionList,
  readUsccExceptionListFile,
  validateUscc,
} from "./uscc.js";

export type { RegionCodeRule } from "./region-code.js";
export {
  PROVINCE_PREFIXES,
  assertRegionCode,
  provinceOf,
  toSixDigit,
  validateRegionCode,
} from "./region-code.js";

export type {
  ImplementationCode,
  ImplementationCodeRule,
  ItemCodeRule,
} from "./item-code.js";
export {
  assertImplementationCode,
  assertItemCode,
  parseImplementationCode,
  parseItemCode,
} from "./item-code.js";

export type { ElicenceId, ElicenceParts, ElicenceRule } from "./elicence.js";
export {
  ELICENCE_PREFIX,
  assertElicenceId,
  buildElicenceId,
  computeElicenceCheck,
  parseElicenceId,
} from "./elicence.js";

export { isValidMod37_36, mod37_36CheckChar } from "./iso7064.js";
