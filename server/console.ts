// The console process: the database, the agent service, the lean HTTP
// handlers for agents and tRPC, and Next.js for the pages, on one port.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { AgentService } from "./agents/agent-service";
import { createConsoleRuntime } from "./auth/sign-in";
import { gateStamp, isSignInRequest, SIGN_IN_GATE_HEADER } from "./auth/sign-in-gate";
import { SignInGuard } from "./auth/sign-in-guard";
import { ensureFirstAdmin } from "./bootstrap";
import { type Clock, systemClock } from "./clock";
import { type Config, signInPolicyOf } from "./config";
import { takeSnapshot } from "./dashboard/snapshots";
import { CacheChannel } from "./db/cache-channel";
import { type Database, openDatabase, setDatabase } from "./db/client";
import { committedMigrations } from "./db/migrate";
import { readiness } from "./db/readiness";
import { type DemoFleet, startDemoFleet } from "./demo/fleet";
import { seedDemo } from "./demo/seed";
import { createAgentHandler } from "./http/agent-handler";
import { createZincatiHandler, ZINCATI_PREFIX } from "./http/zincati-handler";
import { createDdiHandler, DDI_PREFIX } from "./http/ddi-handler";
import { DdiService } from "./ddi/ddi-service";
import { ZincatiService } from "./zincati/zincati-service";
import { createApiHandler, sweepIdempotencyKeys } from "./api/handler";
import { artifactsDir } from "./artifacts/artifacts";
import { ringsOfMapping } from "./auth/sso-groups";
import { API_PREFIX } from "./api/routes";
import { createExportHandler, EXPORT_PREFIX } from "./http/export-handler";
import { clientAddress, clientAddressOf, parseTrustedProxies, setClientAddress } from "./http/client-address";
import { Limit } from "./http/rate-limit";
import { newNonce, pagePolicy } from "./http/csp";
import { createMetrics } from "./http/metrics";
import { createTrpcHandler, TRPC_PREFIX } from "./http/trpc-handler";
import { foldMachineCounts, MACHINE_COUNTS_FOLD_MS } from "./machines/counts";
import { backgroundConnections, PeriodicJob } from "./jobs/periodic-job";
import { type Logger, logger as rootLogger } from "./logger";
import { prune, retentionOf } from "./retention/retention";
import { RolloutController } from "./rollouts/controller";
import { setRuntime } from "./runtime";
import { loadSecretBox, type SecretBox } from "./secret-box";
import { SourcePoller, sourcesWorkDir } from "./release-sources/sources";
import { sealStoredSecrets } from "./sealing";
import { WebhookWorker } from "./webhooks/worker";

export interface StartOptions {
  /** Serve the pages with Next.js (needs a build); false serves only the APIs. */
  next?: boolean;
  clock?: Clock;
  log?: Logger;
  /** Run the rollout controller and the version snapshots on their timers (tests step them by hand). */
  controller?: boolean;
  /** Run the webhook delivery worker on its timer (default true; tests may drain it by hand). */
  webhooks?: boolean;
  /** Poll the release sources on a timer (default true; tests may step it by hand). */
  sources?: boolean;
  /** Prune rows past their retention on a timer (default true; tests may step it by hand). */
  prune?: boolean;
}

/** The console's background jobs that are not part of a service (each on the console's connections). */
export interface BackgroundJobs {
  snapshots: PeriodicJob;
  prune: PeriodicJob;
  idempotencyKeys: PeriodicJob;
  machineCounts: PeriodicJob;
}

export interface RunningConsole {
  url: string;
  port: number;
  db: Database;
  agents: AgentService;
  /** Hears other processes' changes (null on the embedded database: one process, and the TTL for the command line's changes). */
  cacheChannel: CacheChannel | null;
  controller: RolloutController;
  webhooks: WebhookWorker;
  jobs: BackgroundJobs;
  /** The key that seals webhook signing secrets. */
  secretBox: SecretBox;
  /** The release sources' poller of this process. */
  sources: SourcePoller;
  /** Where release source readers keep their state (under the data folder). */
  sourcesDir: string;
  /** Credentials of the first admin, when this start created it. */
  firstAdmin: { email: string; password: string } | null;
  /** The demo fleet of simulated agents, when ORCHARD_DEMO_AGENTS starts one. */
  demo: DemoFleet | null;
  stop(): Promise<void>;
}

const root = path.resolve(import.meta.dirname, "..");

/** The session secret: configured, or generated once into the data dir for a local console. */
function sessionSecret(config: Config): string {
  if (config.ORCHARD_SECRET) return config.ORCHARD_SECRET;
  if (config.NODE_ENV === "production" && config.DATABASE_URL) {
    throw new Error(
      "ORCHARD_SECRET is required in production with DATABASE_URL (every console process must share it); generate one with `openssl rand -base64 48`",
    );
  }
  const file = path.join(config.dataDir, "session-secret");
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    const secret = randomBytes(48).toString("base64url");
    fs.writeFileSync(file, secret, { mode: 0o600 });
    return secret;
  }
}

/** Whether every percent-escape of the path decodes (to UTF-8). */
function decodablePath(pathname: string): boolean {
  if (!pathname.includes("%")) return true;
  try {
    decodeURIComponent(pathname);
    return true;
  } catch {
    return false;
  }
}

export async function startConsole(config: Config, options: StartOptions = {}): Promise<RunningConsole> {
  const log = options.log ?? rootLogger;
  const clock = options.clock ?? systemClock;
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const secret = sessionSecret(config);
  // The key that seals webhook signing secrets (server/secret-box.ts): ORCHARD_ENCRYPTION_KEY, or a key file made once here.
  const secretBox = loadSecretBox(config, { create: true });

  const db = await openDatabase({
    databaseUrl: config.DATABASE_URL,
    dataDir: config.dataDir,
    poolSize: config.ORCHARD_DB_POOL,
    agentPoolSize: config.ORCHARD_DB_AGENT_POOL,
  });
  const cleanups: (() => Promise<void>)[] = [() => db.close()];
  const stopAll = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => log.warn({ err: error }, "stop step failed"));
  };
  try {
    setDatabase(db);
    cleanups.push(async () => setDatabase(undefined));
    // Secrets stored in clear before they were sealed are sealed now, before anything is served.
    const sealing = await sealStoredSecrets(db.prisma, secretBox);
    if (sealing.sealed > 0) log.info({ sealed: sealing.sealed, keyId: secretBox.keyId }, "webhook signing secrets stored in clear are now sealed");
    if (sealing.registryPasswords > 0) log.info({ sealed: sealing.registryPasswords, keyId: secretBox.keyId }, "registry passwords stored in clear are now sealed");
    if (sealing.underOtherKeys.length > 0) {
      log.error(
        { subscriptions: sealing.underOtherKeys, keyId: secretBox.keyId, key: secretBox.source },
        "webhook signing secrets sealed under another encryption key: their deliveries fail until that key is restored or each gets a new secret (webhook rotate-secret)",
      );
    }
    // With passwords switched off, admins come through single sign-on (ORCHARD_OIDC_GROUPS): no first admin with a password.
    const firstAdmin = config.localSignIn
      ? await ensureFirstAdmin(db.prisma, config.ORCHARD_ADMIN_EMAIL, config.ORCHARD_ADMIN_PASSWORD)
      : null;
    const demo = config.ORCHARD_DEMO_AGENTS > 0;
    if ((config.ORCHARD_DEMO_RINGS ?? demo) && (await seedDemo(db.prisma, config.ORCHARD_DEMO_INTERVAL))) log.info("seeded the demo rings and releases");

    const agents = new AgentService(db, {
      clock,
      log,
      busyIntervalSeconds: config.ORCHARD_BUSY_INTERVAL,
      waveCheckinsPerSecond: config.ORCHARD_WAVE_CHECKINS,
      lastSeenFlushMs: config.ORCHARD_LASTSEEN_FLUSH_MS,
    });
    agents.start();
    cleanups.push(() => agents.stop());
    // Changes made by other processes (consoles, the command line) reach the
    // caches through NOTIFY. PGlite is one session behind its socket: a
    // notification goes to whichever connection ran the query that committed,
    // never to a listener, so the embedded console relies on the TTL for the
    // command line's changes (its own reach the caches in-process).
    let cacheChannel: CacheChannel | null = null;
    if (db.kind === "postgres") {
      const channel = new CacheChannel(db.url, { log });
      cacheChannel = channel;
      await channel.start();
      cleanups.push(() => channel.stop());
    }

    // Background jobs (server/jobs/periodic-job.ts): on the console's connections, retried with backoff, each failure logged once.
    const background = backgroundConnections(db);
    const jobs: BackgroundJobs = {
      snapshots: new PeriodicJob({
        name: "version snapshot",
        intervalMs: config.ORCHARD_SNAPSHOT_INTERVAL_MS,
        log,
        step: () => takeSnapshot(background.prisma, clock.now(), config.ORCHARD_SNAPSHOT_INTERVAL_MS / 2),
      }),
      prune: new PeriodicJob({
        name: "pruning",
        intervalMs: config.ORCHARD_PRUNE_INTERVAL_MS,
        log,
        step: async () => {
          const pruned = await prune(background.pool, retentionOf(config), clock.now());
          const removed = Object.fromEntries(Object.entries(pruned).filter(([, kind]) => kind.removed > 0).map(([name, kind]) => [name, kind.removed]));
          if (Object.keys(removed).length > 0) log.info({ removed }, "pruned rows past their retention");
        },
      }),
      // The REST API's Idempotency-Keys are kept a day; expired ones are deleted here, not on the requests' path.
      idempotencyKeys: new PeriodicJob({
        name: "sweeping expired idempotency keys",
        intervalMs: 10 * 60 * 1000,
        log,
        step: () => sweepIdempotencyKeys(db, clock.now()),
      }),
      // machine_counts gains rows with every change of a machine's counted columns; folded here to one per group.
      machineCounts: new PeriodicJob({
        name: "folding machine counts",
        intervalMs: MACHINE_COUNTS_FOLD_MS,
        log,
        step: () => foldMachineCounts(background.prisma),
      }),
    };
    const controller = new RolloutController(db, {
      clock,
      log,
      intervalMs: config.ORCHARD_CONTROLLER_INTERVAL_MS,
      waveStartsPerSecond: config.ORCHARD_WAVE_STARTS,
      waveAtWork: config.ORCHARD_WAVE_AT_WORK,
    });
    if (options.controller !== false) {
      controller.start();
      cleanups.push(() => controller.stop());
      jobs.snapshots.start();
      cleanups.push(() => jobs.snapshots.stop());
    }
    if (options.prune !== false) {
      jobs.prune.start();
      cleanups.push(() => jobs.prune.stop());
    }
    jobs.idempotencyKeys.start();
    cleanups.push(() => jobs.idempotencyKeys.stop());
    jobs.machineCounts.start();
    cleanups.push(() => jobs.machineCounts.stop());

    const metrics = createMetrics({ token: config.ORCHARD_METRICS_TOKEN, db: db.prisma, clock, log, cacheMs: config.ORCHARD_METRICS_CACHE_MS });

    // Webhook deliveries: queued by the domain layer in the transactions of
    // the changes they report, sent from here (server/webhooks/worker.ts).
    const webhooks = new WebhookWorker(db, {
      log,
      allowPrivate: config.ORCHARD_WEBHOOKS_ALLOW_PRIVATE,
      secrets: secretBox,
      timeoutMs: config.ORCHARD_WEBHOOK_TIMEOUT_MS,
      pollMs: config.ORCHARD_WEBHOOK_POLL_MS,
      onAttempt: (subscriptionId, outcome) => metrics.webhookAttempt(subscriptionId, outcome),
    });
    if (options.webhooks !== false) {
      webhooks.start();
      cleanups.push(() => webhooks.stop());
    }

    // Release sources: every process polls; a lease on each source's row
    // makes one process pass over it at a time (server/release-sources/).
    const sourcesDir = sourcesWorkDir(config.dataDir);
    const sources = new SourcePoller(db.prisma, { log, clock, workDir: sourcesDir, secrets: secretBox, pollMs: config.ORCHARD_SOURCE_POLL_MS });
    if (options.sources !== false) {
      sources.start();
      cleanups.push(() => sources.stop());
    }

    // Sign-in: failures back off per (account, address), and an account under
    // attack from many addresses paces the addresses it does not know
    // (server/auth/sign-in-guard.ts). Only requests this server counted carry
    // the gate's stamp, with a secret of this process's own.
    const gateSecret = randomBytes(32).toString("base64url");
    const signInGuard = new SignInGuard(config.ORCHARD_SIGNIN_FREE_FAILURES, config.ORCHARD_SIGNIN_ACCOUNT_CEILING);
    setRuntime(createConsoleRuntime({ db, guard: signInGuard, gateSecret, log, sso: config.sso, localSignIn: config.localSignIn }));
    cleanups.push(async () => setRuntime(undefined));

    const handleAgent = createAgentHandler(agents, log, {
      perToken: new Limit(config.ORCHARD_AGENT_RATE_PER_TOKEN, 60),
      perEnrollmentToken: new Limit(config.ORCHARD_ENROLL_RATE_PER_TOKEN, 60),
      perAddress: new Limit(config.ORCHARD_AGENT_RATE_PER_ADDRESS, 60),
    }, metrics);
    // Zincati nodes (server/zincati/): the agents' limits, per address and per node.
    const handleZincati = createZincatiHandler(new ZincatiService(db, agents, { clock, log }), log, {
      perAddress: new Limit(config.ORCHARD_AGENT_RATE_PER_ADDRESS, 60),
      perNode: new Limit(config.ORCHARD_AGENT_RATE_PER_TOKEN, 60),
    }, metrics);
    // hawkBit DDI devices (server/ddi/): the agents' limits, per address and per device; downloads from the artifacts folder.
    const handleDdi = createDdiHandler(new DdiService(db, agents, { clock, log }), log, {
      perAddress: new Limit(config.ORCHARD_AGENT_RATE_PER_ADDRESS, 60),
      perDevice: new Limit(config.ORCHARD_AGENT_RATE_PER_TOKEN, 60),
    }, metrics, artifactsDir(config.dataDir));
    const signInsPerAddress = new Limit(config.ORCHARD_SIGNIN_RATE_PER_ADDRESS, 60);
    const session = { db, secret, secureCookie: config.url.startsWith("https:") };
    const webhookPolicy = { allowPrivate: config.ORCHARD_WEBHOOKS_ALLOW_PRIVATE };
    const signIn = signInPolicyOf(config);
    const ssoRings = ringsOfMapping(config.sso?.groups);
    // Release artifacts (server/artifacts/): under the data folder, which every console process shares (docker-compose's data volume).
    const artifactsFolder = artifactsDir(config.dataDir);
    const handleTrpc = createTrpcHandler({ ...session, clock, webhookPolicy, secretBox, signIn, ssoRings, sourcesDir, artifactsDir: artifactsFolder });
    const handleExport = createExportHandler({ ...session, log });
    const handleApi = createApiHandler({
      db,
      clock,
      log,
      url: config.url,
      webhookPolicy,
      secretBox,
      signIn,
      ssoRings,
      sourcesDir,
      artifactsDir: artifactsFolder,
      artifactMaxBytes: config.ORCHARD_ARTIFACT_MAX_BYTES,
      session: { secret, secureCookie: session.secureCookie },
      limits: {
        perToken: Limit.perSecondWithBurst(config.ORCHARD_API_RATE_LIMIT),
        perAddress: Limit.perSecondWithBurst(config.ORCHARD_API_RATE_PER_ADDRESS),
      },
      metrics,
    });
    let handleNext: ((req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>) | null = null;
    if (options.next !== false) {
      process.env.NEXTAUTH_SECRET = secret;
      process.env.NEXTAUTH_URL = config.url;
      const { default: next } = await import("next");
      const app = next({ dev: false, dir: root, quiet: true });
      await app.prepare();
      handleNext = app.getRequestHandler();
      cleanups.push(() => app.close());
    }

    // A client that trickles its request (slow retrieval, slowloris) is cut
    // off: headers within ORCHARD_HTTP_HEADERS_TIMEOUT_MS, the whole request
    // within twice that, checked every second.
    const serverOptions = {
      headersTimeout: config.ORCHARD_HTTP_HEADERS_TIMEOUT_MS,
      requestTimeout: config.ORCHARD_HTTP_HEADERS_TIMEOUT_MS * 2,
      connectionsCheckingInterval: 1000,
    };
    const migrations = committedMigrations();
    const trustedProxies = parseTrustedProxies(config.ORCHARD_TRUSTED_PROXIES);
    const notFound = (res: http.ServerResponse) => {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
    };
    const serveNext = (req: http.IncomingMessage, res: http.ServerResponse, pathname: string) => {
      if (!handleNext) return notFound(res);
      // A nonce per request (server/http/csp.ts): on the request for Next.js to put on its scripts, and on the answer.
      const policy = pagePolicy(newNonce());
      req.headers["content-security-policy"] = policy;
      res.setHeader("content-security-policy", policy);
      return handleNext(req, res).catch((error) => {
        log.error({ err: error, path: pathname }, "page request failed");
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    };
    const server = http.createServer(serverOptions, (req, res) => {
      // Only this server sets the gate's header, and only on a request it counted as a sign-in.
      delete req.headers[SIGN_IN_GATE_HEADER];
      setClientAddress(req, clientAddressOf(req, trustedProxies));
      const url = req.url ?? "/";
      // On every answer; the pages also get their Content-Security-Policy (serveNext).
      res.setHeader("x-content-type-options", "nosniff");
      res.setHeader("referrer-policy", "same-origin");
      res.setHeader("x-frame-options", "DENY");
      const pathname = url.split("?", 1)[0];
      if (!decodablePath(pathname)) {
        // Bad percent-encoding (`/%`, `/%E0%A4%A`): no handler below, Next.js
        // included, could decode it, so it is refused here, once, for all.
        req.resume();
        const body = JSON.stringify({ error: { code: "invalid_request", message: "malformed URL path (bad percent-encoding)" } });
        res.writeHead(400, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      if (pathname.startsWith("/api/agent/")) {
        void handleAgent(req, res, pathname);
      } else if (pathname.startsWith(ZINCATI_PREFIX)) {
        void handleZincati(req, res, url);
      } else if (pathname.startsWith(DDI_PREFIX)) {
        void handleDdi(req, res, url);
      } else if (pathname.startsWith(`${TRPC_PREFIX}/`)) {
        handleTrpc(req, res);
      } else if (pathname === API_PREFIX || pathname.startsWith(`${API_PREFIX}/`)) {
        void handleApi(req, res, new URL(url, "http://localhost"));
      } else if (pathname.startsWith(EXPORT_PREFIX)) {
        void handleExport(req, res, new URL(url, "http://localhost"));
      } else if (pathname === "/metrics" && req.method === "GET") {
        void metrics.handle(req, res);
      } else if (pathname === "/healthz") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("ok\n");
      } else if (pathname === "/readyz") {
        // Ready: the database answers and has every migration of this version (server/db/readiness.ts).
        void readiness(db.readiness, migrations).then((ready) => {
          const body = JSON.stringify(ready.ready ? { status: "ready" } : { status: "not_ready", reason: ready.reason, pending: ready.pending });
          res.writeHead(ready.ready ? 200 : 503, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
          res.end(body);
        });
      } else if (isSignInRequest(req.method, url)) {
        // Whatever the spelling of the path (server/auth/sign-in-gate.ts): counted, then stamped for next-auth.
        const address = clientAddress(req);
        void signInsPerAddress.count(address).then(({ wait, limit, remaining, resetSeconds }) => {
          if (signInsPerAddress.enabled) {
            res.setHeader("ratelimit-limit", String(limit));
            res.setHeader("ratelimit-remaining", String(remaining));
            res.setHeader("ratelimit-reset", String(resetSeconds));
          }
          if (wait !== null) {
            req.resume();
            res.writeHead(429, { "content-type": "application/json", "retry-after": String(wait) });
            res.end(JSON.stringify({ error: { code: "rate_limited", message: `too many sign-in attempts; retry in ${wait} s` } }));
            return;
          }
          if (!handleNext) return notFound(res);
          req.headers[SIGN_IN_GATE_HEADER] = gateStamp(gateSecret, address);
          return serveNext(req, res, pathname);
        });
      } else if (handleNext) {
        void serveNext(req, res, pathname);
      } else {
        notFound(res);
      }
    });
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.PORT, config.HOST, () => resolve());
    });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          setTimeout(() => server.closeAllConnections(), 2000).unref();
        }),
    );
    const port = (server.address() as AddressInfo).port;
    const url = config.PORT === 0 ? `http://127.0.0.1:${port}` : config.url;

    let fleet: DemoFleet | null = null;
    if (demo) {
      fleet = await startDemoFleet({
        db: db.prisma,
        log,
        serverUrl: `http://127.0.0.1:${port}`,
        dataDir: config.dataDir,
        agents: config.ORCHARD_DEMO_AGENTS,
        intervalSeconds: config.ORCHARD_DEMO_INTERVAL,
      });
      const running = fleet;
      cleanups.push(() => running.stop());
    }

    let stopped: Promise<void> | null = null;
    return {
      url,
      port,
      db,
      agents,
      cacheChannel,
      controller,
      webhooks,
      jobs,
      secretBox,
      sources,
      sourcesDir,
      firstAdmin,
      demo: fleet,
      stop: () => (stopped ??= stopAll()),
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
