import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sm3 } from "./sm3.js";

const openssl = (...parts: Uint8Array[]) => {
  const h = createHash("sm3");
  for (const p of parts) h.update(p);
  return h.digest("hex");
};

describe("sm3", () => {
  it("gives the GB/T 32905 test vectors", () => {
    expect(sm3(Buffer.from("abc")).toString("hex")).toBe("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
    expect(sm3(Buffer.from("abcd".repeat(16))).toString("hex")).toBe("debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
  });

  it("equals OpenSSL's SM3 at every length around the block and padding edges, and split into parts anywhere", () => {
    for (let length = 0; length <= 300; length++) {
      const message = randomBytes(length);
      expect(sm3(message).toString("hex"), `length ${length}`).toBe(openssl(message));
      const cut = Math.floor(length / 3);
      expect(sm3(message.subarray(0, cut), message.subarray(cut, 2 * cut), message.subarray(2 * cut)).toString("hex")).toBe(
        openssl(message),
      );
    }
  });

  it("equals OpenSSL's SM3 on long messages and on the parts a verifier hashes", () => {
    for (const length of [1000, 4095, 4096, 4097, 100_000]) {
      const message = randomBytes(length);
      expect(sm3(message).toString("hex"), `length ${length}`).toBe(openssl(message));
    }
    const node = [Buffer.of(1), randomBytes(32), randomBytes(32)];
    expect(sm3(...node).toString("hex")).toBe(openssl(...node));
    expect(sm3().toString("hex")).toBe(openssl());
  });
});
