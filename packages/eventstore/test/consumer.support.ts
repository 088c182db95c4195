/**
 * The projection the consumer tests run (in the test process and in the
 * child that gets killed), and contract messages to feed it.
 */
import {
  cloudEventTypeOf,
  ContractCodec,
  sampleOf,
  sourceOf,
  toKafkaHeaders,
  type EventName,
} from "@shenguan/contracts";
import type { Message } from "kafkajs";
import type { SqlExecutor, SqlQueryable } from "../src/postgres/executor.js";
import type { ConsumedEvent } from "../src/consumer/index.js";

const codec = new ContractCodec();

/** A well-formed message of the bus, as the relay would produce it. */
export function contractMessage(name: EventName, subject: string, id: string = crypto.randomUUID(), seed = 1): Message {
  return {
    key: subject,
    value: codec.encode(name, sampleOf(name, { seed })),
    headers: toKafkaHeaders({
      id,
      source: sourceOf("350100-SCJGJ"),
      type: cloudEventTypeOf(name),
      specversion: "1.0",
      time: new Date().toISOString(),
      subject,
    }),
  };
}

/**
 * A read model that makes double application visible: `<prefix>_applied`
 * has no unique key, so an event applied twice shows up as two rows, and
 * each row remembers the transaction that wrote it.
 */
export async function createReadModel(db: SqlExecutor, prefix: string): Promise<void> {
  await db.query(`create table if not exists ${prefix}_applied (
    ce_id text not null, subject text not null, name text not null,
    topic text not null, partition int not null, "offset" bigint not null,
    -- the writing transaction as an xid, comparable with other rows' xmin
    txid text not null default (pg_current_xact_id()::text::bigint % 4294967296)::text)`);
  await db.query(`create table if not exists ${prefix}_per_subject (subject text primary key, n int not null)`);
}

export function projection(prefix: string, options: { slowMs?: number } = {}) {
  return async (event: ConsumedEvent, tx: SqlQueryable): Promise<void> => {
    await tx.query(`insert into ${prefix}_applied (ce_id, subject, name, topic, partition, "offset") values ($1, $2, $3, $4, $5, $6)`, [
      event.ce.id,
      event.ce.subject,
      event.name,
      event.topic,
      event.partition,
      event.offset,
    ]);
    // Widens the window in which a kill lands inside an open transaction.
    if (options.slowMs) await tx.query(`select pg_sleep($1)`, [options.slowMs / 1000]);
    await tx.query(
      `insert into ${prefix}_per_subject (subject, n) values ($1, 1) on conflict (subject) do update set n = ${prefix}_per_subject.n + 1`,
      [event.ce.subject],
    );
  };
}
