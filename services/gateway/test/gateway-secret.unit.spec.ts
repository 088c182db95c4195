import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hopKeyFor, parseHopKeys } from "@shenguan/service-kit";
import { describe, expect, it } from "vitest";
import { loadGatewaySecret } from "../src/tls.js";

describe("the gateway's secret", () => {
  const dir = () => mkdtempSync(join(tmpdir(), "gateway-secret-"));

  it("is created on first use in development (owner-only), and read back the same", () => {
    const path = join(dir(), "nested", "secret");
    const made = loadGatewaySecret(path, true);
    expect(made).toHaveLength(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(loadGatewaySecret(path).equals(made)).toBe(true);
    // What the hop-key command prints for a service is what that service is then configured with.
    const printed = hopKeyFor(loadGatewaySecret(path), "approval").toString("base64");
    expect(parseHopKeys(printed)[0]!.equals(hopKeyFor(made, "approval"))).toBe(true);
  });

  it("is never created where one is expected, and says how to make one", () => {
    expect(() => loadGatewaySecret(join(dir(), "absent"))).toThrow(
      /no gateway secret at .*absent: create one with 'openssl rand -base64 32/,
    );
  });

  it("refuses the Ed25519 PEM of earlier versions by name, and anything short", () => {
    const pem = join(dir(), "identity.pem");
    writeFileSync(pem, generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }));
    expect(() => loadGatewaySecret(pem)).toThrow(/holds a PEM key: identity assertions are tagged with HMAC-SM3 now/);
    const short = join(dir(), "short");
    writeFileSync(short, "c2hvcnQ=\n");
    expect(() => loadGatewaySecret(short)).toThrow(/gateway secret in .*short must be at least 32 bytes, got 5/);
    expect(readFileSync(short, "utf8")).toBe("c2hvcnQ=\n");
  });
});
