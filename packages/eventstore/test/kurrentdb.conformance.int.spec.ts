import { expect, it } from "vitest";
import { KurrentEventStore } from "../src/kurrentdb/index.js";
import { describeEventStoreConformance } from "./conformance.js";

// KurrentDB runs in a container; this machine has no Docker engine, so the
// suite runs only against a server named by KURRENTDB_URL (e.g.
// esdb://localhost:2113?tls=false). A pipeline that provides one sets
// REQUIRE_KURRENTDB=true, so a missing URL there fails instead of passing.
const url = process.env.KURRENTDB_URL;

if (url) {
  describeEventStoreConformance("KurrentDB", async () => KurrentEventStore.connect(url));
} else {
  it("KurrentDB conformance not run: set KURRENTDB_URL (no Docker engine here)", () => {
    expect(process.env.REQUIRE_KURRENTDB, "REQUIRE_KURRENTDB=true but KURRENTDB_URL is not set").not.toBe("true");
  });
}
