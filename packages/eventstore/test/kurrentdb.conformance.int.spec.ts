import { kurrentdbUrl } from "@shenguan/tests/harness/services";
import { expect, it } from "vitest";
import { KurrentEventStore } from "../src/kurrentdb/index.js";
import { describeEventStoreConformance } from "./conformance.js";

// KurrentDB runs in a container: the suite runs against KURRENTDB_URL, or a
// server testcontainers starts where a Docker engine answers. Machines with
// neither (this one) report it as not run; a pipeline that provides KurrentDB
// sets REQUIRE_KURRENTDB=true, so a missing server there fails instead.
const url = await kurrentdbUrl();

if (url) {
  describeEventStoreConformance("KurrentDB", async () => KurrentEventStore.connect(url));
} else {
  it("KurrentDB conformance not run: no KURRENTDB_URL and no Docker engine", () => {
    expect(process.env.REQUIRE_KURRENTDB, "REQUIRE_KURRENTDB=true but no KurrentDB server is available").not.toBe("true");
  });
}
