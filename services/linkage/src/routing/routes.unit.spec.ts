import { describe, expect, it } from "vitest";
import { normaliseRegion, pickRoute, regionCandidates } from "./routes.js";

describe("route lookup order (审管职责清单)", () => {
  it("goes from a 12-digit code to its township, county, city and province", () => {
    expect(regionCandidates("350102001002")).toEqual(["350102001002", "350102001000", "350102", "350100", "350000"]);
  });

  it("goes from a 6-digit county to its city and province", () => {
    expect(regionCandidates("350102")).toEqual(["350102", "350100", "350000"]);
  });

  it("lists a city-level or province-level code once", () => {
    expect(regionCandidates("350100")).toEqual(["350100", "350000"]);
    expect(regionCandidates("350000")).toEqual(["350000"]);
  });

  it("treats a 12-digit county code (…000000) as the 6-digit one", () => {
    expect(normaliseRegion("350102000000")).toBe("350102");
    expect(regionCandidates("350102000000")).toEqual(["350102", "350100", "350000"]);
    expect(regionCandidates("350102001000")).toEqual(["350102001000", "350102", "350100", "350000"]);
  });

  it("picks the most specific region that has a route", () => {
    const routes = [
      { regionCode: "350000", regulator: "province" },
      { regionCode: "350100", regulator: "city" },
      { regionCode: "350102", regulator: "county" },
    ];
    expect(pickRoute(routes, "350102001002")?.regulator).toBe("county");
    expect(pickRoute(routes, "350103")?.regulator).toBe("city");
    expect(pickRoute(routes, "350203")?.regulator).toBe("province");
    expect(pickRoute(routes, "440305")).toBeUndefined();
    expect(pickRoute([...routes, { regionCode: "350102001002", regulator: "village" }], "350102001002")?.regulator).toBe("village");
  });
});
