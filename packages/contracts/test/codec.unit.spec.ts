import { describe, expect, it } from "vitest";
import {
  catalog,
  ContractCodec,
  ContractViolationError,
  decodeFrame,
  registry,
  sampleOf,
  WireFormatError,
  UnknownSchemaError,
  type EventName,
} from "../src/index.js";

const names = Object.keys(catalog) as EventName[];
const codec = new ContractCodec();

describe("ContractCodec", () => {
  it.each(names)("round-trips %s with optional fields set and null", (name) => {
    for (const nulls of [false, true]) {
      const payload = sampleOf(name, { nulls });
      const frame = codec.encode(name, payload);
      const decoded = codec.decode(frame);
      expect(decoded.name).toBe(name);
      expect(decoded.payload).toEqual(payload);
      expect(decoded.schemaId).toBe(registry.latest(catalog[name].fullName).id);
    }
  });

  it("writes the Confluent frame: magic byte 0, big-endian schema id, Avro body", () => {
    const frame = codec.encode("LicenceGranted", sampleOf("LicenceGranted"));
    expect(frame[0]).toBe(0);
    const { schemaId, body } = decodeFrame(frame);
    expect(schemaId).toBe(codec.schemaIdOf("LicenceGranted"));
    expect(frame.readUInt32BE(1)).toBe(schemaId);
    expect(body.length).toBe(frame.length - 5);
  });

  it("returns frames that later encodes do not overwrite", () => {
    const a = codec.encode("LicenceCancelled", sampleOf("LicenceCancelled", { seed: 1 }));
    const copy = Buffer.from(a);
    codec.encode("LicenceCancelled", sampleOf("LicenceCancelled", { seed: 2 }));
    expect(a.equals(copy)).toBe(true);
  });

  it("grows its scratch buffer for payloads larger than it", () => {
    const big = { ...sampleOf("LicenceGranted"), licenceContent: "许".repeat(100_000) };
    expect(codec.decode(codec.encode("LicenceGranted", big)).payload).toEqual(big);
  });

  it("names the field and the rule when a payload does not fit its schema", () => {
    const bad = { ...sampleOf("LicenceGranted"), holder: { name: 42, uscc: null, idNumber: null }, underCommitment: undefined };
    try {
      codec.encode("LicenceGranted", bad as never);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ContractViolationError);
      const issues = (err as ContractViolationError).issues;
      expect(issues).toContainEqual(expect.objectContaining({ path: "holder.name", rule: "avro.string" }));
      expect(issues).toContainEqual(expect.objectContaining({ path: "underCommitment", rule: "required" }));
    }
  });

  it("refuses frames that are not ours, saying why", () => {
    const frame = codec.encode("LicenceCancelled", sampleOf("LicenceCancelled"));
    expect(() => codec.decode(Buffer.from("{}"))).toThrow(WireFormatError);
    expect(() => codec.decode(Buffer.from([1, 0, 0, 0, 1, 0]))).toThrow(/magic byte/);
    expect(() => codec.decode(Buffer.from([0, 0, 0]))).toThrow(/at least 5/);
    expect(() => codec.decode(frame.subarray(0, frame.length - 3))).toThrow(/truncated/);
    expect(() => codec.decode(Buffer.concat([frame, Buffer.from([7])]))).toThrow(/trailing/);
    const unknownId = Buffer.from(frame);
    unknownId.writeUInt32BE(999_999, 1);
    expect(() => codec.decode(unknownId)).toThrow(UnknownSchemaError);
  });
});

describe("fast string writer", () => {
  it("writes exactly avsc's bytes for ASCII, Chinese, emoji, empty and boundary lengths", async () => {
    const avro = (await import("avsc")).default;
    const { fastStringHook } = await import("../src/fast-string.js");
    const schema = { type: "record", name: "S", fields: [{ name: "s", type: "string" }] } as const;
    const plain = avro.Type.forSchema(schema as never);
    const fast = avro.Type.forSchema(schema as never, { typeHook: fastStringHook } as never);
    const values = ["", "a", "福州市行政审批局", "𠮷野家🍜", "x".repeat(21), "许".repeat(21), "许".repeat(22), "y".repeat(64), "é".repeat(40)];
    for (const s of values) {
      expect(fast.toBuffer({ s }).equals(plain.toBuffer({ s })), JSON.stringify(s)).toBe(true);
      expect(plain.fromBuffer(fast.toBuffer({ s }))).toEqual({ s });
    }
    expect(() => fast.toBuffer({ s: 42 })).toThrow();
  });
});
