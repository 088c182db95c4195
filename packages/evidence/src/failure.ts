/** Everything a verifier can find wrong, by name. */
export type EvidenceFailureKind =
  /** A stream skips revisions (an event was removed or never written). */
  | "missing-revision"
  /** A stream repeats or goes back in revision. */
  | "duplicate-revision"
  /** The event's chain link `prev` is not the previous event's chain hash: the link was altered or an event replaced. */
  | "prev-mismatch"
  /** SM3(prev ‖ canonical event) is not the stored chain hash: the payload (or the stored hash) was altered. */
  | "hash-mismatch"
  /** The event has no (or a malformed) `metadata.evidence.chain`. */
  | "missing-chain"
  /** The event has no (or a malformed) `metadata.evidence.signature`. */
  | "missing-signature"
  /** The signature's key id is not in the verifier's key ring. */
  | "unknown-key"
  /** The key ring holds the key id under another algorithm than the signature claims. */
  | "algorithm-mismatch"
  /** The key belongs to another department than `metadata.department`. */
  | "wrong-signer"
  /** The signature does not verify over the canonical event bytes. */
  | "signature-invalid"
  /** The event has no canonical form (see CanonicalFormError). */
  | "not-canonical"
  /** A seal's signature does not verify with the bus key (or the key is unknown). */
  | "seal-signature-invalid"
  /** A seal is malformed, out of sequence (block number, previous seal hash). */
  | "seal-sequence"
  /** The Merkle root over the block's chain hashes is not the sealed root. */
  | "seal-root-mismatch"
  /** The block's first or last event is not at the sealed position. */
  | "seal-range-mismatch"
  /** The log ends inside a sealed block, or seals remain after the last event: events were removed. */
  | "seal-incomplete";

export interface EvidenceFailure {
  readonly kind: EvidenceFailureKind;
  /** One line saying what is wrong and where. */
  readonly message: string;
  /** 0-based index of the event in the verified sequence (events.length for failures after the last event). */
  readonly index?: number;
  readonly eventId?: string;
  readonly stream?: string;
  readonly revision?: string;
  readonly position?: string;
  readonly block?: number;
  readonly expected?: string;
  readonly actual?: string;
}
