import { randomUUID } from "node:crypto";
import { Kafka, logLevel } from "kafkajs";
import pg from "pg";
import { describe, expect, it } from "vitest";
import {
  databaseUrl,
  dockerAvailable,
  kafkaBrokers,
  kurrentdbUrl,
} from "./services.js";

// Proves the harness hands out LIVE services, whichever way it found them.
describe("test-service harness", () => {
  it("kafkaBrokers() returns a broker that serves metadata and accepts topics", async () => {
    const brokers = await kafkaBrokers();
    expect(brokers.length).toBeGreaterThan(0);

    const kafka = new Kafka({
      clientId: "harness-spec",
      brokers,
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      const topic = `harness.probe.${randomUUID()}`;
      await admin.createTopics({
        topics: [{ topic, numPartitions: 1 }],
        waitForLeaders: true,
      });
      expect(await admin.listTopics()).toContain(topic);
      await admin.deleteTopics({ topics: [topic] });
    } finally {
      await admin.disconnect();
    }
  });

  it("databaseUrl() returns a database that answers `select 1`", async () => {
    const url = await databaseUrl();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const result = await client.query<{ one: number }>("select 1 as one");
      expect(result.rows).toEqual([{ one: 1 }]);
    } finally {
      await client.end();
    }
  });

  it("kurrentdbUrl() is set exactly when KURRENTDB_URL or Docker provides one", async () => {
    const url = await kurrentdbUrl();
    if (process.env["KURRENTDB_URL"] || (await dockerAvailable())) {
      expect(url).toMatch(
        /^(esdb|esdb\+discover|kurrentdb|kurrentdb\+discover):\/\//,
      );
    } else {
      expect(url).toBeUndefined();
    }
  });
});
