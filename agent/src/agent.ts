// The agent: check in every interval (and at once after a change of update
// state), send the queued events, and reconcile the console's answer by
// starting the update state machine, or, while an update is under way, by
// taking the answer's hold or cancel for it. Failures are retried with
// backoff; a retired machine stops; a refused token is traded for a new one
// when an enrollment token is configured.
import { type CheckinRequest, type CheckinResponse, MAX_BODY_BYTES } from "../../server/protocol/v1.ts";
import type { AppChecks, AppDriver } from "./apps/driver.ts";
import { AppReconciler, type AppTiming } from "./apps/reconciler.ts";
import { type Backend, type HealthSource, MachineHalted, type MachineStatus } from "./backend.ts";
import { AgentClient, ApiError } from "./client.ts";
import { type Enrollment, enrollMachine } from "./enroll.ts";
import { machineKey } from "./identity.ts";
import { checkinBatch, clip, queueEvent, sendQueuedEvents } from "./events.ts";
import { errorMessage, type Logger } from "./log.ts";
import { InFlight } from "./in-flight.ts";
import { denylistAfter, describeTarget, isActive, planUpdate, reportedState, steerUpdate } from "./plan.ts";
import { type AgentState, type AgentStore, openAgentStore } from "./store.ts";
import { backoffSeconds, jittered, type Random, sleep, Waker } from "./timing.ts";
import { beginUpdate, runHealthChecks, runUpdate, type UpdateHost, type UpdateTiming } from "./update.ts";
import { AGENT_VERSION } from "./version.ts";

export interface AgentTiming extends UpdateTiming {
  requestTimeoutSeconds: number;
  /** How long to wait for the check-in that reports `rebooting` before rebooting anyway. */
  reportBeforeRebootSeconds: number;
}

export const defaultTiming: AgentTiming = {
  requestTimeoutSeconds: 30,
  retryBaseSeconds: 2,
  healthGraceSeconds: 120,
  healthRetrySeconds: 5,
  reportBeforeRebootSeconds: 10,
};

/** Backoff cap while enrolling, before the console has named an interval (10 × the usual 60 s). */
const ENROLL_BACKOFF_CAP_SECONDS = 600;

export interface AgentOptions {
  stateDir: string;
  backend: Backend;
  /** The machine's health checks (the sim backend simulates its own). */
  health: HealthSource;
  log: Logger;
  /** Enrolls a machine that has no state yet, and enrolls again after a 401. Without it a 401 stops the agent. */
  enrollment?: Enrollment;
  timing?: Partial<AgentTiming>;
  /** The agent's clock, for `sentAt` and event times (the fleet skews it). */
  now?: () => Date;
  random?: Random;
  /**
   * v1.2: the machine's apps (a Flatpak installation, or the sim's). Without
   * it the agent reports no apps and leaves them alone whatever the answer says.
   */
  apps?: { driver: AppDriver; checks: AppChecks; timing?: Partial<AppTiming> };
}

/**
 * Why `run` returned: `stopped` (asked to), `retired` (410), `refused`
 * (the console refused the token and enrolling again was impossible or
 * refused), `halted` (the machine went down for good).
 */
export type AgentExit = "stopped" | "retired" | "refused" | "halted";

export class Agent {
  /** Totals since start, for the fleet's summary. */
  readonly counters = { checkins: 0, errors: 0 };

  private readonly timing: AgentTiming;
  private readonly random: Random;
  private readonly controller = new AbortController();
  private readonly waker = new Waker();
  private store: AgentStore | null = null;
  private client: AgentClient | null = null;
  private updateTask: Promise<void> | null = null;
  /** The update under way, as the console may still steer it. */
  private inFlight: InFlight | null = null;
  /** Set while the (sim) machine reboots: nothing checks in from a machine that is down. */
  private machineDown: Promise<void> | null = null;
  /** Reboots begun by this process (the sim's: a real agent does not outlive one). */
  private boots = 0;
  private exit: AgentExit | null = null;
  /** The machine's public key, sent with every check-in (the console keeps the first it sees). */
  private publicKey: string | null = null;
  /** The seq on disk has not been sent yet: the next check-in may use it without a write. */
  private seqReserved = false;
  /** v1.3: queued events go with the check-in until a console shows it does not take them. */
  private eventsInCheckin = true;
  private reportRequests = 0;
  private reportWaiters: { upTo: number; done: () => void }[] = [];
  /** Check-ins started so far, and who waits for the answer of one started after a given number. */
  private checkinsStarted = 0;
  private answerWaiters: { after: number; take: (answer: CheckinResponse) => void }[] = [];
  /** v1.2: keeps the apps on the answer's app set, beside (never in the way of) the OS update. */
  private apps: AppReconciler | null = null;

  constructor(private readonly options: AgentOptions) {
    this.timing = { ...defaultTiming, ...options.timing };
    this.random = options.random ?? Math.random;
  }

  /** The state on disk, once loaded. */
  get state(): Readonly<AgentState> | null {
    return this.store?.state ?? null;
  }

  private get signal() {
    return this.controller.signal;
  }

  private now() {
    return this.options.now?.() ?? new Date();
  }

  /** Runs until `signal` aborts or the console or machine ends it; state writes finish before it returns. */
  async run(signal?: AbortSignal): Promise<AgentExit> {
    const stop = () => this.controller.abort();
    if (signal?.aborted) stop();
    signal?.addEventListener("abort", stop, { once: true });
    try {
      const store = (await openAgentStore(this.options.stateDir)) ?? (await this.enrollFirst());
      if (!store) return this.exit ?? "stopped";
      this.store = store;
      // A machine that enrolled before it had a key (an older agent) makes one now, and registers it at check-in.
      this.publicKey = (await machineKey(this.options.stateDir)).publicKey;
      this.client = this.createClient(store);
      if (this.options.apps) {
        this.apps = new AppReconciler({
          ...this.options.apps,
          store,
          log: this.options.log,
          now: () => this.now(),
          changed: () => this.waker.wake(),
        });
      }
      await this.announceStart();
      if (isActive(store.state.update.phase)) this.startUpdateTask((host) => runUpdate(host));
      await this.loop();
    } catch (error) {
      if (error instanceof MachineHalted) this.finish("halted", error.message);
      else if (!this.signal.aborted) throw error;
    } finally {
      this.controller.abort();
      await this.updateTask;
      await this.apps?.settled();
      this.settleReports(Number.POSITIVE_INFINITY);
      await this.store?.flush();
      signal?.removeEventListener("abort", stop);
    }
    return this.exit ?? "stopped";
  }

  private createClient(store: AgentStore): AgentClient {
    return new AgentClient({
      server: store.state.server,
      token: () => store.state.token,
      timeoutSeconds: this.timing.requestTimeoutSeconds,
      signal: this.signal,
    });
  }

  /** What one update needs from the agent: its signal aborts when the agent stops or the console cancels it. */
  private updateHost(inFlight: InFlight): UpdateHost {
    return {
      backend: this.options.backend,
      health: this.options.health,
      client: this.client!,
      store: this.store!,
      log: this.options.log,
      signal: AbortSignal.any([this.signal, inFlight.signal]),
      stopSignal: this.signal,
      inFlight,
      random: this.random,
      timing: this.timing,
      now: () => this.now(),
      stateChanged: () => this.waker.wake(),
      reportNow: () => this.reportNow(),
      nextAnswer: (signal, now) => this.nextAnswer(signal, now),
      reboot: () => this.reboot(),
    };
  }

  private finish(exit: AgentExit, why: string) {
    if (this.exit === null) this.options.log.error(`stopping: ${why}`);
    this.exit ??= exit;
    this.controller.abort();
  }

  // ---------------------------------------------------------------- the loop

  private async loop() {
    let failures = 0;
    while (!this.signal.aborted) {
      if (this.machineDown) {
        await this.machineDown;
        continue;
      }
      const covers = this.reportRequests;
      const checkin = ++this.checkinsStarted;
      let wait: number;
      let wakeable = true;
      try {
        this.waker.clear();
        await this.checkinOnce(checkin);
        failures = 0;
        wait = jittered(this.store!.state.checkInIntervalSeconds, this.random);
      } catch (error) {
        if (this.signal.aborted) break;
        if (error instanceof MachineHalted) {
          this.finish("halted", error.message);
          break;
        }
        this.counters.errors++;
        wait = await this.afterFailure(error, failures++);
        wakeable = false;
      }
      this.settleReports(covers);
      await this.waker.wait(wait, wakeable, this.signal).catch(() => {});
    }
  }

  private async checkinOnce(checkin: number) {
    const bootsBefore = this.boots;
    const store = this.store!;
    const client = this.client!;
    const status = await this.options.backend.status();
    const booted = status.deployments.find((d) => d.booted);
    const health = await runHealthChecks(this.options.health, booted ?? null, this.signal);
    // Every seq is on disk before it is sent, so a crash never reuses one. An
    // answered check-in writes the next one with its own results (one write
    // per check-in); after a failure, or at start, it takes a write of its own.
    if (!this.seqReserved) {
      await store.update((s) => {
        s.seq += 1;
      });
    }
    this.seqReserved = false;
    const { update } = store.state;
    // v1.2: only a console that has sent `apps` hears of them.
    const apps = this.apps && store.state.apps.consoleSentApps ? await this.apps.report(this.signal) : undefined;
    const body = fitBody({
      seq: store.state.seq,
      sentAt: this.now().toISOString(),
      bootId: status.bootId,
      agentVersion: AGENT_VERSION,
      deployments: status.deployments,
      update: {
        state: reportedState(update.phase),
        targetChecksum: update.target?.checksum ?? null,
        progress: update.progress,
        error: update.error,
      },
      // Outputs kept short here (the full one goes with a health.failed event): 64 long ones would pass 64 KiB.
      health: { ...health, checks: health.checks.map((c) => ({ ...c, output: c.output && clip(c.output, 512) })) },
      publicKey: this.publicKey ?? undefined,
      apps,
    });
    // v1.3: the oldest queued events go with the check-in, one request fewer for each.
    const queued = store.state.queue.length;
    let carried = this.eventsInCheckin && queued > 0 ? checkinBatch(store.state.queue, BODY_BYTES - Buffer.byteLength(JSON.stringify(body)) - 16) : [];
    let answer: CheckinResponse;
    try {
      answer = await client.checkin(carried.length > 0 ? { ...body, events: carried } : body);
    } catch (error) {
      if (!(carried.length > 0 && error instanceof ApiError && error.kind === "rejected" && error.status === 400)) throw error;
      // Refused with its events (one the console does not know): they go on their own, where a refused batch is dropped.
      this.options.log.warn(`the console refused a check-in with ${carried.length} events (${error.message}); sending events on their own from now on`);
      this.eventsInCheckin = false;
      carried = [];
      answer = await client.checkin(body);
    }
    this.counters.checkins++;
    if (carried.length > 0 && !answer.events) {
      this.options.log.info("the console does not take events with a check-in (it is older than protocol 1.3): sending them on their own");
      this.eventsInCheckin = false;
    }
    const taken = new Set(answer.events ? carried.map((e) => e.id) : []);
    const denylist = denylistAfter(store.state.denylist, answer);
    const forgotten = store.state.denylist.filter((c) => !denylist.includes(c));
    await store.update((s) => {
      s.checkInIntervalSeconds = answer.checkInIntervalSeconds;
      s.lastCheckin = {
        at: this.now().toISOString(),
        booted: booted ? { checksum: booted.checksum, version: booted.version ?? null } : null,
        action: answer.action,
        desired: answer.desired ? { checksum: answer.desired.checksum, version: answer.desired.version } : null,
      };
      s.denylist = denylist;
      s.seq += 1;
      if (taken.size > 0) s.queue = s.queue.filter((e) => !taken.has(e.id));
    });
    this.seqReserved = true;
    for (const checksum of forgotten) {
      this.options.log.info(`the console moved on from ${checksum.slice(0, 12)}; it may be tried again when asked for anew`);
    }
    // Events the check-in could not carry go on their own now. Those queued
    // while it was under way ride with the next one, which the change of
    // state that made them asks for at once (to a console before 1.3, every
    // queued event goes on its own, as before).
    const left = answer.events ? queued - carried.length : store.state.queue.length;
    if (left > 0 && !(await sendQueuedEvents(client, store, this.options.log, this.signal))) this.counters.errors++;
    if (this.boots === bootsBefore) {
      await this.reconcile(answer, status);
      // App changes run in the background: they never hold up a check-in or the OS update.
      await this.apps?.follow(answer.apps, this.signal);
    } else {
      // The (sim) machine rebooted while this check-in was under way: the
      // answer is about the machine before it, as was `status`. A real
      // machine's agent dies with such a request; the next check-in asks anew.
      this.options.log.info("a check-in sent before the reboot was answered after it; its answer is not acted on");
      this.waker.wake();
    }
    this.answered(checkin, answer);
    await this.releaseSlotIfDone();
  }

  /** What to do after a failed check-in: how long to wait before the next. */
  private async afterFailure(error: unknown, attempt: number): Promise<number> {
    if (error instanceof ApiError && error.kind === "retired") {
      this.finish("retired", "the console retired this machine (410)");
      return 0;
    }
    if (error instanceof ApiError && error.kind === "unauthorized" && (await this.enrollAgain(error))) return 0;
    const cap = this.store!.state.checkInIntervalSeconds * 10;
    const retryAfter = error instanceof ApiError ? (error.retryAfterSeconds ?? 0) : 0;
    const wait = Math.max(retryAfter, backoffSeconds(attempt, this.timing.retryBaseSeconds, cap, this.random));
    if (!this.signal.aborted) {
      this.options.log.warn(`check-in failed: ${errorMessage(error)}; trying again in ${wait.toFixed(1)} s`);
    }
    return wait;
  }

  /** Trades the configured enrollment token for a new machine token; true when it worked. */
  private async enrollAgain(refusal: ApiError): Promise<boolean> {
    const enrollment = this.options.enrollment;
    if (!enrollment) {
      this.finish("refused", `the console refused this machine's token (${refusal.message}) and no enrollment token is configured`);
      return false;
    }
    this.options.log.warn("the console refused this machine's token; enrolling again");
    // The same identity as before: only the token comes from the configuration.
    const { server, machineId, hostname, labels } = this.store!.state;
    const again: Enrollment = { server, machineId, hostname, labels, token: enrollment.token };
    try {
      await enrollMachine(this.options.stateDir, this.store, again, this.options.backend, {
        timeoutSeconds: this.timing.requestTimeoutSeconds,
        signal: this.signal,
        now: () => this.now(),
      });
      this.options.log.info("enrolled again");
      return true;
    } catch (error) {
      if (error instanceof ApiError && !isRetryable(error)) {
        this.finish("refused", `enrolling again was refused: ${error.message}`);
      } else if (!this.signal.aborted) {
        this.options.log.warn(`enrolling again failed: ${errorMessage(error)}`);
      }
      return false;
    }
  }

  /** Enrolls a machine with no state, retrying while the console is unreachable; null when refused or stopped. */
  private async enrollFirst(): Promise<AgentStore | null> {
    const enrollment = this.options.enrollment;
    if (!enrollment) {
      throw new Error(`${this.options.stateDir} holds no enrollment: run \`orchard-agent enroll\` or configure an enrollment token`);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const { store, ring } = await enrollMachine(this.options.stateDir, null, enrollment, this.options.backend, {
          timeoutSeconds: this.timing.requestTimeoutSeconds,
          signal: this.signal,
          now: () => this.now(),
        });
        this.options.log.info(`enrolled as ${enrollment.machineId}${ring ? ` in ring ${ring}` : ""}`);
        return store;
      } catch (error) {
        if (this.signal.aborted) return null;
        if (!(error instanceof ApiError)) throw error;
        if (!isRetryable(error)) {
          this.finish("refused", `enrollment refused: ${error.message}`);
          return null;
        }
        this.counters.errors++;
        const backoff = backoffSeconds(attempt, this.timing.retryBaseSeconds, ENROLL_BACKOFF_CAP_SECONDS, this.random);
        const wait = Math.max(error.retryAfterSeconds ?? 0, backoff);
        this.options.log.warn(`enrollment failed: ${error.message}; trying again in ${wait.toFixed(1)} s`);
        await sleep(wait, this.signal).catch(() => {});
      }
    }
  }

  private async announceStart() {
    const status = await this.options.backend.status().catch((error: unknown) => {
      if (error instanceof MachineHalted) throw error;
      this.options.log.warn(`reading the machine's deployments failed: ${errorMessage(error)}`);
      return null;
    });
    const store = this.store!;
    const booted = status?.deployments.find((d) => d.booted);
    const running = booted ? `${booted.version ?? "?"} (${booted.checksum.slice(0, 12)})` : "nothing";
    await store.update((s) => {
      queueEvent(
        s,
        {
          type: "agent.started",
          checksum: booted?.checksum ?? null,
          detail: `orchard-agent ${AGENT_VERSION} (${this.options.backend.kind} backend) started; booted ${running}; update ${s.update.phase}`,
        },
        this.now(),
      );
    });
    this.options.log.info(`started as ${store.state.machineId} with ${store.state.server}; booted ${running}`);
  }

  // ---------------------------------------------------------------- updates

  /**
   * With no update under way, starts what the answer asks for. While one is
   * under way, an answer for another target changes nothing (the console
   * cancels explicitly when it means it); its hold or cancel for this one
   * are taken.
   */
  private async reconcile(answer: CheckinResponse, status: MachineStatus) {
    if (this.signal.aborted) return;
    if (this.updateTask) {
      await this.steer(answer, status);
      return;
    }
    const booted = status.deployments.find((d) => d.booted)?.checksum ?? null;
    const plan = planUpdate(answer, booted, this.store!.state, this.now());
    if (!plan) return;
    const reason = answer.desired?.reason ?? "";
    const hold = answer.hold?.checksum === plan.target.checksum ? answer.hold : null;
    this.options.log.info(`the console asks for ${plan.kind} to ${describeTarget(plan.target)}${reason ? ` (${reason})` : ""}`);
    this.startUpdateTask(async (host) => {
      await beginUpdate(host, plan, reason, hold);
      await runUpdate(host);
    });
  }

  /** Takes the answer's cancel (the update is stopped and undone) or its hold (kept on disk) for the update under way. */
  private async steer(answer: CheckinResponse, status: MachineStatus) {
    const inFlight = this.inFlight;
    const store = this.store!;
    const update = store.state.update;
    if (!inFlight || !update.target) return;
    // In phase rebooting: this process has not rebooted, and the boot id shows no reboot happened.
    const rebootNotIssued = !inFlight.rebooting && status.bootId === update.bootIdBeforeReboot;
    const { cancel, hold } = steerUpdate(answer, update, rebootNotIssued);
    if (cancel) {
      if (!inFlight.cancellation && inFlight.cancel(cancel)) {
        const why = cancel.reason ? `: ${cancel.reason}` : "";
        this.options.log.info(`the console cancels the ${update.phase} update to ${describeTarget(update.target)}${why}`);
      }
      return;
    }
    if ((update.phase === "downloading" || update.phase === "staged") && update.hold?.checksum !== hold?.checksum) {
      await store.update((s) => {
        s.update.hold = hold;
      });
    }
  }

  private startUpdateTask(work: (host: UpdateHost) => Promise<void>) {
    const inFlight = new InFlight();
    this.inFlight = inFlight;
    this.updateTask = work(this.updateHost(inFlight))
      .catch((error) => {
        if (error instanceof MachineHalted) this.finish("halted", error.message);
        else if (!this.signal.aborted) this.options.log.error(`update stopped: ${errorMessage(error)}`);
      })
      .finally(() => {
        this.updateTask = null;
        this.inFlight = null;
        // Check in at once: report the end state and release the reboot slot.
        this.waker.wake();
      });
  }

  /** The answer of the next check-in that starts after this call (see UpdateHost.nextAnswer). */
  private nextAnswer(signal: AbortSignal, now: boolean): Promise<CheckinResponse> {
    const after = this.checkinsStarted;
    if (now) this.waker.wake();
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = () => {
        this.answerWaiters = this.answerWaiters.filter((w) => w !== waiter);
        reject(signal.reason);
      };
      const waiter = {
        after,
        take: (answer: CheckinResponse) => {
          signal.removeEventListener("abort", onAbort);
          resolve(answer);
        },
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.answerWaiters.push(waiter);
    });
  }

  /** Hands check-in number `checkin`'s answer to those waiting for one started after their call. */
  private answered(checkin: number, answer: CheckinResponse) {
    const due = this.answerWaiters.filter((w) => w.after < checkin);
    this.answerWaiters = this.answerWaiters.filter((w) => w.after >= checkin);
    for (const waiter of due) waiter.take(answer);
  }

  /** Always give the reboot slot back once no update is under way. */
  private async releaseSlotIfDone() {
    const store = this.store!;
    if (!store.state.holdsRebootLock || this.updateTask) return;
    try {
      await this.client!.releaseRebootLock();
      await store.update((s) => {
        s.holdsRebootLock = false;
      });
      this.options.log.info("reboot slot released");
    } catch (error) {
      if (!this.signal.aborted) {
        this.options.log.warn(`releasing the reboot slot failed: ${errorMessage(error)}; trying again at the next check-in`);
      }
    }
  }

  /** Reboots the machine (the sim returns after its new boot). */
  private async reboot() {
    this.boots++;
    let up = () => {};
    this.machineDown = new Promise((resolve) => {
      up = resolve;
    });
    try {
      await this.options.backend.reboot(this.signal);
    } finally {
      this.machineDown = null;
      up();
    }
    // Only the sim comes back here; a real agent starts afresh after the boot and announces itself there.
    await this.announceStart();
  }

  /** Asks for a check-in at once and waits (a bounded time) until one that started after this call is done. */
  private reportNow(): Promise<void> {
    const upTo = ++this.reportRequests;
    this.waker.wake();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, this.timing.reportBeforeRebootSeconds * 1000);
      this.reportWaiters.push({
        upTo,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  private settleReports(covers: number) {
    const due = this.reportWaiters.filter((w) => w.upTo <= covers);
    this.reportWaiters = this.reportWaiters.filter((w) => w.upTo > covers);
    for (const waiter of due) waiter.done();
  }
}

/** Room kept in a check-in for what the client adds around the body. */
const BODY_BYTES = MAX_BODY_BYTES - 512;

/**
 * A check-in body under the 64 KiB limit: check outputs go first (the apps',
 * then the machine's), then the apps' health details, then their errors.
 */
export function fitBody(body: CheckinRequest): CheckinRequest {
  const fits = (b: CheckinRequest) => Buffer.byteLength(JSON.stringify(b)) <= BODY_BYTES;
  const eachApp = (b: CheckinRequest, change: (app: App) => App): CheckinRequest => ({ ...b, apps: b.apps?.map(change) });
  const steps: ((b: CheckinRequest) => CheckinRequest)[] = [
    (b) => eachApp(b, (a) => ({ ...a, health: a.health && { ...a.health, checks: a.health.checks.map((c) => ({ ...c, output: null })) } })),
    (b) => ({ ...b, health: { ...b.health, checks: b.health.checks.map((c) => ({ ...c, output: null })) } }),
    (b) => eachApp(b, (a) => ({ ...a, health: a.health && { ...a.health, checks: [] } })),
    (b) => eachApp(b, (a) => ({ ...a, update: a.update && { ...a.update, error: a.update.error && clip(a.update.error, 128) } })),
  ];
  let fitted = body;
  for (const step of steps) {
    if (fits(fitted)) break;
    fitted = step(fitted);
  }
  return fitted;
}
type App = NonNullable<CheckinRequest["apps"]>[number];

function isRetryable(error: ApiError) {
  return error.kind === "unavailable" || error.kind === "rate-limited";
}
