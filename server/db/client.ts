// The one database module. It owns the pg pools and the Prisma clients that
// sit on them, and is imported only by the domain layer (an ESLint rule
// enforces that). The console's custom server opens it at start; code that
// Next.js bundles separately finds the same instance on globalThis.
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { openEmbeddedDatabase } from "./embedded";
import { PrismaClient } from "./generated/client";
import { migrate } from "./migrate";

export type { PrismaClient } from "./generated/client";
export { Prisma } from "./generated/client";

/** A pg pool and the Prisma client on it. */
export interface Connections {
  prisma: PrismaClient;
  /** For the hot paths that use hand-written SQL (agent check-ins). */
  pool: pg.Pool;
}

/**
 * `prisma` and `pool` are the console's: pages, tRPC, exports, the command
 * line, and every background job (the rollout controller, snapshots, the
 * last-seen flush, pruning: server/jobs/periodic-job.ts). `agent` is the
 * agent protocol's (check-ins, enrollments, events, reboot slots): a pool of
 * its own, so that no console query, however many a browser sends, and no
 * background job can keep a check-in waiting for a connection. On the embedded database
 * (one connection in all) and with `agentPoolSize: 0` it is the console's.
 */
export interface Database extends Connections {
  agent: Connections;
  /**
   * One connection of its own for /readyz: a load balancer's check must not
   * wait behind the console pool's background jobs, or a busy process that
   * serves check-ins is taken out of rotation (seen at 100,000 machines, where
   * every replica's check timed out at once). The console's pool on the
   * embedded database.
   */
  readiness: pg.Pool;
  kind: "embedded" | "postgres";
  url: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** postgresql:// URL; unset opens the embedded database under dataDir. */
  databaseUrl?: string;
  dataDir: string;
  /** The console's connections (default 10). */
  poolSize?: number;
  /** The agent protocol's own connections; 0 (the default) shares the console's. */
  agentPoolSize?: number;
  /** Apply pending migrations (default true). */
  migrate?: boolean;
}

/** Shown in pg_stat_activity, to tell the two pools' connections apart. */
export const APPLICATION_NAMES = { console: "orchard-console", agent: "orchard-agents", readiness: "orchard-readiness" } as const;

function openPool(url: string, max: number, applicationName: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, idleTimeoutMillis: 30_000, application_name: applicationName });
  pool.on("error", () => {
    // An idle client lost its server; the pool replaces it on next use.
  });
  releaseDeadClients(pool);
  return pool;
}

export async function openDatabase(options: OpenOptions): Promise<Database> {
  let url: string;
  let kind: Database["kind"];
  let closeEmbedded = async () => {};
  if (options.databaseUrl) {
    url = options.databaseUrl;
    kind = "postgres";
  } else {
    const embedded = await openEmbeddedDatabase(options.dataDir);
    url = embedded.url;
    kind = "embedded";
    closeEmbedded = embedded.close;
  }
  // PGlite is a single session: one connection keeps transactions apart, so
  // the console and the agents share it.
  const pool = openPool(url, kind === "embedded" ? 1 : (options.poolSize ?? 10), APPLICATION_NAMES.console);
  try {
    if (options.migrate !== false) await migrate(pool, url);
  } catch (error) {
    await pool.end();
    await closeEmbedded();
    throw error;
  }
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  const agentPoolSize = kind === "embedded" ? 0 : (options.agentPoolSize ?? 0);
  let agent: Connections = { prisma, pool };
  if (agentPoolSize > 0) {
    const agentPool = openPool(url, agentPoolSize, APPLICATION_NAMES.agent);
    agent = { prisma: new PrismaClient({ adapter: new PrismaPg(agentPool) }), pool: agentPool };
  }
  const readiness = kind === "embedded" ? pool : openPool(url, 1, APPLICATION_NAMES.readiness);
  return {
    prisma,
    pool,
    agent,
    readiness,
    kind,
    url,
    close: async () => {
      if (readiness !== pool) await endWithin(readiness, CLOSE_DEADLINE_MS);
      if (agent.pool !== pool) {
        await agent.prisma.$disconnect();
        await endWithin(agent.pool, CLOSE_DEADLINE_MS);
      }
      await prisma.$disconnect();
      await endWithin(pool, CLOSE_DEADLINE_MS);
      await closeEmbedded();
    },
  };
}

/** How long closing waits for clients still checked out of the pool. */
const CLOSE_DEADLINE_MS = 10_000;

/**
 * Ends the pool, waiting at most `ms` for clients still checked out (a
 * request that outlived the server's close, say): a console that stops must
 * not hang on one of them. Past the deadline it says so and goes on; the
 * connections end with the process.
 */
async function endWithin(pool: pg.Pool, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const ended = pool.end().then(
    () => "ended" as const,
    () => "ended" as const,
  );
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), ms);
  });
  const outcome = await Promise.race([ended, late]);
  clearTimeout(timer);
  if (outcome === "late") {
    console.warn(`closing the database: ${pool.totalCount - pool.idleCount} connection(s) still in use after ${ms} ms; not waiting for them`);
  }
}

const holder = globalThis as unknown as { __orchardDatabase?: Database };

/** Makes `db` the process's database (the custom server does this at start). */
export function setDatabase(db: Database | undefined) {
  holder.__orchardDatabase = db;
}

/** The process's database; throws when the server has not opened one. */
export function getDatabase(): Database {
  const db = holder.__orchardDatabase;
  if (!db) throw new Error("the database is not open (start the console with `npm start`)");
  return db;
}

/**
 * Prisma's pg adapter keeps a transaction's client checked out for good when
 * its connection dies mid-transaction (the server stopped, say), so every
 * outage would cost the pool a slot and `pool.end()` would wait forever. A
 * client whose connection errored or ended is of no use to anyone: this
 * hands it back to the pool (which destroys it) at once, and makes release
 * idempotent for whoever releases it later.
 */
function releaseDeadClients(pool: pg.Pool) {
  const connect = pool.connect.bind(pool) as (cb?: (err: Error | undefined, client?: pg.PoolClient, done?: () => void) => void) => Promise<pg.PoolClient> | undefined;
  const watch = (client: pg.PoolClient) => {
    // The pool gives every checkout a release function of its own.
    const original = client.release.bind(client);
    let released = false;
    const onDead = (error?: Error) => client.release(error ?? new Error("connection ended"));
    client.release = (error?: Error | boolean) => {
      if (released) return;
      released = true;
      client.removeListener("error", onDead);
      client.removeListener("end", onDead);
      original(error);
    };
    client.once("error", onDead);
    client.once("end", onDead);
    return client;
  };
  pool.connect = ((cb?: (err: Error | undefined, client?: pg.PoolClient, done?: () => void) => void) => {
    if (cb) {
      return connect((err, client, done) => {
        if (client) watch(client);
        cb(err, client, done);
      });
    }
    return (connect() as Promise<pg.PoolClient>).then(watch);
  }) as typeof pool.connect;
}
