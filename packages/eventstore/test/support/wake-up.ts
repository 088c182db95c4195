import { expect, it } from "vitest";
import { PostgresEventStore, type SqlExecutor } from "../../src/postgres/index.js";
import type { StoredEvent } from "../../src/port.js";

/** With polling effectively off, live delivery can only come from the append's NOTIFY. */
export function itWakesSubscribersOnNotify(sql: () => SqlExecutor) {
  it("wakes a caught-up subscription by NOTIFY, not by polling", async () => {
    const store = new PostgresEventStore(sql(), { pollIntervalMs: 600_000 });
    const metadata = { correlationId: "wake", causationId: null, department: "TEST" };
    const { position } = await store.append(`wake-${Date.now()}`, [{ type: "Before", data: {}, metadata }], "no_stream");
    const received: StoredEvent[] = [];
    store.subscribeToAll(async (batch) => void received.push(...batch), { after: position });
    await new Promise((r) => setTimeout(r, 300)); // caught up and asleep
    const appendedAt = Date.now();
    await store.append(`wake-${Date.now()}`, [{ type: "After", data: {}, metadata }], "no_stream");
    while (received.length === 0 && Date.now() - appendedAt < 5_000) await new Promise((r) => setTimeout(r, 5));
    expect(received.map((e) => e.type)).toEqual(["After"]);
    await store.close();
  });
}
