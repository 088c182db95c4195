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

/** lingerMs: woken, the subscription waits before reading, so appends made meanwhile come in one batch; stopping cuts the wait. */
export function itLingersAfterAWakeUp(sql: () => SqlExecutor) {
  it("lingers after a wake-up, reading what was appended meanwhile in one batch, and stops without waiting it out", async () => {
    const store = new PostgresEventStore(sql(), { pollIntervalMs: 600_000 });
    const metadata = { correlationId: "linger", causationId: null, department: "TEST" };
    const { position } = await store.append(`linger-${Date.now()}`, [{ type: "Before", data: {}, metadata }], "no_stream");
    const batches: string[][] = [];
    const subscription = store.subscribeToAll(async (batch) => void batches.push(batch.map((e) => e.type)), {
      after: position,
      lingerMs: 1_000,
    });
    await new Promise((r) => setTimeout(r, 300)); // caught up and asleep
    for (const type of ["A", "B", "C"]) await store.append(`linger-${type}-${Date.now()}`, [{ type, data: {}, metadata }], "no_stream");
    const appendedAt = Date.now();
    while (batches.length === 0 && Date.now() - appendedAt < 5_000) await new Promise((r) => setTimeout(r, 5));
    expect(batches).toEqual([["A", "B", "C"]]);
    // Caught up again and lingering after the next wake-up: close() does not wait the linger out.
    await store.append(`linger-D-${Date.now()}`, [{ type: "D", data: {}, metadata }], "no_stream");
    const stopping = Date.now();
    await subscription.close();
    expect(Date.now() - stopping).toBeLessThan(900);
    await store.close();
  });
}
