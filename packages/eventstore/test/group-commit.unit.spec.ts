import { describe, expect, it } from "vitest";
import { GroupCommit } from "../src/group-commit.js";

/** A GroupCommit whose writes are recorded and take one macrotask, as a round trip does. */
function recording() {
  const groups: number[][] = [];
  const commit = new GroupCommit<number, number>(async (items) => {
    groups.push([...items]);
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (items.includes(-1)) throw new Error("bad item");
    return items.map((i) => i * 10);
  });
  return { groups, commit };
}

describe("GroupCommit", () => {
  it("sends callers of one turn in one write, each with its own result", async () => {
    const { groups, commit } = recording();
    const results = await Promise.all([1, 2, 3, 4].map((i) => commit.submit(i)));
    expect(results).toEqual([10, 20, 30, 40]);
    expect(groups).toEqual([[1, 2, 3, 4]]);
  });

  it("keeps a group whole from one stage to the next, though its callers reach the next stage microtasks apart", async () => {
    const first = recording();
    const second = recording();
    // Each caller awaits a few promises between the stages, as a request does between its idempotency key and its append.
    const request = async (i: number) => {
      const a = await first.commit.submit(i);
      for (let hop = 0; hop < i; hop++) await Promise.resolve();
      return second.commit.submit(a);
    };
    expect(await Promise.all([1, 2, 3, 4, 5].map(request))).toEqual([100, 200, 300, 400, 500]);
    expect(first.groups).toEqual([[1, 2, 3, 4, 5]]);
    expect(second.groups).toEqual([[10, 20, 30, 40, 50]]);
  });

  it("sends callers that arrive during a write together in the next", async () => {
    const { groups, commit } = recording();
    const early = commit.submit(1);
    await new Promise((resolve) => setImmediate(resolve)); // the first write is in flight
    const late = [2, 3].map((i) => commit.submit(i));
    expect(await Promise.all([early, ...late])).toEqual([10, 20, 30]);
    expect(groups).toEqual([[1], [2, 3]]);
  });

  it("fails only the caller whose item fails, retrying the rest of its group one by one", async () => {
    const { groups, commit } = recording();
    const outcomes = await Promise.allSettled([1, -1, 3].map((i) => commit.submit(i)));
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(groups).toEqual([[1, -1, 3], [1], [-1], [3]]);
  });

  it("writes again after going idle", async () => {
    const { groups, commit } = recording();
    expect(await commit.submit(1)).toBe(10);
    expect(await commit.submit(2)).toBe(20);
    expect(groups).toEqual([[1], [2]]);
  });
});
