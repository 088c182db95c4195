import { START, type LogPosition, type ReadAllOptions, type StoredEvent, type SubscribeOptions, type Subscription } from "../port.js";

/** What a polling subscription delivers: events, or a lean view of them (anything with its log position). */
export interface Positioned {
  readonly position: LogPosition;
}

export interface PollingSource<T extends Positioned = StoredEvent> {
  /** Must never return an event at or before `after`, and never skip one that a later call could return before it. */
  readAll(options: ReadAllOptions): Promise<T[]>;
  /** Registers a wake-up for "something may have been appended"; rejecting is fine (the loop then only polls). */
  listen(wake: () => void): Promise<() => Promise<void>>;
  readonly pollIntervalMs: number;
}

const DEFAULT_BATCH_SIZE = 500;

/**
 * Catch-up and live are one loop: read after the last delivered position
 * until a short batch says we are caught up, then sleep until a notification
 * or the poll interval, and read again. Because every read starts strictly
 * after the last delivered position of a gap-free log, there is no seam
 * between catch-up and live where an event could be lost or repeated.
 * Notifications only cut latency; the poll is what guarantees progress (a
 * notification can be lost, and an event may be held back by an older open
 * transaction that commits without notifying).
 */
export function pollingSubscription<T extends Positioned = StoredEvent>(
  source: PollingSource<T>,
  onEvents: (events: readonly T[]) => Promise<void>,
  options: SubscribeOptions = {},
): Subscription {
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const stopped = new AbortController();
  const stop = () => stopped.abort();
  options.signal?.addEventListener("abort", stop, { once: true });
  if (options.signal?.aborted) stop();

  // Set by every wake-up; cleared just before each read, so a notification
  // that lands while reading is not lost to the sleep that follows.
  let woken = false;
  let interruptSleep: (() => void) | undefined;
  const wake = () => {
    woken = true;
    interruptSleep?.();
  };
  stopped.signal.addEventListener("abort", wake);

  const sleep = () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, source.pollIntervalMs);
      interruptSleep = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => (interruptSleep = undefined));

  // Not cut short by a wake-up (that is what it waits for), only by stopping.
  const linger = (ms: number) =>
    new Promise<void>((resolve) => {
      const end = () => {
        clearTimeout(timer);
        stopped.signal.removeEventListener("abort", end);
        resolve();
      };
      const timer = setTimeout(end, ms);
      stopped.signal.addEventListener("abort", end);
    });
  const lingerMs = options.lingerMs ?? 0;

  const done = (async () => {
    const unlisten = await source.listen(wake).catch(() => undefined);
    try {
      let after = options.after ?? START;
      while (!stopped.signal.aborted) {
        woken = false;
        const batch = await source.readAll({ after, maxCount: batchSize });
        const last = batch.at(-1);
        if (last) {
          await onEvents(batch);
          after = last.position;
        }
        if (batch.length < batchSize && !stopped.signal.aborted) {
          if (!woken) await sleep();
          if (lingerMs > 0 && !stopped.signal.aborted) await linger(lingerMs);
        }
      }
    } finally {
      options.signal?.removeEventListener("abort", stop);
      await unlisten?.();
    }
  })();

  return {
    done,
    /** Stops after the handler call in flight, if any; do not await it from inside the handler (that call is what it waits for). */
    async close() {
      stop();
      await done.catch(() => {});
    },
  };
}
