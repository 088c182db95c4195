import { Kafka, logLevel, Partitioners, type KafkaConfig, type logCreator, type Producer, type ProducerConfig } from "kafkajs";

type LogFn = (fields: object, message: string) => void;
/** What kafkajs' logs are handed to: a pino logger fits. */
export interface KafkaLogger {
  readonly error: LogFn;
  readonly warn: LogFn;
  readonly info: LogFn;
  readonly debug: LogFn;
}

/**
 * A kafkajs client whose own logs go to the service's pino logger, so broker
 * trouble shows up in the same structured stream as everything else.
 */
export function createKafka(config: Omit<KafkaConfig, "logCreator" | "logLevel">, logger: KafkaLogger): Kafka {
  return new Kafka({ ...config, logLevel: logLevel.INFO, logCreator: pinoLogCreator(logger) });
}

/** kafkajs' warning about the bounded retries createProducer chooses on purpose (see there): not news at every connect. */
const EXPECTED_WARNING = "Limiting retries for the idempotent producer may invalidate EoS guarantees";

function pinoLogCreator(logger: KafkaLogger): logCreator {
  return () =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, ...extra } = log;
      const fields = { kafkajs: namespace, ...extra };
      if (level === logLevel.ERROR) logger.error(fields, message);
      else if (message === EXPECTED_WARNING) logger.debug(fields, message);
      else if (level === logLevel.WARN) logger.warn(fields, message);
      else if (level === logLevel.INFO) logger.info(fields, message);
      else logger.debug(fields, message);
    };
}

/**
 * The producer settings every shenguan publisher uses (relay and dead-letter
 * producers alike).
 *
 * - idempotent: the broker drops a batch kafkajs resends after a lost
 *   response, so its own retries never duplicate or reorder a partition.
 * - maxInFlightRequests 1: Kafka keeps idempotence and ordering for up to 5
 *   in-flight requests per connection, but kafkajs' idempotent producer
 *   serialises produce requests per broker behind a lock anyway (it tracks
 *   sequence numbers client-side), so 1 costs nothing and states the truth.
 * - bounded retries: kafkajs defaults an idempotent producer to retrying
 *   forever inside one sendBatch, which would hide an outage from the caller
 *   (no log, no metric, no way to stop). We give up after a few tries and let
 *   the caller back off, log, count and retry the same batch; kafkajs warns
 *   that this "may invalidate EoS guarantees", which costs us nothing: the
 *   guarantee we give is at-least-once with duplicates limited to that batch.
 * - DefaultPartitioner: Java's murmur2 key hashing, so a key lands on the
 *   same partition whichever client (Java, librdkafka, kafkajs) produced it.
 */
export function createProducer(kafka: Kafka, overrides: Partial<ProducerConfig> = {}): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { retries: 5, initialRetryTime: 300, maxRetryTime: 5_000 },
    ...overrides,
  });
}

/** `a:9092,b:9092` → ["a:9092", "b:9092"]. */
export function parseBrokers(list: string): string[] {
  return list
    .split(",")
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
}
