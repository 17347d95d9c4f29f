// Release sources: where a branch's releases are read from, and the sync that
// turns what a source has into releases.
//
// A pass over one source: claim it (a lease on its row, taken with
// `FOR UPDATE SKIP LOCKED` in a short statement of its own, as the webhook
// worker claims deliveries), read it with its kind's reader (no transaction
// open: an ostree pull may take a while, and the embedded database has one
// connection), then store every new release, their audit rows and the
// source's state in one transaction. A release is unique per branch and
// checksum and inserted with ON CONFLICT DO NOTHING: a second pass, or two
// consoles passing at once, store nothing twice. A pass that fails stores no
// release; the source records the error and is tried again after its
// interval, doubling at each further failure up to a cap.
import { createHash, createPublicKey } from "node:crypto";
import path from "node:path";
import { type Actor, writeAudit } from "../audit/audit";
import { type Clock, systemClock } from "../clock";
import type { Prisma, PrismaClient } from "../db/client";
import { AppError, conflict, invalid, notFound } from "../errors";
import { PeriodicJob } from "../jobs/periodic-job";
import type { Logger } from "../logger";
import { logger as rootLogger } from "../logger";
import { SecretBox } from "../secret-box";
import { ensureBranch } from "../releases/releases";
import { sendability } from "../releases/sendable";
import { followNewReleases } from "../rollouts/follow";
import { versionSchema } from "../releases/schemas";
import type { ReleaseSourceKind } from "../vocabulary";
import { recordChanges } from "./changes";
import { type FoundRelease, type ReadContext, readerFor, type SourceReader } from "./reader";
import {
  type AddSourceInput,
  addSourceInput,
  listSourcesInput,
  type SourceConfig,
  sourceConfigSchema,
  sourceRefInput,
  syncSourcesInput,
  type UpdateSourceInput,
  updateSourceInput,
} from "./schemas";

/** A pass holds its source this long at most; a process that died in one lets it go then. */
export const LEASE_SECONDS = 600;
/** The longest wait between attempts of a failing source (or its interval, when longer). */
export const BACKOFF_CAP_SECONDS = 3600;

/** Where readers keep their state (the ostree repositories): under the console's data folder. */
export function sourcesWorkDir(dataDir?: string): string {
  return path.join(dataDir ?? path.resolve(process.env.ORCHARD_DATA_DIR || ".orchard"), "release-sources");
}

/** Who the audit log names for what a source does: `source:<name>`. */
export function sourceActor(name: string): Actor {
  return { id: null, label: `source:${name}`, role: "admin", rings: null };
}

/** Seconds until the next attempt after `failures` failures in a row (the interval after a success). */
export function retryDelaySeconds(intervalSeconds: number, failures: number): number {
  if (failures <= 0) return intervalSeconds;
  return Math.min(intervalSeconds * 2 ** (failures - 1), Math.max(intervalSeconds, BACKOFF_CAP_SECONDS));
}

const sourceSelect = {
  id: true,
  name: true,
  kind: true,
  config: true,
  pollIntervalSeconds: true,
  enabled: true,
  lastSyncAt: true,
  lastSuccessAt: true,
  lastError: true,
  consecutiveFailures: true,
  nextAttemptAt: true,
  leaseUntil: true,
  createdBy: true,
  createdAt: true,
  updatedAt: true,
  branch: { select: { id: true, ref: true } },
  _count: { select: { releases: true } },
} satisfies Prisma.ReleaseSourceSelect;

type SourceRow = Prisma.ReleaseSourceGetPayload<{ select: typeof sourceSelect }>;

/** What a registry password is sealed for (server/secret-box.ts): a value sealed for another use does not open as one. */
export const REGISTRY_PASSWORD_PURPOSE = "registry-password";

const noKey = () => SecretBox.unavailable("this console has no encryption key to seal a registry password with");

/** The config as it is stored: a registry password sealed (a copy of the database does not give it away). */
function sealedConfig(config: SourceConfig, secrets: SecretBox): SourceConfig {
  if (config.kind !== "oci" || config.password === undefined) return config;
  return { ...config, password: secrets.seal(config.password, REGISTRY_PASSWORD_PURPOSE) };
}

/** The stored config, checked, with its registry password opened for the reader. */
export function openConfig(stored: unknown, secrets: SecretBox): SourceConfig {
  const raw = stored as { kind?: string; password?: unknown };
  const password = raw.kind === "oci" && typeof raw.password === "string" ? secrets.open(raw.password, REGISTRY_PASSWORD_PURPOSE) : undefined;
  return sourceConfigSchema.parse(password === undefined ? stored : { ...raw, password });
}

/**
 * Seals the registry passwords stored in clear (before they were sealed; the
 * migration could not: SQL has no key). Run at start, as webhook secrets are.
 */
export async function sealClearPasswords(db: PrismaClient, secrets: SecretBox): Promise<number> {
  return db.$transaction(async (tx) => {
    const clear = await tx.$queryRaw<{ id: string; config: { password: string } }[]>`
      SELECT id, config FROM release_sources
       WHERE kind = 'oci' AND config ? 'password' AND config ->> 'password' NOT LIKE 'orchsec1.%' FOR UPDATE`;
    for (const row of clear) {
      const config = { ...row.config, password: secrets.seal(row.config.password, REGISTRY_PASSWORD_PURPOSE) };
      await tx.releaseSource.update({ where: { id: row.id }, data: { config } });
    }
    return clear.length;
  });
}

/** A source's config as it may be shown or audited: never a registry password (only whether there is one). */
function publicConfig(config: SourceConfig) {
  if (config.kind !== "oci") return config;
  const { password, ...rest } = config;
  return { ...rest, hasPassword: password !== undefined };
}

/** The key that checks signatures, summarised (its kind and start). */
function keyOf(config: SourceConfig) {
  if (config.kind === "ostree") return { type: config.key.type, summary: keySummary(config.key.publicKey) };
  return config.publicKey ? { type: "cosign" as const, summary: pemFingerprint(config.publicKey) } : null;
}

/** What a source shows: its config with the key summarised (the kind of key and its start), never a secret. */
function view(row: SourceRow) {
  const config = row.config as SourceConfig;
  const { _count, branch, ...rest } = row;
  return {
    ...rest,
    branch: branch.ref,
    config: publicConfig(config),
    url: config.kind === "ostree" ? config.url : config.registry,
    ref: config.kind === "ostree" ? config.ref : `${config.repository}:${config.tag ?? config.tagPattern}`,
    key: keyOf(config),
    releases: _count.releases,
    syncing: row.leaseUntil !== null && row.leaseUntil > new Date(),
  };
}

/** A PEM public key told apart from others: the start of the SHA-256 of its DER (every P-256 key's PEM starts alike). */
function pemFingerprint(pem: string) {
  try {
    const der = createPublicKey(pem).export({ type: "spki", format: "der" });
    return `sha256:${createHash("sha256").update(der).digest("hex").slice(0, 16)}`;
  } catch {
    return keySummary(pem);
  }
}

function keySummary(key: string) {
  const body = key.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return body.length > 16 ? `${body.slice(0, 12)}…` : body;
}

async function assertReadable(kind: ReleaseSourceKind) {
  const reader = readerFor(kind);
  if (!reader) throw invalid("config.kind", `this console cannot read ${kind} sources`);
  const why = await reader.unavailable();
  if (why) throw new AppError("UNAVAILABLE", `config.kind: ${why}`, { field: "config.kind" });
}

/** The rings of a source's branch (what a ring-scoped operator's check covers). */
export async function ringsOfBranch(db: PrismaClient | Prisma.TransactionClient, ref: string): Promise<string[]> {
  const rows = await db.ring.findMany({ where: { branch: { ref } }, select: { name: true } });
  return rows.map((r) => r.name);
}

export async function addSource(db: PrismaClient, actor: Actor, input: AddSourceInput, options: { secrets?: SecretBox } = {}) {
  const data = addSourceInput.parse(input);
  await assertReadable(data.config.kind);
  const stored = sealedConfig(data.config, options.secrets ?? noKey());
  const id = await db.$transaction(async (tx) => {
    if (await tx.releaseSource.findUnique({ where: { name: data.name }, select: { id: true } })) {
      throw conflict(`a source named ${data.name} already exists`, "name");
    }
    const branch = await ensureBranch(tx, actor, data.branch);
    const created = await tx.releaseSource.create({
      data: {
        name: data.name,
        branchId: branch.id,
        kind: data.config.kind,
        config: stored,
        pollIntervalSeconds: data.pollIntervalSeconds,
        enabled: data.enabled,
        createdBy: actor.label,
      },
      select: { id: true },
    });
    await writeAudit(tx, actor, {
      action: "source.add",
      targetType: "release-source",
      targetId: data.name,
      after: auditView(data.branch, data.config, data.pollIntervalSeconds, data.enabled),
    });
    return created.id;
  });
  return getSourceById(db, id);
}

function auditView(branch: string, config: SourceConfig, pollIntervalSeconds: number, enabled: boolean): Prisma.InputJsonValue {
  const { key: _key, publicKey: _publicKey, ...rest } = publicConfig(config) as Record<string, unknown>;
  return { branch, ...rest, key: keyOf(config), pollIntervalSeconds, enabled } as Prisma.InputJsonValue;
}

async function getSourceById(db: PrismaClient, id: string) {
  return view(await db.releaseSource.findUniqueOrThrow({ where: { id }, select: sourceSelect }));
}

export async function getSource(db: PrismaClient, input: { source: string }) {
  const { source } = sourceRefInput.parse(input);
  const row = await db.releaseSource.findUnique({ where: { name: source }, select: sourceSelect });
  if (!row) throw notFound(`source ${source}`);
  return view(row);
}

export async function listSources(db: PrismaClient, input: { branch?: string } = {}) {
  const query = listSourcesInput.parse(input);
  const rows = await db.releaseSource.findMany({
    where: query.branch ? { branch: { ref: query.branch } } : undefined,
    orderBy: [{ name: "asc" }],
    select: sourceSelect,
    take: 500,
  });
  return rows.map(view);
}

export async function updateSource(
  db: PrismaClient,
  actor: Actor,
  input: UpdateSourceInput,
  options: { clock?: Clock; secrets?: SecretBox } = {},
) {
  const data = updateSourceInput.parse(input);
  const clock = options.clock ?? systemClock;
  const stored = data.config ? sealedConfig(data.config, options.secrets ?? noKey()) : undefined;
  const id = await db.$transaction(async (tx) => {
    const before = await tx.releaseSource.findUnique({ where: { name: data.source }, select: sourceSelect });
    if (!before) throw notFound(`source ${data.source}`);
    if (data.config && data.config.kind !== before.kind) throw invalid("config.kind", `a ${before.kind} source stays one (remove it and add another)`);
    const config = stored ?? (before.config as SourceConfig);
    const pollIntervalSeconds = data.pollIntervalSeconds ?? before.pollIntervalSeconds;
    const enabled = data.enabled ?? before.enabled;
    await tx.releaseSource.update({
      where: { id: before.id },
      data: {
        config,
        pollIntervalSeconds,
        enabled,
        // A changed source is read again now, its failures forgotten.
        ...(data.config || (data.enabled && !before.enabled) ? { nextAttemptAt: clock.now(), consecutiveFailures: 0, lastError: null } : {}),
      },
    });
    await writeAudit(tx, actor, {
      action: "source.update",
      targetType: "release-source",
      targetId: data.source,
      before: auditView(before.branch.ref, before.config as SourceConfig, before.pollIntervalSeconds, before.enabled),
      after: auditView(before.branch.ref, config, pollIntervalSeconds, enabled),
    });
    return before.id;
  });
  return getSourceById(db, id);
}

/** Removes a source; the releases it brought stay (hand-made from now on, as far as the database knows). */
export async function removeSource(db: PrismaClient, actor: Actor, input: { source: string }, options: { workDir?: string } = {}) {
  const { source } = sourceRefInput.parse(input);
  const removed = await db.$transaction(async (tx) => {
    const row = await tx.releaseSource.findUnique({ where: { name: source }, select: sourceSelect });
    if (!row) throw notFound(`source ${source}`);
    await tx.releaseSource.delete({ where: { id: row.id } });
    await writeAudit(tx, actor, {
      action: "source.remove",
      targetType: "release-source",
      targetId: source,
      before: auditView(row.branch.ref, row.config as SourceConfig, row.pollIntervalSeconds, row.enabled),
    });
    return row;
  });
  await readerFor(removed.kind)?.forget?.(removed.id, options.workDir ?? sourcesWorkDir()).catch(() => undefined);
  return { source, removed: true, releasesKept: removed._count.releases };
}

// ---------------------------------------------------------------- sync

interface Claimed {
  id: string;
  name: string;
  kind: ReleaseSourceKind;
  config: unknown;
  branch_id: string;
  poll_interval_seconds: number;
  consecutive_failures: number;
}

/** Takes the lease of one due source (or of `id`, due or not); null when none is free. */
async function claim(db: PrismaClient, id?: string): Promise<Claimed | null> {
  const rows = id
    ? await db.$queryRaw<Claimed[]>`
        UPDATE release_sources s SET lease_until = now() + make_interval(secs => ${LEASE_SECONDS}::int)
          FROM (SELECT c.id FROM release_sources c
                 WHERE c.id = ${id} AND (c.lease_until IS NULL OR c.lease_until < now())
                 FOR UPDATE SKIP LOCKED) due
         WHERE s.id = due.id
        RETURNING s.id, s.name, s.kind::text AS kind, s.config, s.branch_id, s.poll_interval_seconds, s.consecutive_failures`
    : await db.$queryRaw<Claimed[]>`
        UPDATE release_sources s SET lease_until = now() + make_interval(secs => ${LEASE_SECONDS}::int)
          FROM (SELECT c.id FROM release_sources c
                 WHERE c.enabled AND c.next_attempt_at <= now() AND (c.lease_until IS NULL OR c.lease_until < now())
                 ORDER BY c.next_attempt_at
                 LIMIT 1
                 FOR UPDATE SKIP LOCKED) due
         WHERE s.id = due.id
        RETURNING s.id, s.name, s.kind::text AS kind, s.config, s.branch_id, s.poll_interval_seconds, s.consecutive_failures`;
  return rows[0] ?? null;
}

export interface PassResult {
  source: string;
  ok: boolean;
  /** Releases this pass stored (versions). */
  created: string[];
  /** The rollout follow mode started of one of them. */
  rolloutStarted: { rolloutId: string; version: string } | null;
  error: string | null;
  nextAttemptAt: Date | null;
}

export interface SyncOptions {
  workDir?: string;
  /** Sync-now only: how long to wait for another process's pass (default SYNC_WAIT_SECONDS). */
  waitSeconds?: number;
  log?: Logger;
  clock?: Clock;
  /** Opens a registry password (the console's key). */
  secrets?: SecretBox;
}

/** The version a found release is stored under: its own when it has a usable one not yet taken on the branch. */
export function versionFor(found: FoundRelease, taken: ReadonlySet<string>): string {
  const own = found.version?.trim();
  const base = own && own.length <= 100 && versionSchema.safeParse(own).success ? own : found.checksum.slice(0, 12);
  return taken.has(base) ? `${base}+${found.checksum.slice(0, 12)}` : base;
}

function notesOf(found: FoundRelease): string | null {
  const text = [found.subject, found.body].filter(Boolean).join("\n\n");
  return text ? text.slice(0, 10_000) : null;
}

/** One pass over a claimed source: read it, then store what is new in one transaction. */
async function pass(db: PrismaClient, source: Claimed, options: SyncOptions): Promise<PassResult> {
  const log = options.log ?? rootLogger;
  const clock = options.clock ?? systemClock;
  const workDir = options.workDir ?? sourcesWorkDir();
  let found: FoundRelease[];
  let reader: SourceReader | null = null;
  let config: SourceConfig | null = null;
  let context: ReadContext | null = null;
  try {
    reader = readerFor(source.kind);
    if (!reader) throw new Error(`this console cannot read ${source.kind} sources`);
    config = openConfig(source.config, options.secrets ?? noKey());
    const known = new Set(
      (await db.release.findMany({ where: { branchId: source.branch_id }, select: { checksum: true } })).map((r) => r.checksum),
    );
    context = { sourceId: source.id, workDir, known, log };
    found = await reader.read(config, context);
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).slice(0, 2000);
    const failures = source.consecutive_failures + 1;
    const next = new Date(clock.now().getTime() + retryDelaySeconds(source.poll_interval_seconds, failures) * 1000);
    await db.releaseSource.updateMany({
      where: { id: source.id },
      data: { lastSyncAt: clock.now(), lastError: message, consecutiveFailures: failures, nextAttemptAt: next, leaseUntil: null },
    });
    log.warn({ source: source.name, failures, err: message }, "release source pass failed");
    return { source: source.name, ok: false, created: [], rolloutStarted: null, error: message, nextAttemptAt: next };
  }
  const now = clock.now();
  const next = new Date(now.getTime() + source.poll_interval_seconds * 1000);
  const { created, follow } = await db.$transaction(
    async (tx) => {
      const still = await tx.releaseSource.findUnique({ where: { id: source.id }, select: { id: true } });
      if (!still) return { inserted: [], follow: null };
      const existing = await tx.release.findMany({ where: { branchId: source.branch_id }, select: { checksum: true, version: true } });
      const have = new Set(existing.map((r) => r.checksum));
      const taken = new Set(existing.map((r) => r.version));
      const rows: Prisma.ReleaseCreateManyInput[] = [];
      // Oldest first, a millisecond apart: the console orders releases by when they were added.
      for (const f of [...found].reverse()) {
        if (have.has(f.checksum)) continue;
        have.add(f.checksum);
        const version = versionFor(f, taken);
        taken.add(version);
        rows.push({
          branchId: source.branch_id,
          sourceId: source.id,
          checksum: f.checksum,
          version,
          notes: notesOf(f),
          subject: f.subject,
          body: f.body,
          builtAt: f.builtAt,
          metadata: f.metadata as Prisma.InputJsonValue,
          signatureState: f.signature.state,
          signatureReason: f.signature.reason,
          createdAt: new Date(now.getTime() + rows.length),
        });
      }
      const inserted = rows.length
        ? await tx.release.createManyAndReturn({
            data: rows,
            skipDuplicates: true,
            select: { id: true, version: true, checksum: true, seq: true, signatureState: true, signatureReason: true, branch: { select: { ref: true } } },
          })
        : [];
      const actor = sourceActor(source.name);
      for (const r of inserted) {
        await writeAudit(
          tx,
          actor,
          {
            action: "release.add",
            targetType: "release",
            targetId: `${r.branch.ref}@${r.version}`,
            reason: sendability(r).reason,
            after: { ref: r.branch.ref, checksum: r.checksum, version: r.version, signature: r.signatureState, source: source.name },
          },
          now,
        );
      }
      // Only the transaction that inserted a release starts its follow rollout: once per release.
      const follow = await followNewReleases(tx, actor, source.branch_id, inserted.map((r) => r.id), now);
      await tx.releaseSource.update({
        where: { id: source.id },
        data: { lastSyncAt: now, lastSuccessAt: now, lastError: null, consecutiveFailures: 0, nextAttemptAt: next, leaseUntil: null },
      });
      return { inserted: [...inserted].sort((a, b) => a.seq - b.seq), follow };
    },
    { timeout: 60_000, maxWait: 30_000 },
  ).then(async ({ inserted, follow }) => {
    // Outside the transaction: a diff may read the repository for a while.
    if (inserted.length && reader && config && context) {
      await recordChanges(db, { name: source.name, kind: source.kind }, reader, config, context, inserted.map((r) => r.id), log);
    }
    return { created: inserted.map((r) => r.version), follow };
  });
  if (created.length) log.info({ source: source.name, created }, "release source brought releases");
  if (follow?.started) log.info({ source: source.name, ...follow.started }, "follow mode started a rollout");
  for (const skip of follow?.skipped ?? []) log.info({ source: source.name, version: skip.version, why: skip.reason }, "follow mode started nothing");
  return { source: source.name, ok: true, created, rolloutStarted: follow?.started ?? null, error: null, nextAttemptAt: next };
}

/**
 * Passes over every due source, one after another, until none is due (the
 * poller's step); returns what each pass did.
 */
export async function syncDueSources(db: PrismaClient, options: SyncOptions & { max?: number } = {}): Promise<PassResult[]> {
  const results: PassResult[] = [];
  for (let i = 0; i < (options.max ?? 100); i++) {
    const source = await claim(db);
    if (!source) break;
    results.push(await pass(db, source, options));
  }
  return results;
}

/** How long a sync-now waits for a pass another process has under way. */
export const SYNC_WAIT_SECONDS = 60;

/**
 * Syncs now: one source (enabled or not) or every enabled one. A source that
 * another process is passing over is waited for (up to a minute), then passed
 * over again, so that the answer says what the source has now.
 */
export async function syncSources(db: PrismaClient, input: { source?: string }, options: SyncOptions = {}): Promise<PassResult[]> {
  const data = syncSourcesInput.parse(input);
  const targets = await db.releaseSource.findMany({
    where: data.source ? { name: data.source } : { enabled: true },
    select: { id: true, name: true },
    orderBy: { name: "asc" },
  });
  if (data.source && targets.length === 0) throw invalid("source", `no source named ${data.source}`);
  const results: PassResult[] = [];
  for (const target of targets) {
    const wait = options.waitSeconds ?? SYNC_WAIT_SECONDS;
    const deadline = Date.now() + wait * 1000;
    let claimed = await claim(db, target.id);
    while (!claimed && Date.now() < deadline) {
      if (!(await db.releaseSource.findUnique({ where: { id: target.id }, select: { id: true } }))) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
      claimed = await claim(db, target.id);
    }
    if (!claimed) {
      const row = await db.releaseSource.findUnique({ where: { id: target.id }, select: { leaseUntil: true, nextAttemptAt: true } });
      if (!row) continue;
      results.push({
        source: target.name,
        ok: false,
        created: [],
        rolloutStarted: null,
        error: `another console process has been reading this source for over ${wait} s (until ${row.leaseUntil?.toISOString() ?? "now"} at most); try again later`,
        nextAttemptAt: row.nextAttemptAt,
      });
      continue;
    }
    results.push(await pass(db, claimed, options));
  }
  return results;
}

/** The poller of one console process: steps `syncDueSources` on a timer. */
export class SourcePoller {
  private readonly job: PeriodicJob;

  constructor(db: PrismaClient, options: SyncOptions & { pollMs: number }) {
    this.job = new PeriodicJob({
      name: "release source poll",
      intervalMs: options.pollMs,
      runAtStart: false,
      log: options.log ?? rootLogger,
      step: () => syncDueSources(db, options),
    });
  }

  start() {
    this.job.start();
  }

  /** One step now (unless one is under way); resolves when it is done. */
  step(): Promise<void> {
    return this.job.runNow();
  }

  stop() {
    return this.job.stop();
  }
}
