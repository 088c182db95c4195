import { describe, expect, it } from "vitest";
import {
  ELICENCE_PREFIX,
  InvalidIdentifierError,
  assertElicenceId,
  buildElicenceId,
  computeElicenceCheck,
  createUsccValidator,
  mod37_36CheckChar,
  parseElicenceId,
} from "./index.js";

const ISSUER = "91350100M000100Y43"; // GB 32100-2015 example code
const PARTS = {
  typeCode: "11100000000013338W001",
  issuerUscc: ISSUER,
  serial: "0000123",
  version: "001",
};
const BODY = `${ELICENCE_PREFIX}.11100000000013338W001.${ISSUER}.0000123.001`;

const rules = (input: string): (string | number | undefined)[][] => {
  const r = parseElicenceId(input);
  return r.ok ? [] : r.errors.map((e) => [e.rule, e.position]);
};

describe("computeElicenceCheck", () => {
  it("is ISO 7064 MOD 37,36 over the characters with the dots removed", () => {
    expect(computeElicenceCheck(BODY)).toBe(
      mod37_36CheckChar(BODY.replaceAll(".", "")),
    );
    expect(computeElicenceCheck(BODY)).toBe(
      mod37_36CheckChar(`1215630052${PARTS.typeCode}${ISSUER}0000123001`),
    );
  });
});

describe("buildElicenceId / parseElicenceId", () => {
  it("round-trips", () => {
    const id = buildElicenceId(PARTS);
    expect(id).toBe(`${BODY}.${computeElicenceCheck(BODY)}`);
    expect(parseElicenceId(id)).toEqual({
      ok: true,
      value: { id, ...PARTS, check: computeElicenceCheck(BODY) },
    });
  });

  it("round-trips lower-case input and pads a numeric version", () => {
    const id = buildElicenceId({ ...PARTS, serial: "ab12", version: 7 });
    expect(id).toMatch(/\.AB12\.007\.[0-9A-Z]$/);
    expect(assertElicenceId(id.toLowerCase(), "licenceId").id).toBe(id);
  });

  it("build rejects invalid parts with InvalidIdentifierError", () => {
    expect(() =>
      buildElicenceId({ ...PARTS, version: "1" }, { field: "licence.id" }),
    ).toThrow(
      expect.objectContaining({
        name: "InvalidIdentifierError",
        field: "licence.id",
        rule: "elicence.version",
      }),
    );
    expect(() => buildElicenceId({ ...PARTS, typeCode: "A.B" })).toThrow(
      InvalidIdentifierError,
    );
  });
});

describe("parseElicenceId failure rules", () => {
  const id = buildElicenceId(PARTS);
  const at = (segment: string): number => id.indexOf(segment);

  it("elicence.prefix", () => {
    const r = parseElicenceId(id.replace("1.2.156.3005.2.", "1.2.156.3005.3."));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors).toEqual([
        {
          rule: "elicence.prefix",
          message:
            "e-licence identifier must start with '1.2.156.3005.2.', found '1.2.156.3005.3.'",
          position: 0,
        },
      ]);
    }
  });

  it("elicence.segments", () => {
    const r = parseElicenceId(`${ELICENCE_PREFIX}.T1.${ISSUER}.001.X`);
    expect(!r.ok && r.errors[0]).toMatchObject({
      rule: "elicence.segments",
      message: expect.stringContaining("found 4"),
    });
  });

  it("elicence.type", () => {
    expect(
      rules(id.replace("11100000000013338W001", "1".repeat(31))),
    ).toContainEqual(["elicence.type", at("111")]);
  });

  it("elicence.issuer carries the USCC rule and absolute position", () => {
    const r = parseElicenceId(id.replace(ISSUER, "91350100M000100Y44"));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors[0]).toEqual({
        rule: "elicence.issuer",
        message:
          "issuer USCC is invalid [uscc.check-char]: check character must be '3' (GB 32100-2015 mod-31), found '4'",
        position: at(ISSUER) + 17,
      });
      // The identifier's own check also catches the changed character.
      expect(r.errors.map((e) => e.rule)).toEqual([
        "elicence.issuer",
        "elicence.check",
      ]);
    }
  });

  it("elicence.issuer accepts an exception-listed issuer when given that validator", () => {
    const pilot = "91350100M000100Y44";
    const uscc = createUsccValidator({ exceptions: [pilot] });
    const pilotId = buildElicenceId({ ...PARTS, issuerUscc: pilot }, { uscc });
    expect(parseElicenceId(pilotId, { uscc }).ok).toBe(true);
    expect(rules(pilotId)).toEqual([["elicence.issuer", at(ISSUER) + 17]]);
  });

  it("elicence.serial", () => {
    const bad = buildElicenceId(PARTS).replace(
      ".0000123.",
      `.${"9".repeat(41)}.`,
    );
    expect(rules(bad).map(([rule]) => rule)).toEqual([
      "elicence.serial",
      "elicence.check",
    ]);
  });

  it("elicence.version", () => {
    const r = parseElicenceId(id.replace(".001.", ".01."));
    expect(!r.ok && r.errors[0]).toEqual({
      rule: "elicence.version",
      message: "version must be exactly 3 digits, found '01'",
      position: at(".001.") + 1,
    });
  });

  it("elicence.check: expected vs found", () => {
    const check = id.slice(-1);
    const wrong = check === "0" ? "1" : "0";
    const r = parseElicenceId(id.slice(0, -1) + wrong);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors).toEqual([
        {
          rule: "elicence.check",
          message: `check character must be '${check}' (ISO 7064 MOD 37,36), found '${wrong}'`,
          position: id.length - 1,
        },
      ]);
    }
  });

  it("elicence.check: not a single alphanumeric character", () => {
    expect(rules(`${id}Z`)).toEqual([["elicence.check", id.length - 1]]);
    expect(rules(`${BODY}.`)).toEqual([["elicence.check", BODY.length + 1]]);
  });

  it("rejects whitespace inside the issuer segment", () => {
    expect(
      rules(id.replace(`.${ISSUER}.`, `. ${ISSUER}.`)).map(([rule]) => rule),
    ).toContain("elicence.issuer");
  });
});
