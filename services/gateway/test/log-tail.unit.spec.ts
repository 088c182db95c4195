import { setTimeout as sleep } from "node:timers/promises";
import type { EventStore, LogPosition, StoredEvent } from "@shenguan/eventstore";
import { describe, expect, it } from "vitest";
import { LogTail } from "../src/delivery/log-tail.js";

/** A store whose live end the test feeds by hand: readAll finds nothing, subscribeToAll hands over what the test pushes. */
function handFedStore() {
  let handler: ((events: readonly StoredEvent[]) => Promise<void>) | undefined;
  const store = {
    readAll: async () => [],
    subscribeToAll: (h: (events: readonly StoredEvent[]) => Promise<void>) => {
      handler = h;
      return { close: async () => {}, done: new Promise<void>(() => {}) };
    },
  } as unknown as EventStore;
  return { store, push: (events: StoredEvent[]) => handler!(events) };
}

const at = (n: number): LogPosition => ({ commit: BigInt(n), prepare: BigInt(n) });
const event = (n: number) => ({ id: `e${n}`, type: "LicenceGranted", stream: "s", revision: BigInt(n), position: at(n) }) as unknown as StoredEvent;

describe("LogTail", () => {
  it("hands events read within lingerMs to the streams together, once, in log order", async () => {
    const { store, push } = handFedStore();
    const tail = new LogTail(store, { lingerMs: 40 });
    expect(await tail.next(undefined, 100)).toEqual([]); // at the live end: the shared reader starts
    let wakes = 0;
    const waiting = tail.wait(new AbortController().signal, undefined, 5_000).then(() => wakes++);
    await push([event(1)]);
    await push([event(2), event(3)]);
    // Read, not yet visible: a stream that asks now finds nothing and goes on waiting.
    expect(await tail.next(undefined, 100)).toEqual([]);
    expect(wakes).toBe(0);
    await waiting;
    expect(wakes).toBe(1);
    expect((await tail.next(undefined, 100)).map((e) => e.id)).toEqual(["e1", "e2", "e3"]);
    expect((await tail.next(at(2), 100)).map((e) => e.id)).toEqual(["e3"]);
    await tail.close();
  });

  it("with lingerMs 0 hands each read over at once", async () => {
    const { store, push } = handFedStore();
    const tail = new LogTail(store, { lingerMs: 0 });
    await tail.next(undefined, 100);
    await push([event(1)]);
    expect((await tail.next(undefined, 100)).map((e) => e.id)).toEqual(["e1"]);
    await tail.close();
  });

  it("drops what it had not handed over when closed", async () => {
    const { store, push } = handFedStore();
    const tail = new LogTail(store, { lingerMs: 20 });
    await tail.next(undefined, 100);
    await push([event(1)]);
    await tail.close();
    await sleep(40);
    expect(tail.buffered).toBe(0);
  });
});
