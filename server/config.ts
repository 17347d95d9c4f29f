// Console configuration: environment variables only, validated at start.
// `.env.example` lists every variable with its default; keep the two in step
// (a unit test compares them).
import path from "node:path";
import { z } from "zod";

const boolFromEnv = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((v) => v === "true" || v === "1" || v === "yes");

const durationSeconds = z.coerce.number().int().positive();

export const configSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("production"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default("0.0.0.0"),
  /** The public URL of the console; derived from PORT when unset. */
  ORCHARD_URL: z.url().optional(),
  /** postgresql://… to use a PostgreSQL server; unset to use the embedded database. */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "expected a postgresql:// URL")
    .optional(),
  /** Where the embedded database, the session secret and the demo fleet live. */
  ORCHARD_DATA_DIR: z.string().min(1).default(".orchard"),
  /** Secret that signs session cookies; generated into the data dir when unset (development only). */
  ORCHARD_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  /** E-mail of the first admin, created on an empty database. */
  ORCHARD_ADMIN_EMAIL: z.email().default("admin@orchard.local"),
  /** Password of the first admin; generated and printed once when unset. */
  ORCHARD_ADMIN_PASSWORD: z.string().min(12, "must be at least 12 characters").optional(),
  /** Number of simulated agents started with the console; 0 turns the demo fleet off. */
  ORCHARD_DEMO_AGENTS: z.coerce.number().int().min(0).max(10000).default(50),
  /** Check-in interval of the demo fleet's rings, in seconds. */
  ORCHARD_DEMO_INTERVAL: durationSeconds.default(20),
  /** How often coalesced last-seen times are written, in milliseconds. */
  ORCHARD_LASTSEEN_FLUSH_MS: z.coerce.number().int().min(100).max(60000).default(2000),
  /** The console's connections to a PostgreSQL server: pages, tRPC, exports, the rollout controller (the embedded database always uses one in all). */
  ORCHARD_DB_POOL: z.coerce.number().int().min(1).max(100).default(10),
  /** The agent protocol's own connections, which no console query can take; 0 shares ORCHARD_DB_POOL's (not recommended). */
  ORCHARD_DB_AGENT_POOL: z.coerce.number().int().min(0).max(100).default(10),
  /** Check-in interval while a machine has work to do or holds a reboot slot, in seconds. */
  ORCHARD_BUSY_INTERVAL: durationSeconds.default(10),
  /** How often the rollout controller steps, in milliseconds. */
  ORCHARD_CONTROLLER_INTERVAL_MS: z.coerce.number().int().min(100).max(600_000).default(2000),
  /** How often the versions running in each ring are recorded for the dashboard's history, in milliseconds. */
  ORCHARD_SNAPSHOT_INTERVAL_MS: z.coerce.number().int().min(1000).max(86_400_000).default(300_000),
  /** Agent requests allowed per machine token per minute; 0: no limit. */
  ORCHARD_AGENT_RATE_PER_TOKEN: z.coerce.number().int().min(0).default(120),
  /** Enrollments allowed per enrollment token per minute (one token is shared by every machine of an image); 0: no limit. */
  ORCHARD_ENROLL_RATE_PER_TOKEN: z.coerce.number().int().min(0).default(3000),
  /** Agent requests allowed per client address per minute (many machines may share one); 0: no limit. */
  ORCHARD_AGENT_RATE_PER_ADDRESS: z.coerce.number().int().min(0).default(120_000),
  /** Sign-in attempts allowed per client address per minute; 0: no limit. */
  ORCHARD_SIGNIN_RATE_PER_ADDRESS: z.coerce.number().int().min(0).default(30),
  /** Failed sign-ins of one account from one address before each further one shuts that address out of it for twice as long (2 s … 15 min). */
  ORCHARD_SIGNIN_FREE_FAILURES: z.coerce.number().int().min(1).max(100).default(5),
  /** Failed sign-ins of one account from all addresses per 15 minutes before addresses it never signed in from take turns at that rate (one per 18 s for 50); 0: never. */
  ORCHARD_SIGNIN_ACCOUNT_CEILING: z.coerce.number().int().min(0).max(100_000).default(50),
  /** Bearer token a Prometheus scraper sends to GET /metrics; unset: no /metrics. */
  ORCHARD_METRICS_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
  /** How long /metrics answers from the fleet figures it last read, in milliseconds (0: every scrape reads them). */
  ORCHARD_METRICS_CACHE_MS: z.coerce.number().int().min(0).max(300_000).default(5000),
  /** Time a client has to send a request's headers (the whole request: twice this), in milliseconds. */
  ORCHARD_HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(500).max(600_000).default(15_000),
  /** Deliver webhooks to loopback, private, link-local and shared (CGNAT) addresses too (refused by default: a subscription must not reach into the console's own network). */
  ORCHARD_WEBHOOKS_ALLOW_PRIVATE: boolFromEnv.default(false),
  /** Time a webhook receiver has to answer one delivery, in milliseconds (a delivery lost in a crash is retried after twice this). */
  ORCHARD_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(500).max(60_000).default(10_000),
  /** How often the webhook worker looks for deliveries that are due, in milliseconds. */
  ORCHARD_WEBHOOK_POLL_MS: z.coerce.number().int().min(50).max(60_000).default(1000),
  /** Serve the web pages (false: the agent protocol and tRPC only, no Next.js build needed). */
  ORCHARD_SERVE_PAGES: boolFromEnv.default(true),
  /** Build the web console before serving when the build is missing or stale. */
  ORCHARD_AUTO_BUILD: boolFromEnv.default(true),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type Config = z.infer<typeof configSchema> & {
  /** Absolute data directory. */
  dataDir: string;
  /** Public URL of the console. */
  url: string;
};

export class ConfigError extends Error {}

/** Parses the environment; throws a ConfigError that names every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v !== ""),
  );
  const parsed = configSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (issue) => `  ${issue.path.join(".")}: ${issue.message}`,
    );
    throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
  }
  const config = parsed.data;
  const host = config.HOST === "0.0.0.0" || config.HOST === "::" ? "localhost" : config.HOST;
  return {
    ...config,
    dataDir: path.resolve(config.ORCHARD_DATA_DIR),
    url: (config.ORCHARD_URL ?? `http://${host}:${config.PORT}`).replace(/\/$/, ""),
  };
}
