import { openEventStore, type OpenedEventStore } from "@shenguan/eventstore";

export type TestStore = Extract<OpenedEventStore, { kind: "postgres" | "pglite" }>;

/** A real event store on embedded PostgreSQL (PGlite) in memory, with its SQL executor for read models and idempotency keys. */
export async function openTestStore(): Promise<TestStore> {
  const opened = await openEventStore({ dataDir: "memory://", env: {} });
  if (opened.kind === "kurrentdb") throw new Error("expected an embedded PostgreSQL store");
  return opened;
}
