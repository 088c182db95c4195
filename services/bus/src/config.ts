import { DEFAULT_TOPIC_PREFIX } from "@shenguan/contracts";
import { z } from "zod";

/** Everything the bus reads from the environment, checked once at start with errors naming the variable. */
const schema = z.object({
  KAFKA_BROKERS: z.string().default("127.0.0.1:9092"),
  KAFKA_TOPIC_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9._-]+$/)
    .default(DEFAULT_TOPIC_PREFIX),
  DATABASE_URL: z.string().optional(),
  KURRENTDB_URL: z.string().optional(),
  SHENGUAN_HOST: z.string().default("127.0.0.1"),
  /** gateway = base+0, approval = base+1, supervision = base+2, enforcement = base+3, linkage = base+4 */
  SHENGUAN_PORT_BASE: z.coerce.number().int().min(1).max(65530).default(4100),
  /** How often the deadline timer looks for yellow and red cards. */
  SHENGUAN_TICK_MS: z.coerce.number().int().min(100).default(5_000),
  /** Share of a limit after which a yellow card is shown. */
  SHENGUAN_YELLOW_SHARE: z.coerce.number().gt(0).max(1).default(0.8),
  /** How long after midnight the day's deadline cards wait for claims and verifications still in flight. */
  SHENGUAN_CARD_GRACE_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(86_399_999)
    .default(15 * 60_000),
  /** Department code of the credit platform that publishes credit records. */
  SHENGUAN_CREDIT_DEPARTMENT: z.string().default("XYB-350100"),
  /** Custody keys (one PKCS#8 PEM per department); default <repo>/.data/keys for the runner. */
  SHENGUAN_KEYS_DIR: z.string().min(1).optional(),
  /** What subscribers without the pii grant receive: personal fields masked (张*) or sealed with SM4 (revealable by grant holders). */
  SHENGUAN_PII_MODE: z.enum(["mask", "sm4"]).default("sm4"),
  /**
   * Create a department's signing key on its first event. On for the
   * development runner and tests; production registers departments (and their
   * keys) in the department registry and sets this to false.
   */
  SHENGUAN_AUTO_PROVISION_KEYS: z.enum(["true", "false"]).default("true"),
  /**
   * Webhooks go to public addresses only (deny, the default): a department's
   * URL must not reach the database, the services or cloud metadata beside
   * the gateway. allow: receivers on the internal network too.
   */
  SHENGUAN_WEBHOOK_PRIVATE_NETWORKS: z.enum(["allow", "deny"]).default("deny"),
  /** Events per sealed block of the global log. */
  SHENGUAN_SEAL_BLOCK_SIZE: z.coerce.number().int().min(1).max(100_000).default(1000),
  /** A partial block is sealed once its oldest event waited this long. */
  SHENGUAN_SEAL_DELAY_MS: z.coerce.number().int().min(0).default(1000),
  /** A file with the gateway's secret (base64; created when missing), from which the services' hop keys derive; unset: a fresh secret in memory per start. */
  SHENGUAN_GATEWAY_KEY: z.string().min(1).optional(),
  /** The bus CA directory (infra/pki/ca.sh); set: the gateway serves HTTPS with mutual TLS. */
  SHENGUAN_PKI_DIR: z.string().min(1).optional(),
  SHENGUAN_SEED_DEMO: z.enum(["true", "false"]).default("true"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type BusConfig = z.infer<typeof schema>;

export function readConfig(env: NodeJS.ProcessEnv = process.env): BusConfig {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid configuration: ${problems}`);
  }
  return parsed.data;
}
