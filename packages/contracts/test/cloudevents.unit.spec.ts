import { describe, expect, it } from "vitest";
import { ContractViolationError, fromKafkaHeaders, toKafkaHeaders, topicOfEvent, deadLetterTopicOf, cloudEventTypeOf, sourceOf } from "../src/index.js";

const ce = {
  id: "0192f7a0-0000-7000-8000-000000000001",
  source: sourceOf("SPJ-350100"),
  type: cloudEventTypeOf("LicenceGranted"),
  specversion: "1.0" as const,
  time: "2026-09-29T01:30:00.000Z",
  subject: "91350100M000100Y43",
};

describe("CloudEvents Kafka binding", () => {
  it("round-trips attributes through Kafka headers, Buffers included", () => {
    const headers = toKafkaHeaders({ ...ce, traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" });
    expect(headers["content-type"]).toBe("application/avro");
    const asBuffers = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)]));
    expect(fromKafkaHeaders(asBuffers)).toEqual({ ...ce, traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" });
  });

  it("names every missing or malformed header", () => {
    const { ce_id: _, ...rest } = toKafkaHeaders(ce);
    try {
      fromKafkaHeaders({ ...rest, ce_specversion: "0.3", ce_time: "yesterday" });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ContractViolationError);
      expect((err as ContractViolationError).issues.map((i) => i.path)).toEqual(["ce_id", "ce_specversion", "ce_time"]);
    }
  });

  it("puts each family on its own topic with a dead-letter topic beside it", () => {
    expect(topicOfEvent("LicenceGranted")).toBe("shenguan.approval.v1");
    expect(topicOfEvent("HandoffClaimed")).toBe("shenguan.linkage.v1");
    expect(topicOfEvent("CreditRepaired")).toBe("shenguan.credit.v1");
    expect(deadLetterTopicOf("supervision")).toBe("shenguan.supervision.v1.dlq");
  });
});
