import { describe, expect, it } from "vitest";
import { idFromKey } from "../src/ids.js";

describe("idFromKey", () => {
  it("makes the same RFC 9562 version-8 UUID for the same department, key and purpose", () => {
    const id = idFromKey("SCJG-350102", "key-1", "inspection");
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(idFromKey("SCJG-350102", "key-1", "inspection")).toBe(id);
  });

  it("keeps departments, keys and purposes apart", () => {
    const ids = new Set([
      idFromKey("SCJG-350102", "key-1", "inspection"),
      idFromKey("SCJG-350103", "key-1", "inspection"),
      idFromKey("SCJG-350102", "key-2", "inspection"),
      idFromKey("SCJG-350102", "key-1", "penalty"),
      // unambiguous framing keeps ("a", "b\u0000c") apart from ("a\u0000b", "c")
      idFromKey("A", "B\u0000C", "p"),
      idFromKey("A\u0000B", "C", "p"),
    ]);
    expect(ids.size).toBe(6);
  });
});
