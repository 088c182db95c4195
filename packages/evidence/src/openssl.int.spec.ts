// Interoperability with an independent implementation: the openssl command line (OpenSSL 3.0 on Debian 12).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { canonicalEvent } from "./canonical.js";
import { generateSigningKey, importSigningKey, importVerifyingKey } from "./keys.js";
import { sm2Verify } from "./sm2.js";
import { sm3 } from "./sm3.js";
import { licenceEvent } from "./testing.js";

// The independent implementation is required, not optional: without it the suite fails (infra/bootstrap.sh installs it).
if (spawnSync("openssl", ["version"]).status !== 0) throw new Error("the openssl command line is missing: apt-get install openssl");
const DISTID = "distid:1234567812345678";

describe("openssl CLI interoperability", () => {
  const dir = mkdtempSync(join(tmpdir(), "evidence-openssl-"));
  const file = (name: string, content?: string | Uint8Array) => {
    const path = join(dir, name);
    if (content !== undefined) writeFileSync(path, content);
    return path;
  };
  /** Runs openssl; returns its exit status and output (a failed verification exits 1). */
  const openssl = (...args: string[]) => {
    const r = spawnSync("openssl", args, { encoding: "utf8" });
    return { status: r.status, out: `${r.stdout}${r.stderr}`.trim() };
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // A real event's canonical bytes as the message.
  const message = canonicalEvent(licenceEvent("licence-SP-350100-2026-000123", 0n, "SPJ-350100", 1));
  const messagePath = file("event.json", message);

  it("records the OpenSSL version", () => {
    expect(execFileSync("openssl", ["version"], { encoding: "utf8" })).toMatch(/^OpenSSL 3\./);
  });

  it("SM3 of canonical event bytes equals `openssl dgst -sm3`", () => {
    expect(openssl("dgst", "-sm3", "-r", messagePath).out.split(" ")[0]).toBe(sm3(message).toString("hex"));
  });

  it("our SM2 signature verifies with openssl given distid 1234567812345678 (and not with OpenSSL's empty default ID)", () => {
    const key = generateSigningKey("SM2-SM3");
    const pub = file("ours.pub.pem", key.publicKey.toPem());
    const sig = file("ours.sig", key.sign(message));
    expect(openssl("dgst", "-sm3", "-verify", pub, "-sigopt", DISTID, "-signature", sig, messagePath)).toEqual({
      status: 0,
      out: "Verified OK",
    });
    expect(
      openssl(
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        pub,
        "-rawin",
        "-digest",
        "sm3",
        "-pkeyopt",
        DISTID,
        "-in",
        messagePath,
        "-sigfile",
        sig,
      ),
    ).toEqual({
      status: 0,
      out: "Signature Verified Successfully",
    });
    expect(openssl("dgst", "-sm3", "-verify", pub, "-signature", sig, messagePath)).toMatchObject({
      status: 1,
      out: expect.stringMatching(/^Verification failure/),
    });
    // openssl also reads our private key PEM and derives the same public key.
    const priv = file("ours.pem", key.toPem());
    expect(openssl("pkey", "-in", priv, "-pubout").out + "\n").toBe(key.publicKey.toPem());
  });

  it("an openssl SM2 signature with distid 1234567812345678 verifies with our code; one with the default (empty) ID only under id ''", () => {
    const priv = file("ossl.pem");
    expect(openssl("genpkey", "-algorithm", "SM2", "-out", priv).status).toBe(0);
    const key = importSigningKey(readFileSync(priv, "utf8"));
    const withId = file("ossl-id.sig");
    expect(openssl("dgst", "-sm3", "-sign", priv, "-sigopt", DISTID, "-out", withId, messagePath).status).toBe(0);
    expect(key.publicKey.verify(message, readFileSync(withId))).toBe(true);
    const viaPkeyutl = file("ossl-pkeyutl.sig");
    expect(
      openssl("pkeyutl", "-sign", "-inkey", priv, "-rawin", "-digest", "sm3", "-pkeyopt", DISTID, "-in", messagePath, "-out", viaPkeyutl)
        .status,
    ).toBe(0);
    expect(key.publicKey.verify(message, readFileSync(viaPkeyutl))).toBe(true);
    const noId = file("ossl-noid.sig");
    expect(openssl("dgst", "-sm3", "-sign", priv, "-out", noId, messagePath).status).toBe(0);
    expect(key.publicKey.verify(message, readFileSync(noId))).toBe(false);
    expect(sm2Verify(key.sm2!.publicKey, message, readFileSync(noId), { id: "" })).toBe(true);
  });

  it("key id = first 16 bytes of SM3 over the SPKI DER, as openssl computes it", () => {
    const priv = file("ossl2.pem");
    openssl("genpkey", "-algorithm", "SM2", "-out", priv);
    const der = file("ossl2.pub.der");
    expect(openssl("pkey", "-in", priv, "-pubout", "-outform", "DER", "-out", der).status).toBe(0);
    const digest = openssl("dgst", "-sm3", "-r", der).out.split(" ")[0]!;
    expect(importSigningKey(readFileSync(priv, "utf8")).keyId).toBe(digest.slice(0, 32));
    expect(importVerifyingKey(readFileSync(der)).keyId).toBe(digest.slice(0, 32));
  });

  it("Ed25519 both ways", () => {
    const key = generateSigningKey("Ed25519");
    const pub = file("ed.pub.pem", key.publicKey.toPem());
    const sig = file("ed.sig", key.sign(message));
    expect(openssl("pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", messagePath, "-sigfile", sig).status).toBe(0);
    const priv = file("ed-ossl.pem");
    openssl("genpkey", "-algorithm", "ED25519", "-out", priv);
    const osslSig = file("ed-ossl.sig");
    expect(openssl("pkeyutl", "-sign", "-inkey", priv, "-rawin", "-in", messagePath, "-out", osslSig).status).toBe(0);
    expect(importSigningKey(readFileSync(priv, "utf8")).publicKey.verify(message, readFileSync(osslSig))).toBe(true);
  });
});
