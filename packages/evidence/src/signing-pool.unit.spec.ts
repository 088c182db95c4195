import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBase64 } from "./bytes.js";
import type { SignatureAlgorithm } from "./canonical.js";
import { generateSigningKey, type Signer } from "./keys.js";
import { signBytes } from "./sign.js";
import { SigningPool } from "./signing-pool.js";

const sm2 = generateSigningKey("SM2-SM3");
const sm2b = generateSigningKey("SM2-SM3");
const ed = generateSigningKey("Ed25519");

function verifies(signature: { alg: SignatureAlgorithm; keyId: string; sig: string }, message: Uint8Array, key = sm2): boolean {
  expect(signature.alg).toBe(key.alg);
  expect(signature.keyId).toBe(key.keyId);
  return key.publicKey.verify(message, fromBase64(signature.sig)!);
}

describe("SigningPool", () => {
  let pool: SigningPool;
  beforeAll(() => {
    pool = new SigningPool({ size: 2 });
  });
  afterAll(async () => {
    await pool.close();
  });

  it("signs SM2-SM3 in the format of signBytes, verifiably (SM2 is randomised, so not byte-equal)", async () => {
    const message = Buffer.from('{"id":"e1","type":"LicenceGranted"}');
    const signature = await pool.signOne(message, sm2);
    const inline = signBytes(message, sm2);
    expect(Object.keys(signature)).toEqual(Object.keys(inline));
    expect(verifies(signature, message)).toBe(true);
    expect(verifies(signature, Buffer.from("another message"))).toBe(false);
  });

  it("signs Ed25519 exactly as on this thread", async () => {
    const message = Buffer.from("deterministic");
    expect(await pool.signOne(message, ed)).toEqual(signBytes(message, ed));
  });

  it("signs a batch of mixed keys in order, across concurrent batches", async () => {
    const keys = [sm2, sm2b, ed];
    const jobs = Array.from({ length: 30 }, (_, i) => ({ message: Buffer.from(`event ${i}`), signer: keys[i % 3]! }));
    const [a, b, c] = await Promise.all([pool.sign(jobs), pool.sign(jobs.slice(0, 7)), pool.sign([])]);
    expect(a).toHaveLength(30);
    a.forEach((s, i) => expect(verifies(s, jobs[i]!.message, keys[i % 3])).toBe(true));
    b.forEach((s, i) => expect(verifies(s, jobs[i]!.message, keys[i % 3])).toBe(true));
    expect(c).toEqual([]);
    expect(pool.workers).toHaveLength(2);
  });

  it("signs with a Signer that is not a SigningKey (a cipher machine) on the calling thread", async () => {
    const calls: Uint8Array[] = [];
    const hsm: Signer = { alg: sm2b.alg, keyId: sm2b.keyId, sign: (m) => (calls.push(m), sm2b.sign(m)) };
    const message = Buffer.from("held by a cipher machine");
    const [viaHsm, viaKey] = await pool.sign([
      { message, signer: hsm },
      { message, signer: sm2 },
    ]);
    expect(calls).toHaveLength(1);
    expect(verifies(viaHsm!, message, sm2b)).toBe(true);
    expect(verifies(viaKey!, message)).toBe(true);
  });

  it("rejects the jobs of a worker that dies, and replaces it", async () => {
    const crashing = new SigningPool({ size: 1 });
    try {
      await crashing.signOne(Buffer.from("warm"), sm2);
      const [worker] = crashing.workers;
      const jobs = Array.from({ length: 200 }, (_, i) => ({ message: Buffer.from(`event ${i}`), signer: sm2 }));
      const pending = crashing.sign(jobs);
      await worker!.terminate();
      await expect(pending).rejects.toThrow(/signing worker exited/);
      // The replacement has never seen the key: it is sent again.
      const message = Buffer.from("after the crash");
      expect(verifies(await crashing.signOne(message, sm2), message)).toBe(true);
      expect(crashing.workers).toHaveLength(1);
      expect(crashing.workers[0]).not.toBe(worker);
    } finally {
      await crashing.close();
    }
  });

  it("rejects outstanding and later jobs once closed", async () => {
    const closing = new SigningPool({ size: 1 });
    const pending = closing.sign(Array.from({ length: 200 }, (_, i) => ({ message: Buffer.from(`event ${i}`), signer: sm2 })));
    await closing.close();
    await expect(pending).rejects.toThrow(/closed/);
    await expect(closing.signOne(Buffer.from("x"), sm2)).rejects.toThrow(/closed/);
    expect(closing.workers).toHaveLength(0);
  });

  it("signs on the calling thread when its size is 0", async () => {
    const inline = new SigningPool({ size: 0 });
    const message = Buffer.from("inline");
    expect(verifies(await inline.signOne(message, sm2), message)).toBe(true);
    expect(await inline.signOne(message, ed)).toEqual(signBytes(message, ed));
    expect(inline.workers).toHaveLength(0);
    await inline.close();
    expect(() => new SigningPool({ size: -1 })).toThrow(RangeError);
  });
});
