// The console's side of agent protocol v1: enroll, check-in, events and
// reboot slots. This is the hot path of the system, so it keeps a small
// cache of authenticated machines and ring answers, writes a machine row only
// when its reported state changed, and coalesces last-seen times.
//
// The caches forget an entry as soon as any process changes what it was read
// from (domainEvents, fed by PostgreSQL NOTIFY: server/db/cache-channel.ts);
// their TTL is only the fallback while notifications are not heard. An
// answer never joins a ring view with a machine read before it: after a
// revert, a machine is answered from the reverted ring only with its own
// row as it was after the revert too (its rollback, not a plain update to
// the older release).
import { createHash } from "node:crypto";
import { bearerToken, hashesEqual, hashToken, tokenKind } from "../auth/tokens";
import type { Clock } from "../clock";
import type { Database, Prisma } from "../db/client";
import { AppError, invalid } from "../errors";
import { domainEvents } from "../events";
import type { Logger } from "../logger";
import type {
  CheckinRequest,
  CheckinResponse,
  EnrollResponse,
  EventsRequest,
  EventsResponse,
  InstalledApp,
  RebootLockRequest,
  RebootLockResponse,
} from "../protocol/v1";
import { clampTime } from "../text";
import { appsHash, installedStates, writeInstalledApps } from "../apps/app-state-writer";
import { parsePublicKey } from "./identity";
import {
  DEFAULT_CHECK_IN_SECONDS,
  desiredFor,
  type MachineView,
  rebootWanted,
  type RingView,
} from "./desired";
import { backgroundConnections, PeriodicJob } from "../jobs/periodic-job";
import { LastSeenBuffer } from "./last-seen";
import { type Enrollment, Enrollments } from "../enrollment/enroll";
import { RebootSlots } from "./reboot-slots";
import { StateWriter } from "./state-writer";
import { MACHINE_VIEW_COLUMNS, MACHINE_VIEW_JOINS, machineViewOf, type MachineViewRow, type Query, readRingView } from "./views";

export interface AgentServiceOptions {
  clock: Clock;
  log: Logger;
  /** Check-in interval while a machine is mid-update. */
  busyIntervalSeconds: number;
  /** Check-ins a second one open wave's machines done with the update may ask in all (default DEFAULT_WAVE_CHECKINS). */
  waveCheckinsPerSecond?: number;
  lastSeenFlushMs: number;
  /** How long a cached machine or ring view is kept at most (while changes by other processes are heard). */
  cacheTtlMs?: number;
  /** How long a cached ring view is kept while changes by other processes are not heard (default 5 s). */
  fallbackTtlMs?: number;
  /** Most machines kept in the token cache. */
  cacheSize?: number;
}

export interface MachineEntry extends MachineView {
  id: string;
  /** An operator force-freed its slot while it worked on this target: no slot for it again. */
  slotRefusedTarget: string | null;
  /** The machine has registered its key (protocol v1.1). */
  hasKey: boolean;
  tokenId: string;
  ringId: string | null;
  retired: boolean;
  tokenHash: string;
  lastSeq: number;
  stateHash: string | null;
  /** Hash of its last applied `apps` (protocol v1.2). */
  appsHash: string | null;
  expiresAt: number;
  /** When it was read (a tick of AgentService's read clock, taken before the read). */
  readAt: number;
}

/** A machine's row with its live machine token, as the entry reads are selected. */
type MachineRow = MachineViewRow & {
  token_id: string;
  token_hash: string;
  id: string;
  ring_id: string | null;
  retired_at: Date | null;
  last_seq: string;
  state_hash: string | null;
  apps_hash: string | null;
  slot_refused_target: string | null;
  has_key: boolean;
};

interface RingEntry {
  view: RingView | null;
  /** A tick of AgentService's read clock, taken after the read: a machine read before it is too old to join it. */
  readAt: number;
}

export interface Reply<T> {
  status: number;
  body: T;
}

/**
 * 409: every slot is taken. Ask again when the soonest lease expires, or at
 * the machine's busy check-in interval if that comes first: slots are
 * mostly given back long before their lease runs out, and a wave waiting for
 * one slot would otherwise leave it idle between asks.
 */
function ringFull(soonest: Date | null, now: Date, atMostSeconds: number): Reply<RebootLockResponse> {
  const wait = Math.ceil(((soonest ?? now).getTime() - now.getTime()) / 1000);
  const retryAfterSeconds = Math.max(1, Math.min(atMostSeconds, wait));
  return { status: 409, body: { granted: false, retryAfterSeconds, reason: "ring_full" } };
}

/** Agent events kept per machine (the newest): a flooding agent cannot grow the table without end. */
export const MAX_EVENTS_PER_MACHINE = 2000;

/** A reboot slot is held at most this many leases' time in all, renewals included. */
const MAX_HOLD_LEASES = 2;

/** A stable hash of everything a check-in reports except its seq and clock. */
export function reportedStateHash(body: CheckinRequest): string {
  return createHash("sha1")
    .update(
      JSON.stringify([body.agentVersion, body.bootId ?? null, body.deployments, body.update, body.health]),
    )
    .digest("base64url");
}

export class AgentService {
  private readonly byToken = new Map<string, MachineEntry>();
  /** Machine id → the token hash it is cached under, to forget a machine without a scan. */
  private readonly tokenOf = new Map<string, string>();
  private readonly rings = new Map<string, { expiresAt: number; entry: Promise<RingEntry> }>();
  /** Each ring's last view read, and what it read as (see loadRing). */
  private readonly lastRingReads = new Map<string, { key: string; entry: RingEntry }>();
  private readonly lastSeen: LastSeenBuffer;
  /** Check-ins' state writes, grouped into one statement while another is under way. */
  private readonly stateWriter: StateWriter;
  /** Reboot slot grants, one at a time per ring and domain (server/agents/reboot-slots.ts). */
  private readonly rebootSlots: RebootSlots;
  private readonly cacheTtlMs: number;
  private readonly fallbackTtlMs: number;
  /** Whether changes by other processes are heard (NOTIFY); else ring views expire after fallbackTtlMs. */
  private listening = false;
  /**
   * Orders reads and forgettings: every machine read takes a tick before it
   * starts, every ring read one after it ended, every forgetting one.
   */
  private ticks = 0;
  /** Entries read before this tick are stale (everything was forgotten then). */
  private floor = 0;
  /** Machine reads under way, and the machines forgotten meanwhile (with the tick): such a read is not kept. */
  private machineReads = 0;
  private readonly forgottenDuringReads = new Map<string, number>();
  private readonly cacheSize: number;
  private readonly leaseSweeper: PeriodicJob;
  /** Enrollments, written in batches (server/enrollment/enroll.ts). */
  private readonly enrollments: Enrollments;
  private readonly query: Query;
  private readonly onRingChanged = (ringId: string) => this.rings.delete(ringId);
  private readonly onMachineChanged = (id: string) => this.forgetMachine(id);
  private readonly onMachinesChanged = () => this.forgetAllMachines();
  private readonly onEverythingChanged = () => {
    this.forgetAllMachines();
    this.rings.clear();
  };
  private readonly onListening = (listening: boolean) => {
    this.listening = listening;
  };

  constructor(
    private readonly db: Database,
    private readonly options: AgentServiceOptions,
  ) {
    // Background work takes the console's connections, never the agents' (server/jobs/periodic-job.ts).
    this.lastSeen = new LastSeenBuffer(backgroundConnections(db).pool, options.log, options.lastSeenFlushMs);
    this.leaseSweeper = new PeriodicJob({ name: "freeing expired reboot slots", intervalMs: 15_000, runAtStart: false, log: options.log, step: () => this.freeExpiredLeases() });
    this.cacheTtlMs = options.cacheTtlMs ?? 30_000;
    this.fallbackTtlMs = Math.min(this.cacheTtlMs, options.fallbackTtlMs ?? 5000);
    this.cacheSize = options.cacheSize ?? 200_000;
    this.enrollments = Enrollments.forDatabase(db, { clock: options.clock, log: options.log });
    this.stateWriter = new StateWriter(db.agent.pool);
    this.rebootSlots = new RebootSlots(db.agent.pool);
    this.query = async <T>(sql: string, params: unknown[]) => (await db.agent.pool.query(sql, params)).rows as T[];
  }

  start() {
    this.lastSeen.start();
    domainEvents.on("ringChanged", this.onRingChanged);
    domainEvents.on("machineChanged", this.onMachineChanged);
    domainEvents.on("machinesChanged", this.onMachinesChanged);
    domainEvents.on("everythingChanged", this.onEverythingChanged);
    domainEvents.on("listening", this.onListening);
    this.leaseSweeper.start();
  }

  async stop() {
    domainEvents.off("ringChanged", this.onRingChanged);
    domainEvents.off("machineChanged", this.onMachineChanged);
    domainEvents.off("machinesChanged", this.onMachinesChanged);
    domainEvents.off("everythingChanged", this.onEverythingChanged);
    domainEvents.off("listening", this.onListening);
    await this.leaseSweeper.stop();
    await this.lastSeen.stop();
  }

  /** Writes the coalesced last-seen times now (tests, shutdown). */
  flushLastSeen() {
    return this.lastSeen.flush();
  }

  // ---------------------------------------------------------------- auth

  /** The machine behind a machine token, or the protocol's 401/403/410. */
  async authenticate(authorization: string | undefined): Promise<MachineEntry> {
    const token = bearerToken(authorization);
    if (!token) throw new AppError("UNAUTHORIZED", "missing bearer token");
    const hash = hashToken(token);
    const now = Date.now();
    let entry = this.byToken.get(hash);
    if (!entry || entry.expiresAt < now || entry.readAt < this.floor) {
      entry = await this.loadMachineByToken(hash, token);
      this.remember(entry);
    }
    if (entry.retired) throw new AppError("GONE", "this machine was retired; enroll again to return");
    return entry;
  }

  /** The machine behind a token hash, read now (no cache), or null. */
  private async readMachine(hash: string) {
    const [row] = await this.query<MachineRow & { revoked_at: Date | null }>(
      `SELECT t.id AS token_id, t.token_hash, t.revoked_at, m.id, m.ring_id, m.retired_at, m.last_seq, m.state_hash, m.apps_hash,
              m.slot_refused_target, m.public_key IS NOT NULL AS has_key,
              ${MACHINE_VIEW_COLUMNS}
         FROM machine_tokens t
         JOIN machines m ON m.id = t.machine_id
         ${MACHINE_VIEW_JOINS}
        WHERE t.token_hash = $1`,
      [hash],
    );
    return row && hashesEqual(row.token_hash, hash) ? row : null;
  }

  private async loadMachineByToken(hash: string, token: string): Promise<MachineEntry> {
    const readAt = ++this.ticks;
    this.machineReads++;
    const row = await this.readMachine(hash).finally(() => {
      if (--this.machineReads === 0) this.forgottenDuringReads.clear();
    });
    if (!row) {
      if (tokenKind(token) === "enrollment" && (await this.enrollmentTokenUsable(hash))) {
        throw new AppError("FORBIDDEN", "an enrollment token is only for POST /api/agent/v1/enroll");
      }
      throw new AppError("UNAUTHORIZED", "unknown token");
    }
    if (row.revoked_at) throw new AppError("UNAUTHORIZED", "this token was revoked (the machine enrolled again)");
    return this.entryOf(row, readAt);
  }

  /** A machine as the caches keep it, from its row and machine token as read at tick `readAt`. */
  private entryOf(row: MachineRow, readAt: number): MachineEntry {
    return {
      ...machineViewOf(row),
      id: row.id,
      tokenId: row.token_id,
      ringId: row.ring_id,
      retired: row.retired_at !== null,
      tokenHash: row.token_hash,
      lastSeq: Number(row.last_seq),
      stateHash: row.state_hash,
      appsHash: row.apps_hash,
      slotRefusedTarget: row.slot_refused_target,
      hasKey: row.has_key,
      expiresAt: Date.now() + this.cacheTtlMs,
      readAt,
    };
  }

  /** Keeps a machine just read, unless it was forgotten (changed) while it was read. */
  private remember(entry: MachineEntry) {
    if (entry.readAt < this.floor || (this.forgottenDuringReads.get(entry.id) ?? 0) > entry.readAt) return;
    this.drop(entry.id);
    this.byToken.set(entry.tokenHash, entry);
    this.tokenOf.set(entry.id, entry.tokenHash);
    if (this.byToken.size > this.cacheSize) {
      const oldest = this.byToken.values().next().value;
      if (oldest) this.drop(oldest.id);
    }
  }

  /** Forgets a machine that changed (a read of it under way is not kept either). */
  private forgetMachine(machineDbId: string) {
    if (this.machineReads > 0) this.forgottenDuringReads.set(machineDbId, ++this.ticks);
    this.drop(machineDbId);
  }

  private drop(machineDbId: string) {
    const hash = this.tokenOf.get(machineDbId);
    if (hash === undefined) return;
    this.tokenOf.delete(machineDbId);
    this.byToken.delete(hash);
  }

  private forgetAllMachines() {
    this.floor = ++this.ticks;
    this.byToken.clear();
    this.tokenOf.clear();
  }

  private async enrollmentTokenUsable(hash: string) {
    const { rows } = await this.db.agent.pool.query(
      `SELECT 1 FROM enrollment_tokens
        WHERE token_hash = $1 AND revoked_at IS NULL
          AND (expires_at IS NULL OR expires_at > $2)
          AND (max_uses IS NULL OR uses < max_uses)`,
      [hash, this.options.clock.now()],
    );
    return rows.length > 0;
  }

  /**
   * A machine by its machine id, read now and not cached, for a machine whose
   * own updater speaks to the console without a token of its own (a Zincati
   * node: server/zincati/). `entry` is null when it has no live machine
   * token (it never enrolled through the console); `backend` and `retired`
   * say what it is.
   */
  async machineByMachineId(
    machineId: string,
  ): Promise<{ entry: MachineEntry | null; backend: string; retired: boolean; reenrollAllowed: boolean } | null> {
    const readAt = ++this.ticks;
    const [row] = await this.query<
      MachineViewRow & {
        token_id: string | null;
        token_hash: string | null;
        id: string;
        ring_id: string | null;
        retired_at: Date | null;
        reenroll_allowed_until: Date | null;
        backend: string;
        last_seq: string;
        state_hash: string | null;
        apps_hash: string | null;
        slot_refused_target: string | null;
        has_key: boolean;
      }
    >(
      `SELECT t.id AS token_id, t.token_hash, m.id, m.ring_id, m.retired_at, m.reenroll_allowed_until, m.backend::text AS backend,
              m.last_seq, m.state_hash, m.apps_hash, m.slot_refused_target, m.public_key IS NOT NULL AS has_key,
              ${MACHINE_VIEW_COLUMNS}
         FROM machines m
         LEFT JOIN LATERAL (SELECT id, token_hash FROM machine_tokens
                             WHERE machine_id = m.id AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 1) t ON true
         ${MACHINE_VIEW_JOINS}
        WHERE m.machine_id = $1`,
      [machineId],
    );
    if (!row) return null;
    const retired = row.retired_at !== null;
    const reenrollAllowed = row.reenroll_allowed_until !== null && row.reenroll_allowed_until > this.options.clock.now();
    if (!row.token_id || !row.token_hash) return { entry: null, backend: row.backend, retired, reenrollAllowed };
    return { entry: this.entryOf({ ...row, token_id: row.token_id, token_hash: row.token_hash }, readAt), backend: row.backend, retired, reenrollAllowed };
  }

  /** A machine's ring view as the check-in reads it (cached until it changes), or null outside any ring. */
  async ringViewOf(ringId: string | null): Promise<RingView | null> {
    return (await this.ringView(ringId))?.view ?? null;
  }

  // ---------------------------------------------------------------- enroll

  /**
   * Checks the token of an enroll request before its body is read: the
   * protocol's 401 (no usable enrollment token) or 403 (a machine token).
   */
  checkEnrollmentToken(authorization: string | undefined): Promise<void> {
    return this.enrollments.checkToken(authorization);
  }

  enroll(authorization: string | undefined, body: Enrollment): Promise<Reply<EnrollResponse>> {
    return this.enrollments.enroll(authorization, body);
  }

  // ---------------------------------------------------------------- check-in

  async checkin(cached: MachineEntry, body: CheckinRequest): Promise<CheckinResponse> {
    let machine = cached;
    const now = this.options.clock.now();
    if (body.publicKey && !machine.hasKey) await this.registerKey(machine, body.publicKey);
    if (body.seq > machine.lastSeq) {
      const hash = reportedStateHash(body);
      if (hash === machine.stateHash) {
        machine.lastSeq = body.seq;
      } else if (!(await this.applyReportedState(machine, body, hash, now))) {
        // Refused: the row already holds this seq or a newer one (a retry
        // whose first answer was lost, or another process was first). Answer
        // from the row as it is, never from the entry that missed it.
        machine = await this.loadMachineByToken(machine.tokenHash, "");
        this.remember(machine);
        if (machine.retired) throw new AppError("GONE", "this machine was retired; enroll again to return");
      }
      if (body.apps !== undefined) machine = await this.applyReportedApps(machine, body.seq, body.apps, now);
      this.lastSeen.touch(machine.id, now, body.seq, machine.tokenId);
    }
    let ring = await this.ringView(machine.ringId);
    // Never a ring view read after the machine: read the machine again (and
    // its ring, should it have moved) until the machine is the newer read.
    for (let attempt = 0; ring && machine.readAt < ring.readAt && attempt < 3; attempt++) {
      machine = await this.loadMachineByToken(machine.tokenHash, "");
      this.remember(machine);
      if (machine.retired) throw new AppError("GONE", "this machine was retired; enroll again to return");
      ring = await this.ringView(machine.ringId);
    }
    if (ring && machine.readAt < ring.readAt) {
      throw new AppError("UNAVAILABLE", "the machine's ring changes faster than it can be read; retry later");
    }
    // v1.3: events sent with the check-in are stored before it is answered (a resent one is a duplicate, whatever its seq).
    const events = body.events?.length ? await this.recordEvents(machine, { events: body.events }) : undefined;
    return {
      serverTime: now.toISOString(),
      ...desiredFor(machine, ring?.view ?? null, this.options.busyIntervalSeconds, this.options.waveCheckinsPerSecond, now),
      ...(events ? { events } : {}),
    };
  }

  /**
   * A machine enrolled before it had a key (a 1.0 agent, since upgraded)
   * registers one with its machine token, once: from then on enrolling again
   * takes a proof by it. A key is never replaced this way.
   */
  private async registerKey(machine: MachineEntry, publicKey: string) {
    if (!parsePublicKey(publicKey)) throw invalid("publicKey", "expected an ed25519 public key (SubjectPublicKeyInfo DER, base64)");
    await this.db.agent.pool.query("UPDATE machines SET public_key = $2 WHERE id = $1 AND public_key IS NULL", [machine.id, publicKey]);
    machine.hasKey = true;
  }

  /**
   * Writes the reported state (grouped with other check-ins' writes: see
   * state-writer.ts) and returns once it is committed; false when the row
   * already holds this seq or a newer one.
   */
  private async applyReportedState(machine: MachineEntry, body: CheckinRequest, hash: string, now: Date): Promise<boolean> {
    const booted = body.deployments.find((d) => d.booted) ?? null;
    const failing = body.health.checks.filter((c) => c.status === "fail").map((c) => c.name);
    const applied = await this.stateWriter.write({
      machineId: machine.id,
      seq: body.seq,
      at: now,
      stateHash: hash,
      agentVersion: body.agentVersion,
      bootId: body.bootId ?? null,
      deployments: JSON.stringify(body.deployments),
      bootedChecksum: booted?.checksum ?? null,
      bootedVersion: booted?.version ?? null,
      bootedRef: booted?.ref ?? null,
      updateState: body.update.state,
      updateTarget: body.update.targetChecksum,
      updateProgress: body.update.progress,
      updateError: body.update.error,
      healthStatus: body.health.status,
      healthChecks: JSON.stringify(body.health.checks),
      healthDetail: failing.length ? `failing: ${failing.join(", ")}` : null,
    });
    if (!applied) {
      // The row holds this seq or a newer one already: the cached entry is stale.
      this.forgetMachine(machine.id);
      return false;
    }
    machine.lastSeq = body.seq;
    machine.stateHash = hash;
    machine.bootedChecksum = booted?.checksum ?? null;
    machine.updateState = body.update.state;
    machine.updateTarget = body.update.targetChecksum;
    if (machine.rollbackTo && machine.rollbackTo.checksum === machine.bootedChecksum && !machine.rollbackTo.hold) {
      machine.rollbackTo = null;
    }
    return true;
  }

  /**
   * Writes the reported apps (protocol v1.2) when they differ from the last
   * applied ones: a check-in whose apps did not change costs one hash. The
   * entry answered from is the one that holds them (read again when another
   * write was first).
   */
  private async applyReportedApps(machine: MachineEntry, seq: number, apps: InstalledApp[], now: Date): Promise<MachineEntry> {
    const hash = appsHash(apps);
    if (hash === machine.appsHash) return machine;
    const seen = new Set<string>();
    apps.forEach((app, i) => {
      if (seen.has(app.ref)) throw invalid(`apps[${i}].ref`, `${app.ref} is reported twice`);
      seen.add(app.ref);
    });
    const { applied } = await writeInstalledApps(this.db.agent.pool, { machineId: machine.id, seq, hash, apps, at: now });
    if (!applied) {
      this.forgetMachine(machine.id);
      const fresh = await this.loadMachineByToken(machine.tokenHash, "");
      this.remember(fresh);
      if (fresh.retired) throw new AppError("GONE", "this machine was retired; enroll again to return");
      return fresh;
    }
    machine.appsHash = hash;
    machine.apps = installedStates(apps.filter((a) => a.ref.startsWith("app/")));
    return machine;
  }

  /** A ring's view, cached until it changes (or its TTL ends: the fallback's short one while changes are not heard). */
  private ringView(ringId: string | null): Promise<RingEntry | null> {
    if (!ringId) return Promise.resolve(null);
    const cached = this.rings.get(ringId);
    if (cached && cached.expiresAt > Date.now()) return cached.entry;
    const entry = this.loadRing(ringId);
    const cell = { expiresAt: Date.now() + (this.listening ? this.cacheTtlMs : this.fallbackTtlMs), entry };
    this.rings.set(ringId, cell);
    entry.catch(() => {
      if (this.rings.get(ringId) === cell) this.rings.delete(ringId);
    });
    return entry;
  }

  /**
   * Reads a ring's view. One that reads as the last read did keeps that
   * read's tick: the machines read since then are not older than anything it
   * says, so an expired TTL or a change elsewhere (a tracked wave's progress)
   * costs one ring read, not a read of every machine in the ring.
   */
  private async loadRing(ringId: string): Promise<RingEntry> {
    const view = await readRingView(this.query, ringId);
    const key = JSON.stringify(view);
    const last = this.lastRingReads.get(ringId);
    if (last && last.key === key) return last.entry;
    const entry = { view, readAt: ++this.ticks };
    this.lastRingReads.set(ringId, { key, entry });
    return entry;
  }

  // ---------------------------------------------------------------- events

  async recordEvents(machine: MachineEntry, body: EventsRequest): Promise<EventsResponse> {
    const receivedAt = this.options.clock.now();
    const { count } = await this.db.agent.prisma.agentEvent.createMany({
      data: body.events.map((e) => ({
        machineId: machine.id,
        eventId: e.id,
        type: e.type.replace(".", "_").replace("-", "_") as Prisma.AgentEventCreateManyInput["type"],
        // The agent's clock is a hint: a broken one (year 0, year 10000) is kept within what the console stores.
        at: clampTime(new Date(e.at)),
        receivedAt,
        checksum: e.checksum ?? null,
        detail: e.detail ?? null,
        ref: e.ref ?? null,
      })),
      skipDuplicates: true,
    });
    // Bounded per machine: beyond the newest MAX_EVENTS_PER_MACHINE, the oldest go (through the (machine, received) index).
    if (count > 0) {
      await this.db.agent.pool.query(
        `DELETE FROM agent_events WHERE machine_id = $1 AND received_at < (
           SELECT received_at FROM agent_events WHERE machine_id = $1 ORDER BY received_at DESC OFFSET $2 LIMIT 1)`,
        [machine.id, MAX_EVENTS_PER_MACHINE - 1],
      );
    }
    return { accepted: count, duplicates: body.events.length - count };
  }

  // ---------------------------------------------------------------- reboot slots

  /**
   * A reboot slot, only for a reboot the console wants now: the machine's
   * answer, read afresh (not from the caches), must be to update or roll
   * back to the deployment it asks to boot (`request.checksum`, or for a
   * 1.0 agent its reported target), and not held by a paused rollout.
   */
  async acquireRebootSlot(cached: MachineEntry, request: RebootLockRequest): Promise<Reply<RebootLockResponse>> {
    const now = this.options.clock.now();
    // The ring first, then the machine (as on a check-in, never a ring newer than the machine).
    let ringId = cached.ringId;
    let ringEntry = ringId ? await this.loadRing(ringId) : null;
    let machine = await this.loadMachineByToken(cached.tokenHash, "");
    for (let attempt = 0; machine.ringId !== ringId; attempt++) {
      if (attempt === 3) throw new AppError("UNAVAILABLE", "the machine's ring changes faster than it can be read; retry later");
      ringId = machine.ringId;
      ringEntry = ringId ? await this.loadRing(ringId) : null;
      machine = await this.loadMachineByToken(cached.tokenHash, "");
    }
    this.remember(machine);
    if (machine.retired) throw new AppError("GONE", "this machine was retired; enroll again to return");
    const ring = ringEntry?.view ?? null;
    const checksum = request.checksum ?? machine.updateTarget;
    // An operator freed this machine's slot for this target by force: that sticks until its target changes.
    const wanted = checksum !== null && checksum === machine.slotRefusedTarget ? "not_wanted" : rebootWanted(machine, ring, checksum, now);
    const busyInterval = Math.min(this.options.busyIntervalSeconds, ring?.checkInIntervalSeconds ?? DEFAULT_CHECK_IN_SECONDS);
    if (wanted !== "yes") return { status: 409, body: { granted: false as const, retryAfterSeconds: busyInterval, reason: wanted } };
    // While a wave waits for slots, most asks find the ring full: answer
    // those from one read, without a lock or a transaction. Only an ask that
    // may get a slot takes the lock and decides.
    // Machines outside any ring share one slot.
    let policy = { slots: 1, leaseSeconds: 900, domain: null as string | null };
    if (machine.ringId) {
      const { rows } = await this.db.agent.pool.query<{ slots: number; lease_seconds: number; domain: string | null; held: number; soonest: Date | null; mine: boolean }>(
        `WITH r AS (
           SELECT reboot_slots, reboot_lease_seconds,
                  CASE WHEN failure_domain_label IS NULL THEN NULL ELSE COALESCE($2::jsonb ->> failure_domain_label, '') END AS domain
             FROM rings WHERE id = $1
         )
         SELECT r.reboot_slots AS slots, r.reboot_lease_seconds AS lease_seconds, r.domain,
                count(l.id)::int AS held, min(l.expires_at) AS soonest,
                EXISTS (SELECT 1 FROM reboot_leases WHERE machine_id = $4) AS mine
           FROM r LEFT JOIN reboot_leases l
             ON l.ring_id = $1 AND l.domain IS NOT DISTINCT FROM r.domain AND l.expires_at > $3
          GROUP BY r.reboot_slots, r.reboot_lease_seconds, r.domain`,
        [machine.ringId, JSON.stringify(machine.labels), now, machine.id],
      );
      const view = rows[0];
      if (view && !view.mine && view.held >= view.slots) return ringFull(view.soonest, now, busyInterval);
      // Slots count per ring, or per failure domain of the ring (a label such as site).
      if (view) policy = { slots: view.slots, leaseSeconds: view.lease_seconds, domain: view.domain };
    }
    const leaseMs = policy.leaseSeconds * 1000;
    const decision = await this.rebootSlots.ask({
      machineId: machine.id,
      ringId: machine.ringId,
      domain: policy.domain,
      slots: policy.slots,
      leaseMs,
      // Renewing is for a reboot that runs late, not for keeping a slot: at most twice the lease in all.
      maxHoldMs: MAX_HOLD_LEASES * leaseMs,
      clock: this.options.clock,
    });
    if (decision.granted) return { status: 200, body: { granted: true as const, expiresAt: decision.expiresAt.toISOString() } };
    return ringFull(decision.soonest, decision.at, decision.overheld ? Number.POSITIVE_INFINITY : busyInterval);
  }

  async releaseRebootSlot(machine: MachineEntry): Promise<{ released: boolean }> {
    const { count } = await this.db.agent.prisma.rebootLease.deleteMany({ where: { machineId: machine.id } });
    return { released: count > 0 };
  }

  /** Frees every reboot slot past its expiry; returns how many. */
  async freeExpiredLeases(): Promise<number> {
    const { count } = await backgroundConnections(this.db).prisma.rebootLease.deleteMany({
      where: { expiresAt: { lte: this.options.clock.now() } },
    });
    return count;
  }
}
