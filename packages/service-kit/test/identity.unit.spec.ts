import { generateKeyPairSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServiceApp, departmentOf, ForbiddenError, IDENTITY_HEADER, callerOf, type ServiceApp } from "../src/index.js";
import { signIdentity, ASSERTION_TTL_SECONDS } from "../src/identity.js";
import { ALL_GRANTS, testGatewayKey, vouchFor } from "../src/testing.js";

// Services accept only identities the gateway vouches for: an assertion signed
// by a trusted gateway key, not expired. Everything else is a 401 whose type names why.
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
    ["a forged assertion (another key)", vouchFor("SPJ-350100", undefined, { key: generateKeyPairSync("ed25519").privateKey }), "assertion-forged"],
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
    const edited = Buffer.from(JSON.stringify({ dept: "OPS-350100", grants: ALL_GRANTS, iat: 0, exp: 9e9, rid: "x" })).toString("base64url");
    expect((await whoami({ [IDENTITY_HEADER]: `${edited}.${sig}` })).json()).toMatchObject({ reason: "assertion-forged" });
  });

  it("accepts an assertion bound to this service and request, and refuses one replayed to another service or route", async () => {
    const bound = (aud: string, req: string) => {
      const iat = Math.floor(Date.now() / 1000);
      return { [IDENTITY_HEADER]: signIdentity(testGatewayKey.privateKey, { dept: "SPJ-350100", grants: ALL_GRANTS, iat, exp: iat + ASSERTION_TTL_SECONDS, rid: "r", aud, req }) };
    };
    expect((await whoami(bound("identity-test", "GET /whoami"))).statusCode).toBe(200);
    for (const headers of [bound("supervision", "GET /whoami"), bound("identity-test", "POST /cases")]) {
      const res = await whoami(headers);
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ reason: "assertion-misdirected" });
    }
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
