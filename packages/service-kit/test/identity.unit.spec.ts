import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServiceApp, departmentOf, ForbiddenError, IDENTITY_HEADER, callerOf, type ServiceApp } from "../src/index.js";
import { signIdentity, ASSERTION_TTL_SECONDS, hopKeyFor, hopKeysOf, parseHopKeys, trustHopKey, verifyIdentity } from "../src/identity.js";
import { hopKeysFromEnv } from "../src/process.js";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ALL_GRANTS, testGatewaySecret, vouchFor } from "../src/testing.js";

// Services accept only identities the gateway vouches for: an assertion signed
// by a trusted gateway (HMAC-SM3 with the service's hop key), not expired. Everything else is a 401 whose type names why.
let app: ServiceApp;
beforeAll(async () => {
  app = await createServiceApp({ name: "identity-test", description: "test", logger: false });
  app.get("/whoami", async (req) => ({ department: departmentOf(req), grants: callerOf(req).grants }));
  app.get("/forbidden", async () => {
    throw new ForbiddenError("SCJG-350100 may not publish LicenceGranted", "publish:LicenceGranted");
  });
  await app.ready();
});
afterAll(() => app?.close());

const whoami = (headers: Record<string, string>) => app.inject({ url: "/whoami", headers });

describe("vouched identity", () => {
  it("puts the vouched department and grants on the request", async () => {
    const res = await whoami(vouchFor("SPJ-350100", ALL_GRANTS));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ department: "SPJ-350100", grants: ALL_GRANTS });
  });

  it.each([
    ["no assertion", {}, "assertion-missing"],
    ["only the old department header", { "x-shenguan-department": "SPJ-350100" }, "assertion-missing"],
    ["a forged assertion (another gateway's secret)", vouchFor("SPJ-350100", undefined, { key: randomBytes(32) }), "assertion-forged"],
    ["an expired assertion", vouchFor("SPJ-350100", undefined, { at: new Date(Date.now() - 10 * 60_000) }), "assertion-expired"],
    ["a malformed assertion", { [IDENTITY_HEADER]: "not-an-assertion" }, "assertion-malformed"],
  ])("refuses %s with 401", async (_what, headers, reason) => {
    const res = await whoami(headers as Record<string, string>);
    expect(res.statusCode).toBe(401);
    expect(res.headers["content-type"]).toContain("application/problem+json");
    expect(res.json()).toMatchObject({ status: 401, reason, type: `urn:shenguan:problem:access.unauthenticated.${reason}` });
  });

  it("refuses an assertion whose claims were edited after signing", async () => {
    const [, sig] = vouchFor("SPJ-350100")[IDENTITY_HEADER].split(".");
    const edited = Buffer.from(JSON.stringify({ dept: "OPS-350100", grants: ALL_GRANTS, iat: 0, exp: 9e9, rid: "x" })).toString(
      "base64url",
    );
    expect((await whoami({ [IDENTITY_HEADER]: `${edited}.${sig}` })).json()).toMatchObject({ reason: "assertion-forged" });
  });

  it("accepts an assertion bound to this service and request, and refuses one replayed to another service or route", async () => {
    const bound = (aud: string, req: string) => {
      const iat = Math.floor(Date.now() / 1000);
      return {
        [IDENTITY_HEADER]: signIdentity(testGatewaySecret, {
          dept: "SPJ-350100",
          grants: ALL_GRANTS,
          iat,
          exp: iat + ASSERTION_TTL_SECONDS,
          rid: "r",
          aud,
          req,
        }),
      };
    };
    expect((await whoami(bound("identity-test", "GET /whoami"))).statusCode).toBe(200);
    // Another service's assertion is tagged with that service's key: not one this service holds.
    expect((await whoami(bound("supervision", "GET /whoami"))).json()).toMatchObject({ status: 401, reason: "assertion-forged" });
    expect((await whoami(bound("identity-test", "POST /cases"))).json()).toMatchObject({ status: 401, reason: "assertion-misdirected" });
  });

  it("leaves health and metrics open", async () => {
    expect((await app.inject({ url: "/health" })).statusCode).toBe(200);
    expect((await app.inject({ url: "/metrics" })).statusCode).toBe(200);
  });

  it("names the missing grant in a 403", async () => {
    const res = await app.inject({ url: "/forbidden", headers: vouchFor("SCJG-350100") });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ type: "urn:shenguan:problem:access.forbidden", grant: "publish:LicenceGranted" });
  });
});

describe("hop keys", () => {
  const secret = randomBytes(32);
  const now = new Date();
  const iat = Math.floor(now.getTime() / 1000);
  const claims = { dept: "SPJ-350100", grants: ALL_GRANTS, iat, exp: iat + ASSERTION_TTL_SECONDS, rid: "r" };
  const approval = { service: "approval", request: "POST /cases" };

  it("a service holding only its own key accepts the gateway's assertions for it, and nothing keyed for another service or for any", () => {
    const own = [hopKeyFor(secret, "approval")];
    expect(verifyIdentity(signIdentity(secret, { ...claims, aud: "approval", req: "POST /cases" }), own, now, approval)).toEqual({
      department: "SPJ-350100",
      grants: ALL_GRANTS,
    });
    for (const header of [signIdentity(secret, { ...claims, aud: "linkage", req: "POST /cases" }), signIdentity(secret, claims)]) {
      expect(() => verifyIdentity(header, own, now, approval)).toThrow(expect.objectContaining({ reason: "assertion-forged" }));
    }
  });

  it("derives a distinct key per service from one secret, the same every time", () => {
    expect(hopKeyFor(secret, "approval").equals(hopKeyFor(Buffer.from(secret), "approval"))).toBe(true);
    expect(hopKeyFor(secret, "approval").equals(hopKeyFor(secret, "linkage"))).toBe(false);
    expect(hopKeyFor(secret, "approval")).toHaveLength(32);
  });

  it("refuses a tag cut short or lengthened, in constant time", () => {
    const [body, tag] = signIdentity(secret, { ...claims, aud: "approval" }).split(".");
    const raw = Buffer.from(tag!, "base64url");
    for (const t of [raw.subarray(0, 16), Buffer.concat([raw, Buffer.alloc(1)])]) {
      expect(() => verifyIdentity(`${body}.${t.toString("base64url")}`, [hopKeyFor(secret, "approval")], now, approval)).toThrow(
        expect.objectContaining({ reason: "assertion-forged" }),
      );
    }
  });

  it("takes a service's key as base64, and refuses what cannot be one, saying where to get it", () => {
    trustHopKey("hop-key-test", hopKeyFor(secret, "hop-key-test").toString("base64"));
    expect(hopKeysOf("hop-key-test")[0]!.equals(hopKeyFor(secret, "hop-key-test"))).toBe(true);
    expect(() => trustHopKey("hop-key-test", "c2hvcnQ=")).toThrow(
      /must be 32 bytes, got 5: print the service's key with 'pnpm --filter @shenguan\/gateway run hop-key <service>'/,
    );
    // Node would decode these leniently into some key; every request would then be "forged".
    for (const notBase64 of ["/etc/shenguan/approval-hop-key-that-does-not-exist.b64", "-----BEGIN PUBLIC KEY-----"]) {
      expect(() => trustHopKey("hop-key-test", notBase64)).toThrow(/must be base64/);
    }
    expect(() => trustHopKey("*", hopKeyFor(secret, "*"))).toThrow(/not a service/);
  });

  it("reads SHENGUAN_HOP_KEY or SHENGUAN_HOP_KEY_FILE, several keys while the gateway rotates, and refuses what would fail every request", () => {
    const [a, b] = [hopKeyFor(secret, "approval"), hopKeyFor(randomBytes(32), "approval")];
    expect(parseHopKeys(`${a.toString("base64")}, ${b.toString("base64")}\n`)).toEqual([a, b]);
    const file = join(mkdtempSync(join(tmpdir(), "hop-")), "approval.key");
    writeFileSync(file, `${a.toString("base64")}\n${b.toString("base64")}\n`);
    expect(hopKeysFromEnv({ SHENGUAN_HOP_KEY_FILE: file })).toEqual([a, b]);
    expect(hopKeysFromEnv({ SHENGUAN_HOP_KEY: a.toString("base64") })).toEqual([a]);
    expect(() => hopKeysFromEnv({})).toThrow(/SHENGUAN_HOP_KEY \(or SHENGUAN_HOP_KEY_FILE\) is required/);
    expect(() => hopKeysFromEnv({ SHENGUAN_HOP_KEY_FILE: `${file}.missing` })).toThrow(/SHENGUAN_HOP_KEY_FILE: cannot read .*ENOENT/);
    expect(() => hopKeysFromEnv({ SHENGUAN_HOP_KEY: "c2hvcnQ=" })).toThrow(/^SHENGUAN_HOP_KEY: the hop key must be 32 bytes, got 5/);
    expect(() => hopKeysFromEnv({ SHENGUAN_HOP_KEY: a.toString("base64"), SHENGUAN_HOP_KEY_FILE: file })).toThrow(/not both/);
    expect(() => hopKeysFromEnv({ SHENGUAN_GATEWAY_PUBLIC_KEY: "x", SHENGUAN_HOP_KEY: a.toString("base64") })).toThrow(/no longer read/);
  });

  it("accepts one encoding of a tag only: stray characters base64url would skip make it another header", () => {
    const header = signIdentity(secret, { ...claims, aud: "approval" });
    const own = [hopKeyFor(secret, "approval")];
    expect(verifyIdentity(header, own, now, approval).department).toBe("SPJ-350100");
    expect(() => verifyIdentity(`${header}@@`, own, now, approval)).toThrow(expect.objectContaining({ reason: "assertion-forged" }));
  });

  it("names the claim that is wrong in a tagged assertion", () => {
    for (const [bad, rule] of [
      [{ ...claims, dept: "lower-case" }, /dept must be a department code/],
      [{ ...claims, exp: "soon" }, /exp must be a number/],
      [{ ...claims, grants: null }, /grants must be an object/],
    ] as const) {
      expect(() =>
        verifyIdentity(
          signIdentity(secret, { ...(bad as typeof claims), aud: "approval" }),
          [hopKeyFor(secret, "approval")],
          now,
          approval,
        ),
      ).toThrow(rule);
    }
  });

  it("with no key at all, says what to configure", () => {
    expect(() => verifyIdentity(signIdentity(secret, claims), [], now, approval)).toThrow(/set SHENGUAN_HOP_KEY/);
  });
});
