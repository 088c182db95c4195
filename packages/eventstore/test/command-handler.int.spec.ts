import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commandHandler, refuse, type Decider, type DomainEvent, type EventMetadata } from "../src/index.js";
import { PostgresEventStore, pgliteExecutor, type SqlExecutor } from "../src/postgres/index.js";

// A counter that must be opened before it counts: enough to show how a stream begun elsewhere is handled.
type Event = DomainEvent<"Opened", { by: string }> | DomainEvent<"Counted", { n: number }>;
type Command = { type: "Count"; n: number };
type State = { opened: boolean; total: number };

const counter: Decider<Command, Event, State> = {
  initialState: () => ({ opened: false, total: 0 }),
  evolve: (s, e) => (e.type === "Opened" ? { ...s, opened: true } : { ...s, total: s.total + e.data.n }),
  decide: (c, s) => {
    if (!s.opened) refuse("counter.unknown", "no such counter");
    if (c.n < 0) refuse("counter.negative", "n must not be negative", "n");
    return c.n === 0 ? [] : [{ type: "Counted", data: { n: c.n } }];
  },
};

const meta = (correlationId: string, department = "D1"): EventMetadata => ({ correlationId, causationId: null, department });

let sql: SqlExecutor;
let store: PostgresEventStore;
beforeAll(async () => {
  sql = pgliteExecutor(await PGlite.create("memory://"));
  store = new PostgresEventStore(sql);
  await store.migrate();
});
afterAll(() => sql.close());

describe("commandHandler's initial events (a stream begun by what happened elsewhere)", () => {
  const handle = () => commandHandler(store, counter);
  const opened = async () => ({ events: [{ type: "Opened", data: { by: "elsewhere" } } as Event], metadata: meta("push-1", "D0") });

  it("appends them before the command's events, in one append, each with its own metadata", async () => {
    const result = await handle()("c-1", { type: "Count", n: 2 }, { metadata: meta("req-1"), initial: opened });
    expect(result.newEvents.map((e) => e.type)).toEqual(["Counted"]);
    expect(result.newState).toEqual({ opened: true, total: 2 });
    expect(result.revision).toBe(1n);
    const events = await store.readStream("c-1");
    expect(events.map((e) => [e.type, e.metadata.correlationId, e.metadata.department])).toEqual([
      ["Opened", "push-1", "D0"],
      ["Counted", "req-1", "D1"],
    ]);
  });

  it("is not asked once the stream exists", async () => {
    let asked = 0;
    const initial = async () => (asked++, opened());
    await handle()("c-2", { type: "Count", n: 1 }, { metadata: meta("req-1"), initial });
    await handle()("c-2", { type: "Count", n: 3 }, { metadata: meta("req-2"), initial });
    expect(asked).toBe(1);
    expect((await store.readStream("c-2")).map((e) => e.type)).toEqual(["Opened", "Counted", "Counted"]);
  });

  it("writes nothing when the command is refused or decides nothing", async () => {
    await expect(handle()("c-3", { type: "Count", n: -1 }, { metadata: meta("req-1"), initial: opened })).rejects.toMatchObject({
      code: "counter.negative",
    });
    const none = await handle()("c-3", { type: "Count", n: 0 }, { metadata: meta("req-2"), initial: opened });
    expect(none).toMatchObject({ appended: undefined, revision: -1n, newState: { opened: true, total: 0 } });
    expect(await store.readStream("c-3")).toEqual([]);
  });

  it("decides on the empty stream when there is nothing to begin from", async () => {
    await expect(
      handle()("c-4", { type: "Count", n: 1 }, { metadata: meta("req-1"), initial: async () => undefined }),
    ).rejects.toMatchObject({
      code: "counter.unknown",
    });
  });

  it("begins the stream once when two commands race to create it (the loser reads it again)", async () => {
    const [a, b] = await Promise.all([
      handle()("c-5", { type: "Count", n: 1 }, { metadata: meta("req-a"), initial: opened }),
      handle()("c-5", { type: "Count", n: 2 }, { metadata: meta("req-b"), initial: opened }),
    ]);
    expect([a.newState.total, b.newState.total].sort()).toEqual([1, 3]);
    expect((await store.readStream("c-5")).map((e) => e.type)).toEqual(["Opened", "Counted", "Counted"]);
  });
});
