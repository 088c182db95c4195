import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyRing, SigningKey } from "@shenguan/evidence";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { KeyCustodyError } from "../src/errors.js";
import { FileKeyStore, MemoryKeyStore } from "../src/evidence/index.js";

describe("FileKeyStore", () => {
  let dir: string;
  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), "shenguan-keys-")), "keys");
  });
  afterEach(async () => {
    await rm(join(dir, ".."), { recursive: true, force: true });
  });

  it("creates one owner-only PKCS#8 PEM per department on first use, and a new instance signs with the same key", async () => {
    const keys = new FileKeyStore(dir, { autoProvision: true });
    const signer = await keys.signerFor("330100-SAMR");
    expect(signer?.alg).toBe("SM2-SM3");
    expect(await readdir(dir)).toEqual(["330100-SAMR.pem"]);
    expect((await stat(join(dir, "330100-SAMR.pem"))).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);

    const reopened = new FileKeyStore(dir);
    const again = await reopened.signerFor("330100-SAMR");
    expect(again?.keyId).toBe(signer?.keyId);
    const message = Buffer.from("许可决定");
    expect((await reopened.ensure("330100-SAMR")).verify(message, signer!.sign(message))).toBe(true);
  });

  it("keeps the algorithm a key was created with: Ed25519 stays Ed25519 when read back", async () => {
    await new FileKeyStore(dir).ensure("XYB-350100", "Ed25519");
    const entries = await new FileKeyStore(dir).publicKeys();
    expect(entries.map((e) => [e.owner, e.key.alg])).toEqual([["XYB-350100", "Ed25519"]]);
  });

  it("without autoProvision signs for no department it does not hold", async () => {
    const keys = new FileKeyStore(dir);
    expect(await keys.signerFor("SAMR")).toBeUndefined();
    expect(await keys.publicKeys()).toEqual([]);
  });

  it("creates a department's key once when first uses race, in one process and across instances", async () => {
    const a = new FileKeyStore(dir, { autoProvision: true });
    const b = new FileKeyStore(dir, { autoProvision: true });
    const signers = await Promise.all([a.signerFor("SAMR"), a.signerFor("SAMR"), b.signerFor("SAMR"), b.ensure("SAMR")]);
    const ids = new Set(signers.map((s) => s!.keyId));
    expect(ids.size).toBe(1);
    expect(await readdir(dir)).toEqual(["SAMR.pem"]);
  });

  it("lists every key in the directory with its owner, ready for a KeyRing", async () => {
    const keys = new FileKeyStore(dir, { autoProvision: true });
    const samr = await keys.ensure("SAMR");
    const bus = await keys.ensure("SHENGUAN-BUS");
    await writeFile(join(dir, "README.txt"), "not a key");
    const ring = new KeyRing(await new FileKeyStore(dir).publicKeys());
    expect(ring.get(samr.keyId)?.owner).toBe("SAMR");
    expect(ring.get(bus.keyId)?.owner).toBe("SHENGUAN-BUS");
    expect(ring.size).toBe(2);
  });

  it("refuses a department code that cannot name a key file, naming the field and the rule", async () => {
    const keys = new FileKeyStore(dir, { autoProvision: true });
    for (const bad of ["../etc/passwd", "", "a b", "-x"]) {
      const error = await keys.signerFor(bad).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KeyCustodyError);
      expect((error as Error).message).toMatch(/^department: must be 1 to 64 letters, digits/);
    }
  });

  it("names the file of an unreadable key", async () => {
    const keys = new FileKeyStore(dir, { autoProvision: true });
    await keys.ensure("SAMR");
    await writeFile(join(dir, "BROKEN.pem"), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    await expect(new FileKeyStore(dir).signerFor("BROKEN")).rejects.toThrow(/BROKEN\.pem is not a PKCS#8 SM2 or Ed25519 private key/);
  });
});

describe("MemoryKeyStore", () => {
  it("holds given keys, provisions on first use only when asked, and lists owners", async () => {
    const given = SigningKey.generate("Ed25519");
    const keys = new MemoryKeyStore().add("SAMR", given);
    expect((await keys.signerFor("SAMR"))?.keyId).toBe(given.keyId);
    expect(await keys.signerFor("OTHER")).toBeUndefined();
    const auto = new MemoryKeyStore({ autoProvision: true });
    const first = await auto.signerFor("OTHER");
    expect((await auto.signerFor("OTHER"))?.keyId).toBe(first?.keyId);
    expect((await auto.publicKeys()).map((e) => e.owner)).toEqual(["OTHER"]);
  });
});
