/**
 * Group commit: callers that arrive while a write is in flight wait and go
 * out together in the next one, so under load one statement (one round trip,
 * one transaction) serves many callers, and an idle caller waits for nothing
 * but the end of the event loop's current turn.
 * A failed group is retried one caller at a time, so one caller's bad item
 * (one the checks before queueing could not foresee) fails only that caller.
 *
 * Why the turn: a request goes through several group commits in a row (its
 * idempotency key, its stream's read, its append, its answer). A group's
 * callers are released together, and each reaches the next stage a few
 * microtasks after the one before it. Written at once, the next stage's
 * first write took the first of them alone and the rest waited a whole
 * round trip behind it: every stage split a group in two, doubling the
 * statements and adding a round trip for nearly everyone. Each group is
 * taken with setImmediate, after the turn's microtasks, and stays whole.
 * (A test with fake timers must leave setImmediate real, or no write starts.)
 */
export class GroupCommit<Item, Result> {
  #queue: Array<{ readonly item: Item; resolve(result: Result): void; reject(err: unknown): void }> = [];
  /** A write is in flight, or about to be taken at the end of this turn. */
  #writing = false;

  /** `write` gets the group's items in arrival order and returns one result per item, in the same order. */
  constructor(private readonly write: (items: readonly Item[]) => Promise<readonly Result[]>) {}

  submit(item: Item): Promise<Result> {
    const result = new Promise<Result>((resolve, reject) => this.#queue.push({ item, resolve, reject }));
    if (!this.#writing) void this.#drain();
    return result;
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0) {
        // Also after a write: callers released by another stage arrive microtasks apart.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const group = this.#queue.splice(0, this.#queue.length);
        try {
          const results = await this.write(group.map((g) => g.item));
          group.forEach((g, i) => g.resolve(results[i]!));
        } catch (err) {
          if (group.length === 1) {
            group[0]!.reject(err);
            continue;
          }
          for (const g of group) {
            try {
              g.resolve((await this.write([g.item]))[0]!);
            } catch (alone) {
              g.reject(alone);
            }
          }
        }
      }
    } finally {
      this.#writing = false;
    }
  }
}
