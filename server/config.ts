// Console configuration: environment variables only, validated at start.
// `.env.example` lists every variable with its default; keep the two in step
// (a unit test compares them).
import path from "node:path";
import { z } from "zod";
import { DEFAULT_WAVE_CHECKINS } from "./agents/desired";
import { type GroupGrants, GroupMappingError, parseGroupMapping } from "./auth/sso-groups";
import { parseTrustedProxies } from "./http/client-address";
import { DEFAULT_RETENTION } from "./retention/retention";
import { DEFAULT_WAVE_AT_WORK, DEFAULT_WAVE_STARTS } from "./rollouts/ramp";
import { decodeKey } from "./secret-box";

const boolFromEnv = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((v) => v === "true" || v === "1" || v === "yes");

const durationSeconds = z.coerce.number().int().positive();
/** Days of retention, fractions allowed (0.5: twelve hours); 0 keeps for good. */
const keepDays = z.coerce.number().min(0).max(36_500);

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
  /** Key that encrypts secrets kept in the database (webhook signing secrets): 32 bytes in base64; generated into the data dir when unset (development only). */
  ORCHARD_ENCRYPTION_KEY: z
    .string()
    .refine((text) => decodeKey(text) !== null, "must be 32 bytes in base64 (openssl rand -base64 32)")
    .optional(),
  /** E-mail of the first admin, created on an empty database. */
  ORCHARD_ADMIN_EMAIL: z.email().default("admin@orchard.local"),
  /** Password of the first admin; generated and printed once when unset. */
  ORCHARD_ADMIN_PASSWORD: z.string().min(12, "must be at least 12 characters").optional(),
  /** Number of simulated agents started with the console; 0 turns the demo fleet off. */
  ORCHARD_DEMO_AGENTS: z.coerce.number().int().min(0).max(10000).default(50),
  /** Seed the demo rings and releases on a database with no rings: unset, when ORCHARD_DEMO_AGENTS starts a demo fleet; true also without one (simulated agents run elsewhere, as docker-compose's agents). */
  ORCHARD_DEMO_RINGS: boolFromEnv.optional(),
  /** Check-in interval of the demo fleet's rings, in seconds. */
  ORCHARD_DEMO_INTERVAL: durationSeconds.default(20),
  /** How often coalesced last-seen times are written, in milliseconds. */
  ORCHARD_LASTSEEN_FLUSH_MS: z.coerce.number().int().min(100).max(60000).default(2000),
  /** The console's connections to a PostgreSQL server: pages, tRPC, exports, and every background job (the rollout controller, snapshots, the last-seen flush, pruning); the embedded database always uses one in all. */
  ORCHARD_DB_POOL: z.coerce.number().int().min(1).max(100).default(10),
  /** The agent protocol's own connections, which no console query can take; 0 shares ORCHARD_DB_POOL's (not recommended). */
  ORCHARD_DB_AGENT_POOL: z.coerce.number().int().min(0).max(100).default(10),
  /** Check-in interval while a machine has work to do or holds a reboot slot, in seconds. */
  ORCHARD_BUSY_INTERVAL: durationSeconds.default(10),
  /**
   * Check-ins a second that one open wave's machines with nothing left to do
   * may ask in all: their interval stretches from the busy one toward the
   * ring's as the wave grows (desired.ts).
   */
  ORCHARD_WAVE_CHECKINS: z.coerce.number().int().min(1).max(1_000_000).default(DEFAULT_WAVE_CHECKINS),
  /**
   * Machines one opening wave starts a second, across every console
   * process: the rest wait their turn, in cohort order (rollouts/ramp.ts).
   */
  ORCHARD_WAVE_STARTS: z.coerce.number().int().min(1).max(1_000_000).default(DEFAULT_WAVE_STARTS),
  /**
   * An opening wave starts no more machines while this many of its ring's
   * machines are at work (downloading, staged, rebooting, verifying), until
   * half are left (rollouts/ramp.ts).
   */
  ORCHARD_WAVE_AT_WORK: z.coerce.number().int().min(1).max(10_000_000).default(DEFAULT_WAVE_AT_WORK),
  /** How often the rollout controller steps, in milliseconds. */
  ORCHARD_CONTROLLER_INTERVAL_MS: z.coerce.number().int().min(100).max(600_000).default(2000),
  /** How often the versions running in each ring are recorded for the dashboard's history, in milliseconds. */
  ORCHARD_SNAPSHOT_INTERVAL_MS: z.coerce.number().int().min(1000).max(86_400_000).default(300_000),
  /** Agent events are kept this many days (0: for good). */
  ORCHARD_KEEP_AGENT_EVENTS_DAYS: keepDays.default(DEFAULT_RETENTION.agentEventsDays),
  /** Machine changes (each machine's timeline) are kept this many days (0: for good). */
  ORCHARD_KEEP_MACHINE_CHANGES_DAYS: keepDays.default(DEFAULT_RETENTION.machineChangesDays),
  /** Version snapshots (the dashboard's version history) are kept this many days (0: for good). */
  ORCHARD_KEEP_VERSION_SNAPSHOTS_DAYS: keepDays.default(DEFAULT_RETENTION.versionSnapshotsDays),
  /** A finished rollout's per-machine rows are kept this many days after it finished (0: for good). */
  ORCHARD_KEEP_ROLLOUT_MACHINES_DAYS: keepDays.default(DEFAULT_RETENTION.rolloutMachinesDays),
  /** A retired machine is purged, with its events, changes and tokens, this many days after it was retired (0: never). */
  ORCHARD_KEEP_RETIRED_MACHINES_DAYS: keepDays.default(DEFAULT_RETENTION.retiredMachinesDays),
  /** How often rows past their period are pruned, in milliseconds. */
  ORCHARD_PRUNE_INTERVAL_MS: z.coerce.number().int().min(1000).max(86_400_000).default(3_600_000),
  /** Agent requests allowed per machine token per minute; 0: no limit. */
  ORCHARD_AGENT_RATE_PER_TOKEN: z.coerce.number().int().min(0).default(120),
  /** Enrollments allowed per enrollment token per minute (one token is shared by every machine of an image); 0: no limit. */
  ORCHARD_ENROLL_RATE_PER_TOKEN: z.coerce.number().int().min(0).default(3000),
  /** Agent requests allowed per client address per minute (many machines may share one); 0: no limit. */
  ORCHARD_AGENT_RATE_PER_ADDRESS: z.coerce.number().int().min(0).default(120_000),
  /** REST API (/api/v1) requests allowed per API token per second, with a burst of ten seconds' worth more per minute; 0: no limit. */
  ORCHARD_API_RATE_LIMIT: z.coerce.number().int().min(0).max(100_000).default(20),
  /** REST API requests allowed per client address per second without a valid API token (no token, or an unknown, revoked or expired one; the OpenAPI document too), with the same burst; 0: no limit. */
  ORCHARD_API_RATE_PER_ADDRESS: z.coerce.number().int().min(0).max(100_000).default(5),
  /**
   * Load balancers and reverse proxies (addresses and CIDR blocks, comma-separated) whose X-Forwarded-For
   * names the client: only from these peers; the per-address limits count that client. Default: none.
   */
  ORCHARD_TRUSTED_PROXIES: z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      try {
        parseTrustedProxies(value);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
      }
    }),
  /** The largest release artifact accepted, in bytes (2 GiB). */
  ORCHARD_ARTIFACT_MAX_BYTES: z.coerce.number().int().min(1).max(2 ** 50).default(2 * 1024 ** 3),
  /** Sign-in attempts allowed per client address per minute; 0: no limit. */
  ORCHARD_SIGNIN_RATE_PER_ADDRESS: z.coerce.number().int().min(0).default(30),
  /** Failed sign-ins of one account from one address before each further one shuts that address out of it for twice as long (2 s … 15 min). */
  ORCHARD_SIGNIN_FREE_FAILURES: z.coerce.number().int().min(1).max(100).default(5),
  /** Failed sign-ins of one account from all addresses per 15 minutes before addresses it never signed in from take turns at that rate (one per 18 s for 50); 0: never. */
  ORCHARD_SIGNIN_ACCOUNT_CEILING: z.coerce.number().int().min(0).max(100_000).default(50),
  /** Single sign-on with OpenID Connect: the identity provider's issuer URL (its /.well-known/openid-configuration is read at sign-in). */
  ORCHARD_OIDC_ISSUER: z.url().optional(),
  /** The console's client id at the identity provider (redirect URI: ORCHARD_URL/api/auth/callback/oidc). */
  ORCHARD_OIDC_CLIENT_ID: z.string().min(1).optional(),
  /** The console's client secret at the identity provider. */
  ORCHARD_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  /** Which groups make a user what: GROUP=ROLE[:RING+RING],… (or a JSON object of the same), see the README. */
  ORCHARD_OIDC_GROUPS: z
    .string()
    .transform((text, ctx): GroupGrants => {
      try {
        return parseGroupMapping(text);
      } catch (error) {
        if (!(error instanceof GroupMappingError)) throw error;
        ctx.addIssue({ code: "custom", message: error.message });
        return z.NEVER;
      }
    })
    .optional(),
  /** The claim (in the ID token or from the userinfo endpoint) that lists the user's groups. */
  ORCHARD_OIDC_GROUPS_CLAIM: z.string().min(1).default("groups"),
  /** The scopes the console asks for, separated by spaces; add the one that releases the groups claim if the provider needs one. */
  ORCHARD_OIDC_SCOPES: z
    .string()
    .regex(/(^|\s)openid(\s|$)/, "must include openid")
    .default("openid email profile"),
  /** What the sign-in button calls the identity provider: "Sign in with …". */
  ORCHARD_OIDC_NAME: z.string().min(1).max(60).default("single sign-on"),
  /** off: no sign-in with a password, single sign-on only (needs ORCHARD_OIDC_ISSUER). */
  ORCHARD_LOCAL_SIGN_IN: z.enum(["on", "off"], { error: "expected on or off" }).default("on"),
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
  /** How often each console process looks for release sources that are due (each source has its own interval), in milliseconds. */
  ORCHARD_SOURCE_POLL_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
  /** Serve the web pages (false: the agent protocol and tRPC only, no Next.js build needed). */
  ORCHARD_SERVE_PAGES: boolFromEnv.default(true),
  /** Build the web console before serving when the build is missing or stale. */
  ORCHARD_AUTO_BUILD: boolFromEnv.default(true),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
}).superRefine((config, ctx) => {
  const sso = ["ORCHARD_OIDC_ISSUER", "ORCHARD_OIDC_CLIENT_ID", "ORCHARD_OIDC_CLIENT_SECRET", "ORCHARD_OIDC_GROUPS"] as const;
  const given = sso.filter((key) => config[key] !== undefined);
  if (given.length > 0) {
    for (const key of sso) {
      if (config[key] === undefined) {
        ctx.addIssue({ code: "custom", path: [key], message: `required with ${given[0]}: single sign-on needs the issuer, the client id and secret, and the group mapping` });
      }
    }
  }
  if (config.ORCHARD_LOCAL_SIGN_IN === "off" && config.ORCHARD_OIDC_ISSUER === undefined) {
    ctx.addIssue({ code: "custom", path: ["ORCHARD_LOCAL_SIGN_IN"], message: "off needs single sign-on (ORCHARD_OIDC_ISSUER and the rest), or nobody could sign in" });
  }
});

/** Single sign-on as configured, or null when it is not. */
export interface SsoConfig {
  issuer: string;
  clientId: string;
  clientSecret: string;
  groups: GroupGrants;
  groupsClaim: string;
  scopes: string;
  name: string;
}

export type Config = z.infer<typeof configSchema> & {
  /** Absolute data directory. */
  dataDir: string;
  /** Public URL of the console. */
  url: string;
  sso: SsoConfig | null;
  /** Sign-in with a password (ORCHARD_LOCAL_SIGN_IN). */
  localSignIn: boolean;
};

export class ConfigError extends Error {}

/** How people sign in to the console, as its procedures are told (server/users/users.ts SignInPolicy). */
export function signInPolicyOf(config: Config) {
  return { passwords: config.localSignIn, sso: config.sso?.name ?? null };
}

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
    sso:
      config.ORCHARD_OIDC_ISSUER && config.ORCHARD_OIDC_CLIENT_ID && config.ORCHARD_OIDC_CLIENT_SECRET && config.ORCHARD_OIDC_GROUPS
        ? {
            issuer: config.ORCHARD_OIDC_ISSUER,
            clientId: config.ORCHARD_OIDC_CLIENT_ID,
            clientSecret: config.ORCHARD_OIDC_CLIENT_SECRET,
            groups: config.ORCHARD_OIDC_GROUPS,
            groupsClaim: config.ORCHARD_OIDC_GROUPS_CLAIM,
            scopes: config.ORCHARD_OIDC_SCOPES,
            name: config.ORCHARD_OIDC_NAME,
          }
        : null,
    localSignIn: config.ORCHARD_LOCAL_SIGN_IN === "on",
  };
}
