import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  InvalidIdentifierError,
  assertUscc,
  computeUsccCheckChar,
  createUsccValidator,
  parseUsccExceptionList,
  readUsccExceptionListFile,
  validateUscc,
} from "./index.js";

// Published codes; each verified against both check algorithms.
const REAL_CODES = {
  "GB 32100-2015 example": "91350100M000100Y43",
  Tencent: "9144030071526726XG",
  "Alibaba (China)": "91330100716105852F",
  "Huawei Technologies": "914403001922038216",
  "Kweichow Moutai": "91520000214434146R",
  "Bank of China": "911000001000013428",
};

/** Replace one character and recompute the mod-31 check so only the intended rule breaks. */
function mutate(code: string, index: number, ch: string): string {
  const first17 = (code.slice(0, index) + ch + code.slice(index + 1)).slice(
    0,
    17,
  );
  return first17 + computeUsccCheckChar(first17);
}

const rules = (input: string): string[] => {
  const r = validateUscc(input);
  return r.ok ? [] : r.errors.map((e) => e.rule);
};

describe("validateUscc", () => {
  it.each(Object.entries(REAL_CODES))("accepts %s (%s)", (_name, code) => {
    expect(validateUscc(code)).toEqual({ ok: true, value: code });
  });

  it("trims and upper-cases", () => {
    expect(validateUscc("  9144030071526726xg\t")).toEqual({
      ok: true,
      value: "9144030071526726XG",
    });
  });

  it("uscc.length", () => {
    const r = validateUscc("91350100M000100Y4");
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors).toEqual([
        {
          rule: "uscc.length",
          message: "USCC must be 18 characters (GB 32100-2015), found 17",
        },
      ]);
    }
  });

  it("uscc.whitespace for inner whitespace", () => {
    const r = validateUscc("9135 0100M000100Y43");
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors.map((e) => e.rule)).toEqual([
        "uscc.length",
        "uscc.whitespace",
      ]);
      expect(r.errors[1]).toMatchObject({
        position: 4,
        message: expect.stringContaining("U+0020 at index 4"),
      });
    }
  });

  it("uscc.alphabet reports each excluded letter with its position and skips the checks", () => {
    const r = validateUscc("9135O100M000100I43");
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors.map((e) => [e.rule, e.position])).toEqual([
        ["uscc.alphabet", 4],
        ["uscc.alphabet", 15],
      ]);
      expect(r.errors[0].message).toContain("found 'O'");
    }
  });

  it("uscc.region when the region part is not 6 digits", () => {
    const code = mutate(REAL_CODES.Tencent, 4, "A");
    const r = validateUscc(code);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors).toEqual([
        {
          rule: "uscc.region",
          message:
            "region code (index 2-7) must be 6 digits (GB/T 2260), found '44A300'",
          position: 4,
        },
      ]);
    }
  });

  it("uscc.org-code-check alone when only the embedded GB 11714 check is wrong", () => {
    const code = mutate(REAL_CODES.Tencent, 16, "1"); // real org-code check is 'X'
    const r = validateUscc(code);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors).toEqual([
        {
          rule: "uscc.org-code-check",
          message:
            "organisation code check character (index 16) must be 'X' (GB 11714 mod-11), found '1'",
          position: 16,
        },
      ]);
    }
  });

  it("uscc.check-char alone when only the mod-31 check is wrong", () => {
    const r = validateUscc("9144030071526726XH");
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors).toEqual([
        {
          rule: "uscc.check-char",
          message:
            "check character must be 'G' (GB 32100-2015 mod-31), found 'H'",
          position: 17,
        },
      ]);
    }
  });

  it("reports both checks when an organisation-code body character is mistyped", () => {
    expect(rules("91330100716105862F")).toEqual([
      "uscc.org-code-check",
      "uscc.check-char",
    ]);
  });

  it("rejects a transposition of adjacent characters", () => {
    expect(rules("914403001920238216")).not.toEqual([]);
  });
});

describe("assertUscc", () => {
  it("returns the normalised value", () => {
    expect(assertUscc("91520000214434146r", "applicant.uscc")).toBe(
      "91520000214434146R",
    );
  });

  it("throws InvalidIdentifierError carrying rule and field", () => {
    let caught: unknown;
    try {
      assertUscc("9144030071526726XH", "applicant.uscc");
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(InvalidIdentifierError);
    expect(caught).toBeInstanceOf(Error);
    expect(caught).toMatchObject({
      name: "InvalidIdentifierError",
      rule: "uscc.check-char",
      field: "applicant.uscc",
      message:
        "applicant.uscc: check character must be 'G' (GB 32100-2015 mod-31), found 'H'",
    });
  });
});

describe("exception list", () => {
  // Stand-in for a pilot-era code that fails the algorithm but is legal.
  const pilot = "9144030071526726XH";

  it("accepts listed codes and flags them; the default validator does not", () => {
    const validator = createUsccValidator({
      exceptions: [` ${pilot.toLowerCase()} `],
    });
    expect(validator.validate(pilot)).toEqual({
      ok: true,
      value: pilot,
      exception: true,
    });
    expect(validator.assert(pilot, "f")).toBe(pilot);
    expect(validateUscc(pilot).ok).toBe(false);
  });

  it("does not flag a listed code that passes the algorithm anyway", () => {
    const validator = createUsccValidator({ exceptions: [REAL_CODES.Tencent] });
    expect(validator.validate(REAL_CODES.Tencent)).toEqual({
      ok: true,
      value: REAL_CODES.Tencent,
    });
  });

  it("still enforces length and alphabet on listed codes", () => {
    expect(() =>
      createUsccValidator({ exceptions: ["91350100M000100Y4"] }),
    ).toThrow(/exceptions\[0\].*18 characters/);
    expect(() =>
      createUsccValidator({ exceptions: ["9135O100M000100Y43"] }),
    ).toThrow(InvalidIdentifierError);
  });

  it("parses a file with comments, blank lines and CRLF", () => {
    const content = [
      "# pilot-era codes, approved by ops ticket 123",
      "",
      `${pilot}   # Shenzhen pilot`,
      "  91350100m000100y43\r",
      "#9144030071526726XG",
    ].join("\n");
    expect(parseUsccExceptionList(content)).toEqual([
      pilot,
      "91350100M000100Y43",
    ]);
  });

  it("names the line of a malformed entry", () => {
    expect(() =>
      parseUsccExceptionList(`# header\n${pilot}\n9135010\n`),
    ).toThrow(/USCC exception list line 3: USCC must be 18 characters/);
  });

  it("reads the file from disk", async () => {
    const dir = await mkdtemp(join(tmpdir(), "uscc-exceptions-"));
    const file = join(dir, "exceptions.txt");
    await writeFile(file, `# test\n${pilot}\n`);
    try {
      const validator = createUsccValidator({
        exceptions: await readUsccExceptionListFile(file),
      });
      expect(validator.validate(pilot)).toMatchObject({
        ok: true,
        exception: true,
      });
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});
