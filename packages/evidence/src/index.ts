export { canonicalize, canonicalBytes } from "./jcs.js";
export {
  canonicalEvent,
  canonicalEventJson,
  canonicalEventJsonOf,
  canonicalEventObject,
  evidenceOf,
  withEvidence,
  revisionString,
  timeString,
  EVIDENCE_FIELD,
  type ChainLink,
  type EventEvidence,
  type EvidenceEvent,
  type EvidenceSignature,
  type SignatureAlgorithm,
} from "./canonical.js";
export { CanonicalFormError, EvidenceKeyError } from "./errors.js";
export type { EvidenceFailure, EvidenceFailureKind } from "./failure.js";
export { sm3, GENESIS_HASH } from "./sm3.js";
export { SM2_DEFAULT_ID, Sm2PrivateKey, Sm2PublicKey, sm2Sign, sm2Verify, type Sm2Options } from "./sm2.js";
export {
  KeyRing,
  SigningKey,
  VerifyingKey,
  generateSigningKey,
  importSigningKey,
  importVerifyingKey,
  keyIdOf,
  SIGNATURE_ALGORITHMS,
  type KeyRingEntry,
  type Signer,
} from "./keys.js";
export { signEvent, signBytes, parseSignature, verifyEventSignature, type SignatureCheck } from "./sign.js";
export {
  chainHash,
  chainHashHex,
  chainLinkFrom,
  chainLinkOf,
  linkEvent,
  StreamChainer,
  verifyChain,
  type ChainHead,
  type ChainVerification,
  type VerifyChainOptions,
} from "./chain.js";
export {
  leafHash,
  nodeHash,
  merkleRoot,
  MerkleTree,
  proveInclusion,
  rootFromInclusion,
  verifyInclusion,
  type InclusionProof,
} from "./merkle.js";
export {
  BATCH_SIGNATURE_CONTEXT,
  MAX_SIGNATURE_BATCH,
  batchStatement,
  parseBatchProof,
  signatureBatch,
  signedMessage,
  type SignatureBatch,
} from "./batch.js";
export {
  SEAL_FORMAT,
  SEAL_CHUNK_SIZE,
  Sealer,
  chunkRoots,
  parseSeal,
  sealChunks,
  subtreeOverNodes,
  positionString,
  sealBlock,
  sealBody,
  sealBytes,
  sealHash,
  verifySeal,
  verifySealedInclusion,
  type BlockEntry,
  type PositionLike,
  type Seal,
  type SealBlockInput,
  type SealBody,
  type SealCheck,
  type SealChunks,
  type VerifySealOptions,
} from "./seal.js";
export { InlineSignatureVerifier, SignatureWorkerPool, type SignatureJob, type SignatureVerifier } from "./pool.js";
export { moduleBeside, startModuleWorker } from "./worker-start.js";
export { SigningPool, defaultSigningPoolSize, type SigningJob, type SigningPoolOptions } from "./signing-pool.js";
export {
  verifyLog,
  type LoggedEvent,
  type LogResumePoint,
  type LogVerification,
  type VerifyLogOptions,
  type VerifyProgress,
} from "./verify-log.js";
export {
  SealedRangeCheck,
  cutRanges,
  joinRange,
  verifyLogInRanges,
  type LogRange,
  type RangeCheck,
  type RangeChecker,
  type RangeEvent,
  type RangeLink,
  type SealedBlock,
  type StreamEnds,
  type VerifyInRangesOptions,
} from "./verify-range.js";
