import type { ProjectionConsumer, ProjectionConsumerMetrics, RelayMetrics } from "@shenguan/eventstore";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { exposePipelineMetrics } from "../src/pipeline-metrics.js";

const consumer = (name: string, m: Partial<ProjectionConsumerMetrics>): ProjectionConsumer => ({
  name,
  metrics: () => ({ applied: 0, duplicates: 0, deadLettered: 0, handlerRetries: 0, passedOver: 0, missing: 0, ...m }),
  stop: async () => undefined,
});

/** The exposition's samples as "name{labels} value" lines. */
const samples = async (registry: Registry) => (await registry.metrics()).split("\n").filter((l) => l !== "" && !l.startsWith("#"));

describe("exposePipelineMetrics", () => {
  it("shows each consumer's and the relay's counters as they stand at each scrape", async () => {
    const registry = new Registry();
    const linkage = { applied: 7, duplicates: 1, missing: 2 };
    const relay: RelayMetrics = { published: 40, skippedInternal: 3, parked: 1, retries: 2, checkpoint: "1/1" };
    exposePipelineMetrics(registry, {
      consumers: [consumer("linkage", linkage), consumer("supervision-inbox", { deadLettered: 4, passedOver: 9, handlerRetries: 5 })],
      relay: { metrics: () => relay },
    });
    expect(await samples(registry)).toEqual(
      expect.arrayContaining([
        'shenguan_consumer_messages_total{consumer="linkage",outcome="applied"} 7',
        'shenguan_consumer_messages_total{consumer="linkage",outcome="duplicate"} 1',
        'shenguan_consumer_messages_total{consumer="linkage",outcome="missing"} 2',
        'shenguan_consumer_messages_total{consumer="supervision-inbox",outcome="dead_lettered"} 4',
        'shenguan_consumer_messages_total{consumer="supervision-inbox",outcome="passed_over"} 9',
        'shenguan_consumer_handler_retries_total{consumer="supervision-inbox"} 5',
        'shenguan_relay_events_total{outcome="published"} 40',
        'shenguan_relay_events_total{outcome="skipped_internal"} 3',
        'shenguan_relay_events_total{outcome="parked"} 1',
        "shenguan_relay_retries_total 2",
      ]),
    );
    linkage.applied = 9; // read again at the next scrape, not added to what was shown
    expect(await samples(registry)).toContain('shenguan_consumer_messages_total{consumer="linkage",outcome="applied"} 9');
  });

  it("registers nothing for parts a process does not run", async () => {
    const registry = new Registry();
    exposePipelineMetrics(registry, { consumers: [] });
    expect(await samples(registry)).toEqual([]);
  });
});
