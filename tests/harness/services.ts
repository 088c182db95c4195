/**
 * Where the integration and e2e suites find their backing services.
 *
 * Every lookup follows the same order:
 *   1. an explicit env var (KAFKA_BROKERS, DATABASE_URL, KURRENTDB_URL): used
 *      as given, after a quick reachability check;
 *   2. a Docker engine (DOCKER_HOST or /var/run/docker.sock, and it answers a
 *      ping): a throwaway container via testcontainers, started once per
 *      process (vitest worker) and reaped by testcontainers when it exits;
 *   3. the local no-Docker services from infra/ (infra/kafka/start.sh,
 *      infra/postgres/ensure.sh) on their default ports;
 *   4. otherwise: throw, naming the env var to set and the script to run.
 *
 * A suite that needs Kafka or PostgreSQL therefore FAILS when the service is
 * missing; it never skips silently. KurrentDB is the exception: there is no
 * no-Docker way to run it here, so kurrentdbUrl() resolves to undefined and
 * the KurrentDB adapter suites run only where KURRENTDB_URL is set or Docker
 * is available; elsewhere they report themselves as not run, and fail when
 * REQUIRE_KURRENTDB=true.
 */
import { existsSync } from "node:fs";
import { connect } from "node:net";
import pg from "pg";
import type { StartedTestContainer } from "testcontainers";

/** The local broker started by infra/kafka/start.sh. */
export const LOCAL_KAFKA_BROKER = "127.0.0.1:9092";
/** The test database created by infra/postgres/ensure.sh. */
export const LOCAL_DATABASE_URL =
  "postgres://postgres@127.0.0.1:5432/shenguan_test";

/** Images used when Docker is available (kept in step with infra/compose.yaml). */
export const IMAGES = {
  // @testcontainers/kafka@11 drives Confluent images; cp-kafka 7.9.x is Apache Kafka 3.9.
  kafka: "confluentinc/cp-kafka:7.9.2",
  postgres: "postgres:16.9",
  kurrentdb: "docker.kurrent.io/kurrent-latest/kurrentdb:25.0.0",
} as const;

const CONNECT_TIMEOUT_MS = 3_000;
const DOCKER_PING_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------
// helpers

function env(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
}

/** Resolve true if a TCP connection to host:port succeeds within the timeout. */
export function tcpReachable(
  host: string,
  port: number,
  timeoutMs = CONNECT_TIMEOUT_MS,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/** "host:port" (or "[v6]:port") -> parts; port defaults to `defaultPort`. */
function splitHostPort(
  address: string,
  defaultPort: number,
): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(address.trim());
  if (!match)
    throw new Error(`not a host:port address: ${JSON.stringify(address)}`);
  const host = match[1] ?? match[2] ?? "";
  return { host, port: match[3] ? Number(match[3]) : defaultPort };
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "<unparseable URL>";
  }
}

function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} timed out after ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Memoise an async factory; a failed attempt is forgotten so a retry can succeed. */
function once<T>(factory: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= factory().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}

// ---------------------------------------------------------------------------
// Docker

/**
 * True if a Docker engine is reachable: DOCKER_HOST is set or
 * /var/run/docker.sock exists, and testcontainers can ping it. Cached.
 */
export const dockerAvailable: () => Promise<boolean> = once(async () => {
  if (!env("DOCKER_HOST") && !existsSync("/var/run/docker.sock")) return false;
  try {
    const { getContainerRuntimeClient } = await import("testcontainers");
    // getContainerRuntimeClient() only resolves once a strategy's ping succeeded.
    await withTimeout(
      getContainerRuntimeClient(),
      DOCKER_PING_TIMEOUT_MS,
      "docker ping",
    );
    return true;
  } catch {
    return false;
  }
});

// ---------------------------------------------------------------------------
// Kafka

const startKafkaContainer = once(async (): Promise<string[]> => {
  const { KafkaContainer } = await import("@testcontainers/kafka");
  const container = await new KafkaContainer(IMAGES.kafka)
    .withKraft()
    .withEnvironment({
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: "true",
      KAFKA_NUM_PARTITIONS: "3",
      KAFKA_MIN_INSYNC_REPLICAS: "1",
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: "1",
    })
    .start();
  return [`${container.getHost()}:${container.getMappedPort(9093)}`];
});

/**
 * Kafka bootstrap servers: KAFKA_BROKERS (comma-separated), else a
 * testcontainers broker if Docker is available, else the local broker from
 * infra/kafka/start.sh on 127.0.0.1:9092. Throws if none is reachable.
 */
export async function kafkaBrokers(): Promise<string[]> {
  const fromEnv = env("KAFKA_BROKERS");
  if (fromEnv) {
    const brokers = fromEnv
      .split(",")
      .map((b) => b.trim())
      .filter((b) => b.length > 0);
    const reachable = await Promise.all(
      brokers.map((b) => {
        const { host, port } = splitHostPort(b, 9092);
        return tcpReachable(host, port);
      }),
    );
    if (!reachable.some(Boolean)) {
      throw new Error(
        `KAFKA_BROKERS=${fromEnv} is set but no broker there accepts connections. ` +
          `Start the local broker with \`bash infra/kafka/start.sh\` (it listens on ${LOCAL_KAFKA_BROKER}) or fix KAFKA_BROKERS.`,
      );
    }
    return brokers;
  }
  if (await dockerAvailable()) return startKafkaContainer();
  const local = splitHostPort(LOCAL_KAFKA_BROKER, 9092);
  if (await tcpReachable(local.host, local.port)) return [LOCAL_KAFKA_BROKER];
  throw new Error(
    `No Kafka broker for the tests: KAFKA_BROKERS is not set, no Docker engine is reachable, ` +
      `and nothing listens on ${LOCAL_KAFKA_BROKER}. Run \`bash infra/kafka/start.sh\` ` +
      `(needs Java 17 + Maven; starts a KRaft broker on ${LOCAL_KAFKA_BROKER}) or set KAFKA_BROKERS=host:port[,host:port].`,
  );
}

// ---------------------------------------------------------------------------
// PostgreSQL

const startPostgresContainer = once(async (): Promise<string> => {
  const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
  const container = await new PostgreSqlContainer(IMAGES.postgres)
    .withDatabase("shenguan_test")
    .withUsername("postgres")
    .withPassword("postgres")
    .start();
  return container.getConnectionUri();
});

/** Resolve undefined if `select 1` works on `url`, else the error message. */
async function pgProbe(url: string): Promise<string | undefined> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  try {
    await client.connect();
    await client.query("select 1");
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * PostgreSQL connection URL: DATABASE_URL, else a testcontainers postgres if
 * Docker is available, else the local `shenguan_test` database on
 * 127.0.0.1:5432 (created by infra/postgres/ensure.sh). Throws if none works.
 */
export async function databaseUrl(): Promise<string> {
  const fromEnv = env("DATABASE_URL");
  if (fromEnv) {
    const problem = await pgProbe(fromEnv);
    if (problem !== undefined) {
      throw new Error(
        `DATABASE_URL=${redactUrl(fromEnv)} is set but unusable (${problem}). ` +
          "Run `bash infra/postgres/ensure.sh` (starts a local PostgreSQL and creates shenguan/shenguan_test) or fix DATABASE_URL.",
      );
    }
    return fromEnv;
  }
  if (await dockerAvailable()) return startPostgresContainer();
  const problem = await pgProbe(LOCAL_DATABASE_URL);
  if (problem === undefined) return LOCAL_DATABASE_URL;
  throw new Error(
    `No PostgreSQL for the tests: DATABASE_URL is not set, no Docker engine is reachable, ` +
      `and ${LOCAL_DATABASE_URL} is unusable (${problem}). Run \`bash infra/postgres/ensure.sh\` ` +
      "or set DATABASE_URL=postgres://user[:password]@host:port/database.",
  );
}

// ---------------------------------------------------------------------------
// KurrentDB

const startKurrentdbContainer = once(async (): Promise<string> => {
  const { GenericContainer, Wait } = await import("testcontainers");
  const container: StartedTestContainer = await new GenericContainer(
    IMAGES.kurrentdb,
  )
    .withEnvironment({
      KURRENTDB_CLUSTER_SIZE: "1",
      KURRENTDB_INSECURE: "true",
      KURRENTDB_RUN_PROJECTIONS: "All",
      KURRENTDB_START_STANDARD_PROJECTIONS: "true",
      KURRENTDB_MEM_DB: "true",
    })
    .withExposedPorts(2113)
    .withWaitStrategy(
      Wait.forHttp("/health/live", 2113).forStatusCodeMatching(
        (status) => status >= 200 && status < 300,
      ),
    )
    .withStartupTimeout(120_000)
    .start();
  // esdb:// is the scheme @eventstore/db-client understands (KurrentDB speaks the same protocol).
  return `esdb://${container.getHost()}:${container.getMappedPort(2113)}?tls=false`;
});

/**
 * KurrentDB connection string (esdb://host:port?tls=false): KURRENTDB_URL,
 * else a testcontainers KurrentDB if Docker is available, else undefined:
 * KurrentDB suites run only where one of those exists.
 */
export async function kurrentdbUrl(): Promise<string | undefined> {
  const fromEnv = env("KURRENTDB_URL");
  if (fromEnv) {
    // Explicitly configured, so it must work: check the first host answers.
    const first = /^[a-z+]+:\/\/(?:[^@/]*@)?([^,/?]+)/i.exec(fromEnv)?.[1];
    if (first !== undefined) {
      const { host, port } = splitHostPort(first, 2113);
      if (!(await tcpReachable(host, port))) {
        throw new Error(
          `KURRENTDB_URL=${redactUrl(fromEnv)} is set but ${host}:${port} does not accept connections.`,
        );
      }
    }
    return fromEnv;
  }
  if (await dockerAvailable()) return startKurrentdbContainer();
  return undefined;
}

/**
 * Retries what a broker refuses for a moment (kafkajs marks it retriable:
 * "not the leader for that topic-partition" while a new topic's leadership
 * settles) instead of failing the test on it.
 */
export async function retriable<T>(call: () => Promise<T>, attempts = 10): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (attempt >= attempts || !(err as { retriable?: boolean }).retriable) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}
