import { sampleOf } from "@shenguan/contracts";
import { describe, expect, it } from "vitest";
import type { StoredEvent } from "@shenguan/eventstore";
import { render, renderShared } from "../src/delivery/filter.js";
import { mask, PiiProtector } from "../src/pii/index.js";

const keys = { current: "k2", secrets: { k1: Buffer.alloc(32, 1), k2: Buffer.alloc(32, 2).toString("base64") } };
const person = {
  ...sampleOf("LicenceGranted"),
  holder: { name: "张三丰", uscc: null, idNumber: "350102199001011234" },
  legalRepresentative: "欧阳娜娜",
};
const company = { ...person, holder: { name: "福州某某餐饮有限公司", uscc: "91350100M000100Y43", idNumber: null } };

describe("masking", () => {
  it("keeps a recognisable shape", () => {
    expect(mask("id-card", "350102199001011234")).toBe("3501**********1234");
    expect(mask("name", "张三")).toBe("张*");
    expect(mask("name", "欧阳娜娜")).toBe("欧***");
    expect(mask("phone", "13812345678")).toBe("138****5678");
    expect(mask("id-card", "1234")).toBe("****");
  });

  it("masks the catalogued fields of an event, a person's name only when the party has no USCC", () => {
    const p = new PiiProtector({ mode: "mask" });
    const out = p.protect("LicenceGranted", person, "mask");
    expect(out.data.holder).toEqual({ name: "张**", uscc: null, idNumber: "3501**********1234" });
    expect(out.data.legalRepresentative).toBe("欧***");
    expect([...out.paths].sort()).toEqual(["holder.idNumber", "holder.name", "legalRepresentative"]);
    expect(person.holder.name).toBe("张三丰"); // the input is not touched
    const org = p.protect("LicenceGranted", company, "mask");
    expect(org.data.holder.name).toBe("福州某某餐饮有限公司");
    expect(org.paths).toEqual(["legalRepresentative"]);
  });

  it("masks a licence change only where it changes a personal field", () => {
    const changed = {
      ...sampleOf("LicenceChanged"),
      changes: [
        { field: "legalRepresentative", from: "林某某", to: "陈某" },
        { field: "licenceContent", from: "餐饮", to: "餐饮、零售" },
      ],
    };
    const out = new PiiProtector({ mode: "mask" }).protect("LicenceChanged", changed, "mask");
    expect(out.data.changes).toEqual([
      { field: "legalRepresentative", from: "林**", to: "陈*" },
      { field: "licenceContent", from: "餐饮", to: "餐饮、零售" },
    ]);
    expect(out.paths).toEqual(["changes.0.from", "changes.0.to"]);
  });
});

describe("SM4 sealing", () => {
  const p = new PiiProtector({ mode: "sm4", keys });

  it("seals each field into a self-describing string and reveals it", () => {
    const sealed = p.protect("LicenceGranted", person, "sm4");
    expect(sealed.data.holder.idNumber).toMatch(/^sm4:k2:[A-Za-z0-9_-]+$/);
    expect(sealed.data.holder.uscc).toBeNull();
    expect(sealed.data.decisionNumber).toBe(person.decisionNumber);
    expect(p.protect("LicenceGranted", person, "sm4").data.holder.idNumber).not.toBe(sealed.data.holder.idNumber); // random IV
    expect(p.reveal("LicenceGranted", sealed.data)).toEqual({
      data: person,
      paths: ["holder.idNumber", "holder.name", "legalRepresentative"],
    });
  });

  it("opens values sealed with a retired key, and refuses altered or moved values naming the field", () => {
    const old = new PiiProtector({ mode: "sm4", keys: { ...keys, current: "k1" } }).protect("LicenceGranted", person, "sm4").data;
    expect(old.legalRepresentative).toMatch(/^sm4:k1:/);
    expect(p.reveal("LicenceGranted", old).data).toEqual(person);

    const sealed = p.protect("LicenceGranted", person, "sm4").data;
    const raw = Buffer.from(sealed.legalRepresentative.split(":")[2]!, "base64url");
    raw[20]! ^= 1;
    const altered = { ...sealed, legalRepresentative: `sm4:k2:${raw.toString("base64url")}` };
    expect(() => p.reveal("LicenceGranted", altered)).toThrow(/legalRepresentative: sealed value does not authenticate/);
    const moved = { ...sealed, legalRepresentative: sealed.holder.idNumber };
    expect(() => p.reveal("LicenceGranted", moved)).toThrow(/legalRepresentative: sealed value does not authenticate/);
    const unknownKey = { ...sealed, legalRepresentative: sealed.legalRepresentative.replace("sm4:k2:", "sm4:k9:") };
    expect(() => p.reveal("LicenceGranted", unknownKey)).toThrow(/PII key k9 is not configured/);
  });

  it("gives a subscriber clear data with the pii grant and the configured treatment without", () => {
    expect(p.forSubscriber("LicenceGranted", person, true)).toMatchObject({ data: person, treatment: "clear" });
    expect(p.forSubscriber("LicenceGranted", person, false).data.legalRepresentative).toMatch(/^sm4:k2:/);
    expect(new PiiProtector({ mode: "mask" }).forSubscriber("LicenceGranted", person, false)).toMatchObject({ treatment: "mask" });
  });

  it("refuses a configuration it cannot honour, naming the setting", () => {
    expect(() => new PiiProtector({ mode: "sm4" })).toThrow(/keys.current/);
    expect(() => new PiiProtector({ mode: "mask", keys: { current: "k", secrets: { k: Buffer.alloc(8) } } })).toThrow(
      /keys.secrets.k: .*at least 16 bytes/,
    );
  });
});

describe("bodies shared by subscribers (renderShared)", () => {
  const event = {
    id: "0190a6f2-0000-7000-8000-000000000001",
    type: "LicenceGranted",
    stream: "licence-1",
    revision: 0n,
    position: { commit: 10n, prepare: 1n },
    time: new Date("2026-03-02T09:00:00Z"),
    data: person,
    metadata: { department: "SPJ-350100", correlationId: "c1", causationId: null },
  } as unknown as StoredEvent;

  it("seals an event once per view for every subscriber of one gateway, and never shares across gateways or events", () => {
    const p = new PiiProtector({ mode: "sm4", keys });
    const first = renderShared(event, p, false);
    expect(renderShared(event, p, false)).toBe(first);
    expect(first.treatment).toBe("sm4");
    expect(JSON.parse(first.json).data.holder.idNumber).toMatch(/^sm4:/);
    // SM4-CBC takes a fresh IV: a second rendering would differ, the shared one is the same body.
    expect(render(event, p, false).json).not.toBe(first.json);
    const clear = renderShared(event, p, true);
    expect(clear.treatment).toBe("clear");
    expect(JSON.parse(clear.json).data.holder.idNumber).toBe("350102199001011234");
    const masking = new PiiProtector({ mode: "mask" });
    expect(JSON.parse(renderShared(event, masking, false).json).data.holder.idNumber).toBe("3501**********1234");
    expect(renderShared({ ...event } as StoredEvent, p, false)).not.toBe(first);
  });
});
