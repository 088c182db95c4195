import { describe, expect, it } from "vitest";
import { maskPersonalData } from "../src/personal-data.js";

describe("maskPersonalData", () => {
  it("masks catalogued fields of events and personal keys of states, and nothing of an organisation", () => {
    const file = {
      uscc: "92350102MA2Y00001P",
      name: "张三丰",
      sections: {
        licences: [
          { type: "ApplicationAccepted", data: { applicant: { name: "张三丰", uscc: null, idNumber: "350102199001011234" }, contactPhone: "13812345678" } },
          { type: "LicenceChanged", data: { changes: [{ field: "legalRepresentative", from: "张三丰", to: "李四" }, { field: "itemName", from: "a", to: "b" }] } },
          { type: "HandoffPushed", data: { holderName: "福州示范有限公司", holderUscc: "91350100M000100Y43" } },
        ],
      },
    };
    const { value, paths } = maskPersonalData(file);
    const [accepted, changed, pushed] = value.sections.licences as unknown as [
      { data: { applicant: { name: string; idNumber: string }; contactPhone: string } },
      { data: { changes: { from: string; to: string }[] } },
      { data: { holderName: string } },
    ];
    expect(accepted.data.applicant).toMatchObject({ name: "张**", idNumber: "3501**********1234" });
    expect(accepted.data.contactPhone).toBe("138****5678");
    expect(changed.data.changes).toEqual([{ field: "legalRepresentative", from: "张**", to: "李*" }, { field: "itemName", from: "a", to: "b" }]);
    expect(pushed.data.holderName).toBe("福州示范有限公司");
    // The same name repeated at the top of the file.
    expect(value.name).toBe("张**");
    expect(paths).toEqual(expect.arrayContaining(["sections.licences.0.data.applicant.idNumber", "sections.licences.1.data.changes.0.from", "name"]));
    expect(file.sections.licences[0]!.data.applicant!.idNumber).toBe("350102199001011234");

    const state = { application: { applicant: { name: "王五", uscc: null, idNumber: "350102198001011111" } }, licence: { holder: { name: "某公司", uscc: "91350100M000100Y43", idNumber: null }, legalRepresentative: "赵六" } };
    const masked = maskPersonalData(state).value;
    expect(masked.application.applicant).toEqual({ name: "王*", uscc: null, idNumber: "3501**********1111" });
    expect(masked.licence).toEqual({ holder: { name: "某公司", uscc: "91350100M000100Y43", idNumber: null }, legalRepresentative: "赵*" });
  });
});
