import { comparePositions, formatPosition, parsePosition, type LogPosition } from "../port.js";
import type { SqlExecutor } from "../postgres/executor.js";

/** A contract event the relay refused to publish, and why. */
export interface ParkedEvent {
  readonly eventId: string;
  readonly position: LogPosition;
  readonly type: string;
  readonly reason: string;
  /** Where to read it again (republishParked); absent in records made before it was kept. */
  readonly stream?: string;
}

/**
 * Where a relay keeps its progress through the store's global log. With the
 * PostgreSQL/PGlite store it lives in the same database (SqlCheckpointStore);
 * a KurrentDB deployment can keep it in any durable place.
 */
export interface CheckpointStore {
  /** The position of the last event whose batch Kafka acknowledged; undefined before the first batch. */
  load(relay: string): Promise<LogPosition | undefined>;
  /**
   * Records the batch's parked events and moves the checkpoint to `position`,
   * atomically: a parked event is recorded exactly when the checkpoint passes it.
   */
  commit(relay: string, position: LogPosition, parked: readonly ParkedEvent[]): Promise<void>;
}

/** Run before first use; idempotent and safe from several processes at once. */
export async function migrateRelayTables(db: SqlExecutor): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query(`select pg_advisory_xact_lock(hashtext('shenguan_relay_tables'))`);
    await tx.query(
      `create table if not exists relay_checkpoints (
         name text primary key,
         position text not null,
         updated_at timestamptz not null default now()
       )`,
    );
    await tx.query(
      `create table if not exists relay_parked (
         event_id text primary key,
         position text not null,
         type text not null,
         reason text not null,
         parked_at timestamptz not null default now()
       )`,
    );
    await tx.query(`alter table relay_parked add column if not exists stream text`);
  });
}

/** Checkpoints and parked events in tables relay_checkpoints and relay_parked. */
export class SqlCheckpointStore implements CheckpointStore {
  constructor(private readonly db: SqlExecutor) {}

  async load(relay: string): Promise<LogPosition | undefined> {
    const { rows } = await this.db.query<{ position: string }>(`select position from relay_checkpoints where name = $1`, [relay]);
    return rows[0] ? parsePosition(rows[0].position) : undefined;
  }

  async commit(relay: string, position: LogPosition, parked: readonly ParkedEvent[]): Promise<void> {
    const upsert = `insert into relay_checkpoints (name, position) values ($1, $2)
       on conflict (name) do update set position = excluded.position, updated_at = now()`;
    // The common case, nothing parked, is one statement: no transaction round trips.
    if (parked.length === 0) {
      await this.db.query(upsert, [relay, formatPosition(position)]);
      return;
    }
    await this.db.transaction(async (tx) => {
      for (const p of parked) {
        // A batch re-read after a crash parks its events again: keep the first record.
        await tx.query(
          `insert into relay_parked (event_id, position, type, reason, stream) values ($1, $2, $3, $4, $5) on conflict (event_id) do nothing`,
          [p.eventId, formatPosition(p.position), p.type, p.reason, p.stream ?? null],
        );
      }
      await tx.query(upsert, [relay, formatPosition(position)]);
    });
  }

  /** The parked events (those of `eventIds`, or all), in log order (positions are text here: ordered once parsed). */
  async parked(eventIds?: readonly string[]): Promise<ParkedEvent[]> {
    const { rows } = await this.db.query<{ event_id: string; position: string; type: string; reason: string; stream: string | null }>(
      `select event_id, position, type, reason, stream from relay_parked ${eventIds ? "where event_id = any($1::text[])" : ""}`,
      eventIds ? [eventIds] : [],
    );
    return rows
      .map((r) => ({
        eventId: r.event_id,
        position: parsePosition(r.position),
        type: r.type,
        reason: r.reason,
        ...(r.stream === null ? {} : { stream: r.stream }),
      }))
      .sort((a, b) => comparePositions(a.position, b.position));
  }

  /** Forgets a parked event once it has been published after all. */
  async unpark(eventId: string): Promise<void> {
    await this.db.query(`delete from relay_parked where event_id = $1`, [eventId]);
  }
}
