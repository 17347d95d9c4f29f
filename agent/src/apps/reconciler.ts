// Keeps the machine's apps on the set the console's answer lists (protocol
// 1.2): installs what is missing, brings each app to its exact commit,
// refuses a downgrade the answer does not allow, runs the app's health
// checks after each change and goes back to the previous commit when a
// required one still fails at the end of the grace period, and uninstalls
// managed apps the answer no longer lists, with the runtimes they alone
// brought. Apps it did not install are never touched. Every step is on disk
// (with its event) before the next begins, so that a restart resumes it.
import { type AgentEvent, checksumSchema, type DesiredApp, flatpakRefSchema, type InstalledApp } from "../../../server/protocol/v1.ts";
import type { HealthReport } from "../backend.ts";
import { clip, type NewEvent, queueEvent } from "../events.ts";
import { errorMessage, type Logger } from "../log.ts";
import { backoffSeconds, sleep } from "../timing.ts";
import type { AppChecks, AppDriver, InstalledRef } from "./driver.ts";
import type { AppRecord, AppsRecord } from "./state.ts";

/** The agent's state file as the reconciler sees it: its apps, and the event queue. */
export interface AppsStore {
  readonly state: Readonly<{ apps: AppsRecord; queue: readonly AgentEvent[] }>;
  update(change: (state: { apps: AppsRecord; queue: AgentEvent[] }) => void): Promise<void>;
}

export interface AppTiming {
  /** How long after a change an app's required checks may take to pass before it goes back. */
  graceSeconds: number;
  /** Between two runs of the checks during the grace period. */
  checkRetrySeconds: number;
  /** Backoff after a failed install or update (a download that may work later). */
  retryBaseSeconds: number;
  retryCapSeconds: number;
}

export const defaultAppTiming: AppTiming = {
  graceSeconds: 60,
  checkRetrySeconds: 5,
  retryBaseSeconds: 30,
  retryCapSeconds: 3600,
};

export interface AppsHost {
  driver: AppDriver;
  checks: AppChecks;
  store: AppsStore;
  log: Logger;
  now: () => Date;
  timing?: Partial<AppTiming>;
  /** An app's state changed: the agent checks in at once. */
  changed?: () => void;
}

/** An app with nothing done or tried yet: the base of every record. */
export const IDLE: AppRecord = {
  state: "idle",
  targetCommit: null,
  previousCommit: null,
  error: null,
  verifyingSince: null,
  health: null,
  attempts: 0,
  retryAt: null,
  runtimesBefore: [],
  reverting: false,
};

/** What a check-in keeps of a check's output and of an app's error (the body stays under 64 KiB). */
const CHECK_OUTPUT_LIMIT = 256;
const ERROR_LIMIT = 1024;

export class AppReconciler {
  private readonly timing: AppTiming;
  /** The last answer's app set; null until one came. */
  private desired: DesiredApp[] | null = null;
  private task: Promise<void> | null = null;
  private again = false;
  /** The last inventory read, for check-ins while a read fails. */
  private inventory: InstalledRef[] = [];
  /** The inventory was read in this pass and nothing changed since: a pass reads it once, and again after each change. */
  private fresh = false;

  constructor(private readonly host: AppsHost) {
    this.timing = { ...defaultAppTiming, ...host.timing };
  }

  private get record(): Readonly<AppsRecord> {
    return this.host.store.state.apps;
  }

  /**
   * Takes an answer's `apps` (absent: nothing changes) and works on it in
   * the background, one app change at a time; a newer answer is taken up
   * after the change under way.
   */
  async follow(desired: DesiredApp[] | undefined, signal: AbortSignal): Promise<void> {
    if (desired === undefined) return;
    if (!this.record.consoleSentApps) {
      await this.host.store.update((s) => {
        s.apps.consoleSentApps = true;
      });
    }
    this.desired = desired;
    if (this.task) {
      this.again = true;
      return;
    }
    this.task = (async () => {
      do {
        this.again = false;
        try {
          await this.reconcile(this.desired!, signal);
        } catch (error) {
          if (signal.aborted) return;
          this.host.log.error(`app reconcile stopped: ${errorMessage(error)}`);
        }
      } while (this.again && !signal.aborted);
    })().finally(() => {
      this.task = null;
    });
  }

  /** Resolves once no app work is under way. */
  async settled(): Promise<void> {
    while (this.task) await this.task;
  }

  /** True while an app change is under way. */
  get busy(): boolean {
    return this.task !== null;
  }

  /** One pass over `desired`: each listed app, in order, then the removals. */
  async reconcile(desired: DesiredApp[], signal: AbortSignal): Promise<void> {
    this.desired = desired;
    this.fresh = false;
    await this.forgetFailures(desired);
    for (const app of desired) {
      if (signal.aborted || this.again) return;
      await this.ensure(app, signal);
    }
    const listed = new Set(desired.map((a) => a.ref));
    for (const ref of [...this.record.managed]) {
      if (signal.aborted || this.again) return;
      if (!listed.has(ref)) await this.remove(ref, signal);
    }
    await this.pruneRuntimes(signal);
  }

  /** The check-in's `apps`: what is installed, with the state of each app the console asked for. */
  async report(signal: AbortSignal): Promise<InstalledApp[]> {
    try {
      this.inventory = await this.host.driver.list(signal);
    } catch (error) {
      signal.throwIfAborted();
      this.host.log.warn(`listing the apps failed: ${errorMessage(error)}; reporting the last list`);
    }
    const { managed, runtimes, apps } = this.record;
    // A ref the protocol cannot carry would make the console refuse every check-in: it is left out.
    const reportable = this.inventory.filter((i) => flatpakRefSchema.safeParse(i.ref).success && checksumSchema.safeParse(i.commit).success);
    const entries: InstalledApp[] = reportable.map((i) => {
      const record = i.ref.startsWith("app/") ? apps[i.ref] : undefined;
      return {
        ref: i.ref,
        commit: i.commit,
        origin: i.origin === null ? null : clip(i.origin, 128),
        managed: managed.includes(i.ref) || i.ref in runtimes,
        ...reportedRecord(record),
      };
    });
    // An app the console asked for that is not installed (its install failed, or is under way).
    for (const ref of managed) {
      if (this.inventory.some((i) => i.ref === ref) || !apps[ref]) continue;
      entries.push({ ref, commit: null, origin: null, managed: true, ...reportedRecord(apps[ref]) });
    }
    for (const app of this.desired ?? []) {
      if (entries.some((e) => e.ref === app.ref) || !apps[app.ref]) continue;
      entries.push({ ref: app.ref, commit: null, origin: null, managed: false, ...reportedRecord(apps[app.ref]) });
    }
    // At most 64: the console's apps and Orchard's runtimes first.
    const first = (e: InstalledApp) => (e.update ? 0 : e.managed ? 1 : 2);
    return entries.sort((a, b) => first(a) - first(b)).slice(0, 64);
  }

  // ---------------------------------------------------------------- one app

  private async ensure(app: DesiredApp, signal: AbortSignal) {
    const { ref, commit } = app;
    const record = this.record.apps[ref];
    const inventory = await this.list(signal);
    const installed = inventory.find((i) => i.ref === ref);
    const managed = this.record.managed.includes(ref);

    if (installed && !managed) {
      if (record?.state !== "failed" || record.targetCommit !== commit) {
        await this.finish(ref, { ...IDLE, state: "failed", targetCommit: commit, error: `${ref} was installed outside Orchard: the agent leaves it alone` }, {
          type: "app.failed",
          checksum: commit,
          detail: `${ref} was installed outside Orchard: the agent leaves it alone`,
        });
      }
      return;
    }
    if (this.isFailed(ref, commit)) return;

    const resuming = record && (record.state === "downloading" || record.state === "verifying") && record.targetCommit === commit;
    if (resuming && record.reverting) {
      // Stopped while going back: finish going back.
      const health = record.health ?? { status: "unknown" as const, checks: [] };
      await this.rollBack(app, record.previousCommit, health, record.error ?? "the app's checks failed", signal);
      return;
    }
    if (resuming && installed?.commit === commit) {
      // Stopped after the change: note what it brought (once), then check the app.
      if (record.state === "downloading") await this.afterChange(ref, record.runtimesBefore, signal);
      await this.verify(app, record.previousCommit, signal);
      return;
    }
    if (!resuming && installed?.commit === commit) {
      // A release that failed and left the app where it was stays the report
      // while the console asks for where it was (a paused rollout's ring
      // release): the OS agent keeps its rollback so, and the console judges
      // the rollout's machines by it.
      const leftHere = (record?.state === "rolled-back" || record?.state === "failed") && record.previousCommit === commit;
      if (record && record.targetCommit !== commit && !leftHere) {
        // Already there (an operator, or an earlier change of the console's mind): nothing to do but say so.
        await this.setRecord(ref, { ...IDLE, state: "succeeded", targetCommit: commit, health: record.health });
      }
      return;
    }
    if (record?.state === "failed" && record.targetCommit === commit && record.retryAt && this.host.now() < new Date(record.retryAt)) return;

    const previous = resuming ? record.previousCommit : (installed?.commit ?? null);
    if (installed && !app.allowDowngrade && !resuming) {
      let older: boolean;
      try {
        older = await this.host.driver.isOlder(app.remote.name, ref, { commit, version: app.version }, installed.commit, signal);
      } catch (error) {
        signal.throwIfAborted();
        await this.failAttempt(app, record, `could not read the history of ${ref}: ${errorMessage(error)}`);
        return;
      }
      if (older) {
        const why = `${describe(app)} is older than the active commit ${installed.commit.slice(0, 12)}: a downgrade needs allowDowngrade`;
        await this.finish(ref, { ...IDLE, state: "failed", targetCommit: commit, previousCommit: installed.commit, error: why }, {
          type: "app.failed",
          checksum: commit,
          detail: why,
        }, { downgrade: true });
        return;
      }
    }

    // The change goes to disk first: a restart finds it and resumes (a first install is managed from here on).
    const runtimesBefore = inventory.filter((i) => i.ref.startsWith("runtime/")).map((i) => i.ref);
    await this.host.store.update((s) => {
      s.apps.apps[ref] = {
        ...IDLE,
        state: "downloading",
        targetCommit: commit,
        previousCommit: previous,
        attempts: record?.attempts ?? 0,
        runtimesBefore: resuming ? record.runtimesBefore : runtimesBefore,
      };
      if (!s.apps.managed.includes(ref)) s.apps.managed.push(ref);
    });
    this.host.changed?.();
    this.host.log.info(`${installed ? "updating" : "installing"} ${describe(app)}${app.reason ? ` (${app.reason})` : ""}`);
    try {
      await this.host.driver.ensureRemote(app.remote, signal);
      const target = { commit, version: app.version };
      await this.change((driver) => (installed ? driver.update(ref, target, signal) : driver.install(app.remote.name, ref, target, signal)));
    } catch (error) {
      signal.throwIfAborted();
      await this.failAttempt(app, this.record.apps[ref], `${installed ? "updating" : "installing"} ${describe(app)} failed: ${errorMessage(error)}`);
      return;
    }
    await this.afterChange(ref, this.record.apps[ref].runtimesBefore, signal);
    await this.verify(app, previous, signal);
  }

  /** After an install or update: the runtimes it brought are Orchard's, and the app's checks begin. */
  private async afterChange(ref: string, runtimesBefore: readonly string[], signal: AbortSignal) {
    const after = await this.list(signal);
    const brought = after.filter((i) => i.ref.startsWith("runtime/") && !runtimesBefore.includes(i.ref)).map((i) => i.ref);
    await this.host.store.update((s) => {
      for (const runtime of brought) s.apps.runtimes[runtime] = [...new Set([...(s.apps.runtimes[runtime] ?? []), ref])];
      s.apps.apps[ref] = { ...s.apps.apps[ref], state: "verifying", verifyingSince: this.host.now().toISOString() };
    });
    this.host.changed?.();
  }

  /** Runs the app's checks until they pass or the grace period ends; then goes back if a required one still fails. */
  private async verify(app: DesiredApp, previous: string | null, signal: AbortSignal) {
    const { ref, commit } = app;
    const since = this.record.apps[ref]?.verifyingSince;
    const deadline = (since ? new Date(since) : this.host.now()).getTime() + this.timing.graceSeconds * 1000;
    if (!since) {
      await this.host.store.update((s) => {
        s.apps.apps[ref] = { ...s.apps.apps[ref], state: "verifying", verifyingSince: this.host.now().toISOString() };
      });
    }
    for (;;) {
      const health = await this.runChecks(ref, commit, signal);
      const failing = health.checks.find((c) => c.status === "fail");
      if (!failing) {
        const passed = health.checks.filter((c) => c.status === "pass").length;
        const what = previous === null ? "installed" : "updated";
        await this.finish(ref, { ...IDLE, state: "succeeded", targetCommit: commit, previousCommit: previous, health }, {
          type: previous === null ? "app.installed" : "app.updated",
          checksum: commit,
          detail: `${describe(app)} ${what}${previous ? ` from ${previous.slice(0, 12)}` : ""}; ${passed} of ${health.checks.length} app checks pass`,
        });
        this.host.log.info(`${describe(app)} ${what}`);
        return;
      }
      if (this.host.now().getTime() >= deadline) {
        await this.rollBack(app, previous, health, `app check ${failing.name} failed: ${failing.output ?? "no output"}`, signal);
        return;
      }
      await sleep(Math.min(this.timing.checkRetrySeconds, Math.max(0, (deadline - this.host.now().getTime()) / 1000)), signal);
    }
  }

  private async rollBack(app: DesiredApp, previous: string | null, health: HealthReport, why: string, signal: AbortSignal) {
    const { ref, commit } = app;
    this.host.log.warn(`${describe(app)}: ${why}; going back to ${previous ? previous.slice(0, 12) : "not installed"}`);
    await this.host.store.update((s) => {
      s.apps.apps[ref] = { ...s.apps.apps[ref], reverting: true, error: why, health };
    });
    try {
      const installed = (await this.list(signal)).find((i) => i.ref === ref);
      if (previous && installed?.commit !== previous) {
        await this.change((driver) => driver.update(ref, { commit: previous, version: null }, signal));
      } else if (!previous && installed) {
        await this.uninstallApp(ref, signal);
      }
    } catch (error) {
      signal.throwIfAborted();
      const failed = `${why}; going back failed: ${errorMessage(error)}`;
      await this.finish(ref, { ...IDLE, state: "failed", targetCommit: commit, previousCommit: previous, error: failed, health }, {
        type: "app.failed",
        checksum: commit,
        detail: failed,
      }, { downgrade: false });
      return;
    }
    const back = previous ? `back on ${previous.slice(0, 12)}` : "uninstalled";
    // A first install that went is no longer Orchard's to remove.
    const unmanage = previous ? undefined : (s: { apps: AppsRecord }) => void (s.apps.managed = s.apps.managed.filter((r) => r !== ref));
    await this.finish(ref, { ...IDLE, state: "rolled-back", targetCommit: commit, previousCommit: previous, error: why, health }, {
      type: "app.rolled-back",
      checksum: commit,
      detail: `${describe(app)}: ${why}; ${back}`,
    }, { downgrade: false }, unmanage);
  }

  private async remove(ref: string, signal: AbortSignal) {
    const installed = (await this.list(signal)).find((i) => i.ref === ref);
    const record = this.record.apps[ref];
    if (record?.state === "failed" && record.retryAt && this.host.now() < new Date(record.retryAt)) return;
    if (installed) {
      try {
        await this.uninstallApp(ref, signal);
      } catch (error) {
        signal.throwIfAborted();
        const why = `uninstalling ${ref} failed: ${errorMessage(error)}`;
        const attempts = (record?.attempts ?? 0) + 1;
        await this.finish(ref, { ...IDLE, ...record, state: "failed", error: why, attempts, retryAt: this.retryAt(attempts) }, {
          type: "app.failed",
          checksum: installed.commit,
          detail: why,
        });
        return;
      }
    }
    await this.host.store.update((s) => {
      s.apps.managed = s.apps.managed.filter((r) => r !== ref);
      delete s.apps.apps[ref];
      if (installed) queueEvent(s, { type: "app.removed", ref, checksum: installed.commit, detail: `${ref} uninstalled: the console no longer lists it` }, this.host.now());
    });
    this.host.log.info(`${ref} uninstalled: the console no longer lists it`);
    this.host.changed?.();
  }

  /** Uninstalls a managed app, then the runtimes only it brought that nothing else uses. */
  private async uninstallApp(ref: string, signal: AbortSignal) {
    await this.change((driver) => driver.uninstall(ref, signal));
    await this.pruneRuntimes(signal);
  }

  /**
   * Uninstalls the runtimes that managed apps brought once no installed app
   * uses them; one that only apps not Orchard's still use stops being Orchard's.
   */
  private async pruneRuntimes(signal: AbortSignal) {
    const inventory = await this.list(signal);
    const used = new Set(inventory.flatMap((i) => (i.runtime ? [i.runtime] : [])));
    for (const [runtime, apps] of Object.entries(this.record.runtimes)) {
      // The managed apps that use it now (one that came later keeps it as well as the one that brought it).
      const still = inventory.filter((i) => this.record.managed.includes(i.ref) && i.runtime === runtime).map((i) => i.ref);
      const present = inventory.some((i) => i.ref === runtime);
      if (still.length === 0 && present && !used.has(runtime)) {
        try {
          await this.change((driver) => driver.uninstall(runtime, signal));
          this.host.log.info(`${runtime} uninstalled: no app uses it any more`);
        } catch (error) {
          signal.throwIfAborted();
          this.host.log.warn(`uninstalling ${runtime} failed: ${errorMessage(error)}; trying again later`);
          continue;
        }
      }
      // Used by no app of Orchard's any more (uninstalled, gone, or kept for another app): no longer Orchard's.
      if (still.length > 0 && still.join() === apps.join()) continue;
      await this.host.store.update((s) => {
        if (still.length === 0) delete s.apps.runtimes[runtime];
        else s.apps.runtimes[runtime] = still;
      });
    }
  }

  // ---------------------------------------------------------------- bookkeeping

  private async runChecks(ref: string, commit: string, signal: AbortSignal): Promise<HealthReport> {
    try {
      return await this.host.checks.appHealth({ ref, commit }, signal);
    } catch (error) {
      signal.throwIfAborted();
      return { status: "unknown", checks: [{ name: "app-checks", status: "fail", output: `could not run: ${errorMessage(error)}` }] };
    }
  }

  private async list(signal: AbortSignal): Promise<InstalledRef[]> {
    if (this.fresh) return this.inventory;
    this.inventory = await this.host.driver.list(signal);
    this.fresh = true;
    return this.inventory;
  }

  /** Runs a change of the installation: the inventory is read anew after it. */
  private async change(work: (driver: AppDriver) => Promise<void>): Promise<void> {
    try {
      await work(this.host.driver);
    } finally {
      this.fresh = false;
    }
  }

  private isFailed(ref: string, commit: string) {
    return this.record.failed.some((f) => f.ref === ref && f.commit === commit);
  }

  /** Failed targets the answer no longer names (or now allows as a downgrade) may be tried again. */
  private async forgetFailures(desired: DesiredApp[]) {
    const keep = this.record.failed.filter((f) =>
      desired.some((a) => a.ref === f.ref && a.commit === f.commit && !(f.downgrade && a.allowDowngrade)),
    );
    if (keep.length === this.record.failed.length) return;
    await this.host.store.update((s) => {
      s.apps.failed = keep;
    });
  }

  /** A failed install or update: tried again after a backoff. */
  private async failAttempt(app: DesiredApp, record: AppRecord | undefined, why: string) {
    const attempts = (record?.targetCommit === app.commit ? record.attempts : 0) + 1;
    this.host.log.warn(why);
    await this.finish(app.ref, {
      ...IDLE,
      state: "failed",
      targetCommit: app.commit,
      previousCommit: record?.previousCommit ?? null,
      error: why,
      attempts,
      retryAt: this.retryAt(attempts),
    }, { type: "app.failed", checksum: app.commit, detail: why });
  }

  private retryAt(attempts: number) {
    const wait = backoffSeconds(attempts - 1, this.timing.retryBaseSeconds, this.timing.retryCapSeconds, () => 0.5);
    return new Date(this.host.now().getTime() + wait * 1000).toISOString();
  }

  /** An app's new state, its event and (when given) its target refused for good, in one write. */
  private async finish(
    ref: string,
    record: AppRecord,
    event: Omit<NewEvent, "ref">,
    failed?: { downgrade: boolean },
    also?: (s: { apps: AppsRecord }) => void,
  ) {
    await this.host.store.update((s) => {
      also?.(s);
      s.apps.apps[ref] = record;
      if (failed && !s.apps.failed.some((f) => f.ref === ref && f.commit === record.targetCommit)) {
        s.apps.failed.push({ ref, commit: record.targetCommit!, downgrade: failed.downgrade });
      }
      queueEvent(s, { ...event, ref }, this.host.now());
    });
    this.host.changed?.();
  }

  private async setRecord(ref: string, record: AppRecord) {
    await this.host.store.update((s) => {
      s.apps.apps[ref] = record;
    });
    this.host.changed?.();
  }
}

function describe(app: DesiredApp) {
  return `${app.ref} ${app.version ?? ""} (${app.commit.slice(0, 12)})`.replace("  ", " ");
}

/** An app's record as the check-in reports it, outputs cut short. */
function reportedRecord(record: AppRecord | undefined): Pick<InstalledApp, "update" | "health"> {
  if (!record) return { update: null, health: null };
  return {
    update: { state: record.state, targetCommit: record.targetCommit, error: record.error && clip(record.error, ERROR_LIMIT) },
    health: record.health && {
      status: record.health.status,
      checks: record.health.checks.slice(0, 16).map((c) => ({ ...c, output: c.output && clip(c.output, CHECK_OUTPUT_LIMIT) })),
    },
  };
}
