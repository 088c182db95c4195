import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from "node:crypto";
import { bigintToBytes, bytesToBigint, toHex } from "./bytes.js";
import type { SignatureAlgorithm } from "./canonical.js";
import { EvidenceKeyError } from "./errors.js";
import { sm2Sign, sm2Verify, Sm2PrivateKey, Sm2PublicKey } from "./sm2.js";
import { sm3 } from "./sm3.js";

export const SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = ["SM2-SM3", "Ed25519"];

/**
 * A key id: lowercase hex of the first 16 bytes of SM3 over the public key's
 * SubjectPublicKeyInfo DER. SM2 SPKIs are re-encoded in one form first
 * (id-ecPublicKey, curve OID 1.2.156.10197.1.301, uncompressed point), so a
 * key has one id whichever tool wrote its PEM.
 */
export function keyIdOf(spki: Uint8Array): string {
  return toHex(sm3(spki).subarray(0, 16));
}

// SEQUENCE { SEQUENCE { id-ecPublicKey, sm2 }, BIT STRING (0 unused bits) 04 ‖ X ‖ Y }
const SM2_SPKI_PREFIX = Buffer.from("3059301306072a8648ce3d020106082a811ccf5501822d034200", "hex");
// PKCS#8 { 0, { id-ecPublicKey, sm2 }, OCTET STRING { ECPrivateKey { 1, OCTET STRING d, [1] { BIT STRING 04 ‖ X ‖ Y } } } }
const SM2_PKCS8_PREFIX = Buffer.from("308187020100301306072a8648ce3d020106082a811ccf5501822d046d306b0201010420", "hex");
const SM2_PKCS8_MIDDLE = Buffer.from("a144034200", "hex");

function pem(label: string, der: Uint8Array): string {
  const lines =
    Buffer.from(der)
      .toString("base64")
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function sm2Spki(key: Sm2PublicKey): Buffer {
  return Buffer.concat([SM2_SPKI_PREFIX, key.uncompressed()]);
}

// ── A minimal DER walker, enough to take d out of an (EC)PrivateKey.
interface Tlv {
  readonly tag: number;
  readonly body: Buffer;
  readonly end: number;
}

function readTlv(der: Buffer, at: number): Tlv {
  const tag = der[at];
  let len = der[at + 1];
  if (tag === undefined || len === undefined) throw new EvidenceKeyError("truncated DER");
  let start = at + 2;
  if (len & 0x80) {
    const octets = len & 0x7f;
    if (octets < 1 || octets > 3) throw new EvidenceKeyError("unsupported DER length");
    len = 0;
    for (let i = 0; i < octets; i++) len = len * 256 + (der[start + i] ?? 0);
    start += octets;
  }
  const end = start + len;
  if (end > der.length) throw new EvidenceKeyError("truncated DER");
  return { tag, body: der.subarray(start, end), end };
}

function children(body: Buffer): Tlv[] {
  const out: Tlv[] = [];
  for (let at = 0; at < body.length;) {
    const tlv = readTlv(body, at);
    out.push(tlv);
    at = tlv.end;
  }
  return out;
}

/** Is this KeyObject an SM2 key (OpenSSL type SM2, or type EC on the SM2 curve)? */
function publicOf(key: KeyObject): KeyObject {
  return key.type === "public" ? key : createPublicKey(key);
}

function isSm2(key: KeyObject): boolean {
  if (key.asymmetricKeyType === "ec") return key.asymmetricKeyDetails?.namedCurve === "SM2";
  if (key.asymmetricKeyType !== undefined) return false;
  const spki = publicOf(key).export({ format: "der", type: "spki" });
  return spki.length === 91 && spki.subarray(0, SM2_SPKI_PREFIX.length).equals(SM2_SPKI_PREFIX);
}

function sm2PublicFromKeyObject(key: KeyObject): Sm2PublicKey {
  const spki = publicOf(key).export({ format: "der", type: "spki" });
  const [, bitString] = children(readTlv(spki, 0).body);
  if (bitString?.tag !== 0x03 || bitString.body[0] !== 0) throw new EvidenceKeyError("SM2 SPKI has no public key bit string");
  return Sm2PublicKey.fromUncompressed(bitString.body.subarray(1));
}

function sm2PrivateFromKeyObject(key: KeyObject): Sm2PrivateKey {
  const pkcs8 = key.export({ format: "der", type: "pkcs8" });
  const [, , octets] = children(readTlv(pkcs8, 0).body);
  if (octets?.tag !== 0x04) throw new EvidenceKeyError("PKCS#8 without a private key octet string");
  const [version, d] = children(readTlv(octets.body, 0).body);
  if (version?.tag !== 0x02 || d?.tag !== 0x04 || d.body.length > 32) throw new EvidenceKeyError("not an ECPrivateKey");
  return new Sm2PrivateKey(bytesToBigint(d.body));
}

/** A public key that verifies department or bus signatures. */
export class VerifyingKey {
  readonly keyId: string;

  private constructor(
    readonly alg: SignatureAlgorithm,
    /** The SubjectPublicKeyInfo DER the key id is computed from. */
    readonly spki: Buffer,
    private readonly impl: Sm2PublicKey | KeyObject,
  ) {
    this.keyId = keyIdOf(spki);
  }

  /** @internal */
  static ofSm2(key: Sm2PublicKey): VerifyingKey {
    return new VerifyingKey("SM2-SM3", sm2Spki(key), key);
  }

  /** @internal */
  static ofKeyObject(key: KeyObject): VerifyingKey {
    const pub = publicOf(key);
    if (isSm2(pub)) return VerifyingKey.ofSm2(sm2PublicFromKeyObject(pub));
    if (pub.asymmetricKeyType === "ed25519") return new VerifyingKey("Ed25519", pub.export({ format: "der", type: "spki" }), pub);
    throw new EvidenceKeyError(`unsupported key type ${pub.asymmetricKeyType ?? "unknown"}: expected SM2 or Ed25519`);
  }

  /** From a PEM ("PUBLIC KEY", or any private key PEM, whose public half is taken) or SPKI DER bytes. */
  static from(input: string | Uint8Array): VerifyingKey {
    let key: KeyObject;
    try {
      key = createPublicKey(typeof input === "string" ? input : { key: Buffer.from(input), format: "der", type: "spki" });
    } catch (cause) {
      throw new EvidenceKeyError("not a readable public key", { cause });
    }
    return VerifyingKey.ofKeyObject(key);
  }

  verify(message: Uint8Array, signature: Uint8Array): boolean {
    if (this.impl instanceof Sm2PublicKey) return sm2Verify(this.impl, message, signature);
    if (signature.length !== 64) return false;
    return nodeVerify(null, message, this.impl, signature);
  }

  /** The public key in the form sm2Verify/OpenSSL use, when it is SM2. */
  get sm2(): Sm2PublicKey | undefined {
    return this.impl instanceof Sm2PublicKey ? this.impl : undefined;
  }

  toPem(): string {
    return pem("PUBLIC KEY", this.spki);
  }
}

/** Anything that signs for a key id: a {@link SigningKey}, or an adapter to a cipher machine (密码机) holding the key. */
export interface Signer {
  readonly alg: SignatureAlgorithm;
  readonly keyId: string;
  sign(message: Uint8Array): Uint8Array;
}

/** A private key in process memory. */
export class SigningKey implements Signer {
  readonly publicKey: VerifyingKey;

  private constructor(private readonly impl: Sm2PrivateKey | KeyObject) {
    this.publicKey = impl instanceof Sm2PrivateKey ? VerifyingKey.ofSm2(impl.publicKey) : VerifyingKey.ofKeyObject(impl);
  }

  get alg(): SignatureAlgorithm {
    return this.publicKey.alg;
  }

  get keyId(): string {
    return this.publicKey.keyId;
  }

  static generate(alg: SignatureAlgorithm = "SM2-SM3"): SigningKey {
    if (alg === "SM2-SM3") return new SigningKey(Sm2PrivateKey.generate());
    if (alg === "Ed25519") return new SigningKey(generateKeyPairSync("ed25519").privateKey);
    throw new EvidenceKeyError(`unsupported signature algorithm ${String(alg)}`);
  }

  /** From a PEM ("PRIVATE KEY" PKCS#8, or "EC PRIVATE KEY" SEC1 for SM2) or PKCS#8 DER bytes. */
  static from(input: string | Uint8Array): SigningKey {
    let key: KeyObject;
    try {
      key = createPrivateKey(typeof input === "string" ? input : { key: Buffer.from(input), format: "der", type: "pkcs8" });
    } catch (cause) {
      throw new EvidenceKeyError("not a readable private key", { cause });
    }
    if (isSm2(key)) return new SigningKey(sm2PrivateFromKeyObject(key));
    if (key.asymmetricKeyType === "ed25519") return new SigningKey(key);
    throw new EvidenceKeyError(`unsupported key type ${key.asymmetricKeyType ?? "unknown"}: expected SM2 or Ed25519`);
  }

  sign(message: Uint8Array): Buffer {
    if (this.impl instanceof Sm2PrivateKey) return sm2Sign(this.impl, message);
    return nodeSign(null, message, this.impl);
  }

  /** @internal the SM2 private key, for low-level use (other distinguishing IDs, tests). */
  get sm2(): Sm2PrivateKey | undefined {
    return this.impl instanceof Sm2PrivateKey ? this.impl : undefined;
  }

  /** PKCS#8 PEM ("PRIVATE KEY"), readable by OpenSSL, GmSSL, Bouncy Castle. */
  toPem(): string {
    return pem("PRIVATE KEY", this.toPkcs8());
  }

  /** PKCS#8 DER: what {@link SigningKey.from} reads back (the signing pool hands keys to its workers this way). */
  toPkcs8(): Buffer {
    if (this.impl instanceof Sm2PrivateKey) {
      return Buffer.concat([SM2_PKCS8_PREFIX, bigintToBytes(this.impl.d), SM2_PKCS8_MIDDLE, this.impl.publicKey.uncompressed()]);
    }
    return this.impl.export({ format: "der", type: "pkcs8" });
  }
}

export function generateSigningKey(alg: SignatureAlgorithm = "SM2-SM3"): SigningKey {
  return SigningKey.generate(alg);
}

export function importSigningKey(pemOrDer: string | Uint8Array): SigningKey {
  return SigningKey.from(pemOrDer);
}

export function importVerifyingKey(pemOrDer: string | Uint8Array): VerifyingKey {
  return VerifyingKey.from(pemOrDer);
}

export interface KeyRingEntry {
  readonly key: VerifyingKey;
  /** The department code (metadata.department) the key signs for; unchecked when absent. */
  readonly owner?: string;
}

/** The public keys a verifier trusts, by key id. */
export class KeyRing implements Iterable<KeyRingEntry> {
  private readonly byId = new Map<string, KeyRingEntry>();

  constructor(entries: Iterable<VerifyingKey | KeyRingEntry> = []) {
    for (const entry of entries) {
      if (entry instanceof VerifyingKey) this.add(entry);
      else this.add(entry.key, entry.owner);
    }
  }

  add(key: VerifyingKey, owner?: string): this {
    this.byId.set(key.keyId, owner === undefined ? { key } : { key, owner });
    return this;
  }

  get(keyId: string): KeyRingEntry | undefined {
    return this.byId.get(keyId);
  }

  get size(): number {
    return this.byId.size;
  }

  [Symbol.iterator](): Iterator<KeyRingEntry> {
    return this.byId.values();
  }
}
