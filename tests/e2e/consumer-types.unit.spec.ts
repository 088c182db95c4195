/**
 * A consumer that declares `types` never sees the other events of its topics
 * (the consumer passes them over undecoded). That is only safe if its handler
 * would have done nothing with them: for every spec with `types`, each other
 * contract event goes through the handler against a database and services
 * that fail on any use.
 */
import { approvalConsumers } from "@shenguan/approval";
import { catalog, sampleOf, type EventName } from "@shenguan/contracts";
import { enforcementConsumers } from "@shenguan/enforcement";
import type { ConsumedEvent, ConsumerSpec, SqlQueryable } from "@shenguan/eventstore";
import { supervisionConsumers } from "@shenguan/supervision";
import { describe, expect, it } from "vitest";

/** Throws on any property read: a handler that touches it did something with the event. */
function untouchable<T extends object>(what: string): T {
  return new Proxy({} as T, {
    get: (_target, property) => {
      // vitest and promise machinery probe these on any value.
      if (property === "then" || typeof property === "symbol") return undefined;
      throw new Error(`${what}.${String(property)} used`);
    },
  });
}

const specs: ConsumerSpec[] = [
  ...supervisionConsumers(untouchable("supervision service")),
  ...enforcementConsumers(untouchable("enforcement service"), untouchable("credit service")),
  ...approvalConsumers(untouchable("licence service")),
];
const allEvents = Object.keys(catalog) as EventName[];

function consumed(name: EventName): ConsumedEvent {
  return {
    name,
    payload: sampleOf(name),
    ce: { id: `ce-${name}`, source: "urn:test", type: name, specversion: "1.0", time: new Date().toISOString(), subject: "s" },
    topic: "t",
    partition: 0,
    offset: "0",
  } as unknown as ConsumedEvent;
}

describe("consumers' declared types", () => {
  it("every reactor and the regulators' inbox declare theirs", () => {
    expect(specs.filter((s) => s.types === undefined).map((s) => s.name)).toEqual([]);
  });

  for (const spec of specs) {
    const passedOver = allEvents.filter((name) => !spec.types!.includes(name));
    it(`${spec.name}: the ${passedOver.length} events outside its types change nothing`, async () => {
      const tx = untouchable<SqlQueryable>(`${spec.name}'s database`);
      for (const name of passedOver) await spec.handle(consumed(name), tx);
      if (spec.handleChunk) await spec.handleChunk(passedOver.map(consumed), tx);
    });

    it(`${spec.name}: each event of its types does something`, async () => {
      // The converse: a type listed but ignored would only cost a decode, but it says the list is stale.
      const tx = untouchable<SqlQueryable>(`${spec.name}'s database`);
      for (const name of spec.types!) await expect(spec.handle(consumed(name), tx), name).rejects.toThrow(/used/);
    });
  }
});
