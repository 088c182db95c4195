import type { ProjectionConsumer, RelayMetrics } from "@shenguan/eventstore";
import { Counter, type Registry } from "prom-client";

/**
 * The relay's and the consumers' own counters on a service's /metrics, read
 * at scrape time: what reached Kafka, what each consumer applied, passed
 * over or dead-lettered, and what it found deleted before it could apply it
 * (`missing`, also logged as an error). Lag behind the topics' ends is the
 * broker's to tell (a Kafka exporter); these say what the process did.
 */
export function exposePipelineMetrics(
  registry: Registry,
  parts: { readonly consumers?: readonly ProjectionConsumer[]; readonly relay?: { metrics(): RelayMetrics } },
): void {
  const consumers = parts.consumers ?? [];
  if (consumers.length > 0) {
    new Counter({
      name: "shenguan_consumer_messages_total",
      help: "Messages a projection consumer finished with, by outcome; missing: deleted from Kafka before it applied them",
      labelNames: ["consumer", "outcome"],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of consumers) {
          const m = c.metrics();
          const by = {
            applied: m.applied,
            duplicate: m.duplicates,
            dead_lettered: m.deadLettered,
            passed_over: m.passedOver,
            missing: m.missing,
          };
          for (const [outcome, n] of Object.entries(by)) this.inc({ consumer: c.name, outcome }, n);
        }
      },
    });
    new Counter({
      name: "shenguan_consumer_handler_retries_total",
      help: "Handler failures a projection consumer retried (a chunk retried message by message counts once)",
      labelNames: ["consumer"],
      registers: [registry],
      collect() {
        this.reset();
        for (const c of consumers) this.inc({ consumer: c.name }, c.metrics().handlerRetries);
      },
    });
  }
  const relay = parts.relay;
  if (relay) {
    new Counter({
      name: "shenguan_relay_events_total",
      help: "Events the relay finished with, by outcome: published (acknowledged by Kafka), skipped_internal (not a contract), parked (broke its contract)",
      labelNames: ["outcome"],
      registers: [registry],
      collect() {
        this.reset();
        const m = relay.metrics();
        this.inc({ outcome: "published" }, m.published);
        this.inc({ outcome: "skipped_internal" }, m.skippedInternal);
        this.inc({ outcome: "parked" }, m.parked);
      },
    });
    new Counter({
      name: "shenguan_relay_retries_total",
      help: "Failed relay attempts (Kafka, checkpoint store or subscription) that were retried",
      registers: [registry],
      collect() {
        this.reset();
        this.inc(relay.metrics().retries);
      },
    });
  }
}
