import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { EvidenceKeyError } from "./errors.js";
import { generateSigningKey, importSigningKey, importVerifyingKey, keyIdOf, SigningKey, VerifyingKey } from "./keys.js";
import {
  decodeDerSignature,
  encodeDerSignature,
  SM2_DEFAULT_ID,
  SM2_N,
  sm2Digest,
  Sm2PrivateKey,
  sm2Sign,
  sm2Verify,
  WARM_AFTER,
} from "./sm2.js";
import { sm3 } from "./sm3.js";

const hex = (v: bigint) => v.toString(16).padStart(64, "0");

describe("SM3 (GB/T 32905-2016 Appendix A)", () => {
  it("hashes the standard's examples", () => {
    expect(sm3(Buffer.from("abc")).toString("hex")).toBe("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
    expect(sm3(Buffer.from("abcd".repeat(16))).toString("hex")).toBe("debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
    expect(sm3(Buffer.from("ab"), Buffer.from("c"))).toEqual(sm3(Buffer.from("abc")));
  });
});

describe("SM2 with SM3 and the default distinguishing ID", () => {
  // GM/T 0003.5-2012 / GB/T 32918.5-2017 Appendix A: signature example on the recommended curve, ID "1234567812345678".
  const d = 0x3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8n;
  const k = 0x59276e27d506861a16680f3ad9c02dccef3cc1fa3cdbe4ce6d54b80deac1bc21n;

  it("reproduces the GM/T 0003.5 signature example (public key, e, r, s)", () => {
    const key = new Sm2PrivateKey(d);
    expect(hex(key.publicKey.x)).toBe("09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020");
    expect(hex(key.publicKey.y)).toBe("ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13");
    const e = sm2Digest(key.publicKey, Buffer.from("message digest"), Buffer.from(SM2_DEFAULT_ID));
    expect(hex(e)).toBe("f0b43e94ba45accaace692ed534382eb17e6ab5a19ce7b31f4486fdfc0d28640");
    const { r, s } = key.signDigest(e, k);
    expect(hex(r)).toBe("f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3");
    expect(hex(s)).toBe("b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa");
    expect(sm2Verify(key.publicKey, Buffer.from("message digest"), encodeDerSignature(r, s))).toBe(true);
  });

  it("round-trips and rejects altered messages and signatures", () => {
    const key = generateSigningKey("SM2-SM3");
    const message = Buffer.from("行政审批局 → 市场监管局");
    const signature = key.sign(message);
    expect(key.publicKey.verify(message, signature)).toBe(true);
    expect(key.publicKey.verify(Buffer.from("行政审批局 → 住建局"), signature)).toBe(false);
    const flipped = Buffer.from(signature);
    flipped[flipped.length - 1]! ^= 1;
    expect(key.publicKey.verify(message, flipped)).toBe(false);
    expect(key.publicKey.verify(message, Buffer.from("garbage"))).toBe(false);
    expect(generateSigningKey().publicKey.verify(message, signature)).toBe(false);
    // Signatures are randomised (fresh k each time) yet all verify.
    expect(key.sign(message).equals(signature)).toBe(false);
  });

  it("stays correct when the key's verification table is upgraded (w = 4 → 8) after busy use", () => {
    const key = generateSigningKey();
    for (let i = 0; i < WARM_AFTER / 2 + 20; i++) {
      const message = Buffer.from(`event ${i}`);
      const signature = key.sign(message);
      expect(key.publicKey.verify(message, signature)).toBe(true);
      expect(key.publicKey.verify(Buffer.from(`event ${i + 1}`), signature)).toBe(false);
    }
  });

  it("rejects r or s outside [1, n − 1] and non-canonical DER", () => {
    const key = generateSigningKey();
    const message = Buffer.from("m");
    const { r, s } = decodeDerSignature(key.sign(message))!;
    const pub = key.sm2!.publicKey;
    expect(sm2Verify(pub, message, encodeDerSignature(r + SM2_N, s))).toBe(false);
    expect(sm2Verify(pub, message, encodeDerSignature(r, s + SM2_N))).toBe(false);
    expect(sm2Verify(pub, message, encodeDerSignature(0n, s))).toBe(false);
    const der = encodeDerSignature(r, s);
    expect(sm2Verify(pub, message, Buffer.concat([der, Buffer.of(0)]))).toBe(false); // trailing byte
    const padded = Buffer.concat([Buffer.of(0x30, der[1]! + 1, 0x02, der[3]! + 1, 0x00), der.subarray(4)]); // r with a redundant leading zero
    expect(decodeDerSignature(padded)).toBeUndefined();
  });

  it('with the empty ID interoperates with Node\'s native SM2 both ways: Node 20 / OpenSSL 3.0 signs with ID "", not the standard default', () => {
    const key = generateSigningKey();
    const message = Buffer.from("distinguishing ID");
    const nodePrivate = createPrivateKey(key.toPem()); // an OpenSSL "SM2" key: genuine SM2 signing
    const nodePublic = createPublicKey(key.publicKey.toPem());
    const native = nodeSign(null, message, nodePrivate);
    expect(sm2Verify(key.sm2!.publicKey, message, native, { id: "" })).toBe(true);
    expect(sm2Verify(key.sm2!.publicKey, message, native)).toBe(false); // not with "1234567812345678"
    expect(key.publicKey.verify(message, native)).toBe(false);
    expect(nodeVerify(null, message, nodePublic, sm2Sign(key.sm2!, message, { id: "" }))).toBe(true);
    expect(nodeVerify(null, message, nodePublic, key.sign(message))).toBe(false);
  });

  it("finding: a key from generateKeyPairSync('ec', { namedCurve: 'SM2' }) is signed by Node with ECDSA, not SM2", () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "SM2" });
    expect(privateKey.asymmetricKeyType).toBe("ec");
    const message = Buffer.from("which algorithm?");
    const ecdsa = nodeSign(null, message, privateKey);
    const key = importSigningKey(privateKey.export({ format: "pem", type: "pkcs8" }).toString());
    expect(sm2Verify(key.sm2!.publicKey, message, ecdsa)).toBe(false);
    expect(sm2Verify(key.sm2!.publicKey, message, ecdsa, { id: "" })).toBe(false);
    // Our import of the same key signs genuine SM2.
    expect(key.publicKey.verify(message, key.sign(message))).toBe(true);
  });
});

describe("keys", () => {
  it("exports and imports PEM for both algorithms with a stable key id", () => {
    for (const alg of ["SM2-SM3", "Ed25519"] as const) {
      const key = SigningKey.generate(alg);
      const again = importSigningKey(key.toPem());
      const pub = importVerifyingKey(key.publicKey.toPem());
      expect(again.keyId).toBe(key.keyId);
      expect(pub.keyId).toBe(key.keyId);
      expect(pub.alg).toBe(alg);
      expect(key.toPem()).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      expect(key.publicKey.toPem()).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
      const message = Buffer.from(alg);
      expect(pub.verify(message, again.sign(message))).toBe(true);
      expect(importVerifyingKey(key.publicKey.spki).keyId).toBe(key.keyId);
    }
  });

  it("key id = hex of the first 16 bytes of SM3(SPKI DER), the same for SEC1, PKCS#8 and private-key PEMs", () => {
    const key = generateSigningKey();
    expect(key.keyId).toMatch(/^[0-9a-f]{32}$/);
    const spki = createPublicKey(key.publicKey.toPem()).export({ format: "der", type: "spki" });
    expect(key.keyId).toBe(sm3(spki).subarray(0, 16).toString("hex"));
    expect(keyIdOf(spki)).toBe(key.keyId);
    // SEC1 export only from an "ec"-typed KeyObject: Node 20 aborts (C++ assertion) exporting an OpenSSL "SM2"-typed one as sec1.
    const ec = generateKeyPairSync("ec", { namedCurve: "SM2" });
    const sec1 = ec.privateKey.export({ format: "pem", type: "sec1" }).toString();
    expect(sec1).toMatch(/BEGIN EC PRIVATE KEY/);
    expect(importSigningKey(sec1).keyId).toBe(importSigningKey(ec.privateKey.export({ format: "pem", type: "pkcs8" }).toString()).keyId);
    expect(importSigningKey(sec1).keyId).toBe(importVerifyingKey(ec.publicKey.export({ format: "pem", type: "spki" }).toString()).keyId);
    expect(importVerifyingKey(key.toPem()).keyId).toBe(key.keyId);
    expect(VerifyingKey.from(key.publicKey.toPem()).sm2?.x).toBe(key.sm2!.publicKey.x);
  });

  it("refuses other curves and algorithms", () => {
    const p256 = generateKeyPairSync("ec", { namedCurve: "P-256" });
    expect(() => importSigningKey(p256.privateKey.export({ format: "pem", type: "pkcs8" }).toString())).toThrow(EvidenceKeyError);
    expect(() => importVerifyingKey(p256.publicKey.export({ format: "pem", type: "spki" }).toString())).toThrow(/unsupported key type ec/);
    expect(() => importVerifyingKey("not a key")).toThrow(EvidenceKeyError);
    expect(() => new Sm2PrivateKey(0n)).toThrow(EvidenceKeyError);
    expect(() => new Sm2PrivateKey(SM2_N - 1n)).toThrow(EvidenceKeyError);
  });

  it("Ed25519 round-trips and rejects tampering", () => {
    const key = generateSigningKey("Ed25519");
    const message = Buffer.from("ed25519");
    const signature = key.sign(message);
    expect(signature).toHaveLength(64);
    expect(key.publicKey.verify(message, signature)).toBe(true);
    expect(key.publicKey.verify(Buffer.from("ed25518"), signature)).toBe(false);
    expect(key.publicKey.verify(message, signature.subarray(1))).toBe(false);
  });
});
