/**
 * Group commit: callers that arrive while a write is in flight wait and go
 * out together in the next one, so under load one statement (one round trip,
 * one transaction) serves many callers, and an idle caller waits for nothing.
 * A failed group is retried one caller at a time, so one caller's bad item
 * (one the checks before queueing could not foresee) fails only that caller.
 */
export class GroupCommit<Item, Result> {
  #queue: Array<{ readonly item: Item; resolve(result: Result): void; reject(err: unknown): void }> = [];
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
