// The update state machine: stage, take a reboot slot, reboot, verify the
// health of the new boot, and boot back when it fails. Every phase is
// written to disk before it is acted on, so an agent started after a crash
// (or after a real reboot) resumes where it was. Before the reboot the
// console may hold the update (it waits, staged) or cancel it (it is undone).
import type { CheckinResponse, Deployment, InFlightDirective } from "../../server/protocol/v1.ts";
import { type Backend, type HealthReport, type HealthSource, MachineHalted } from "./backend.ts";
import { ApiError, type AgentClient } from "./client.ts";
import { clip, type NewEvent, queueEvent } from "./events.ts";
import type { InFlight } from "./in-flight.ts";
import { errorMessage, type Logger } from "./log.ts";
import { asksFor, describeTarget, isActive, isCancellable, type UpdatePlan } from "./plan.ts";
import { type AgentStore, idleUpdate, type UpdateRecord, type UpdateTarget } from "./store.ts";
import { backoffSeconds, type Random, sleep } from "./timing.ts";

export interface UpdateTiming {
  /** How long after boot the health checks may take to pass. */
  healthGraceSeconds: number;
  /** Pause between two runs of the health checks during the grace period. */
  healthRetrySeconds: number;
  /** First step of every exponential backoff. */
  retryBaseSeconds: number;
}

/** What the update state machine needs from the agent around it, for one update. */
export interface UpdateHost {
  readonly backend: Backend;
  readonly health: HealthSource;
  readonly client: AgentClient;
  readonly store: AgentStore;
  readonly log: Logger;
  /** Aborts when the agent stops or the console cancels this update. */
  readonly signal: AbortSignal;
  /** Aborts only when the agent stops. */
  readonly stopSignal: AbortSignal;
  /** This update as the console may still steer it. */
  readonly inFlight: InFlight;
  readonly random: Random;
  readonly timing: UpdateTiming;
  now(): Date;
  /** Called after every change of update state: the agent checks in at once. */
  stateChanged(): void;
  /** Asks for a check-in at once and waits (a bounded time) until one that started after this call is done. */
  reportNow(): Promise<void>;
  /**
   * The answer of the next check-in that starts after this call, once the
   * agent has taken its hold or cancel; `now` asks for that check-in at
   * once. Rejects when `signal` aborts.
   */
  nextAnswer(signal: AbortSignal, now: boolean): Promise<CheckinResponse>;
  /** Reboots; with the sim it returns after the new boot. */
  reboot(): Promise<void>;
}

/** The machine's health; health checks that cannot run count as a failed check. */
export async function runHealthChecks(health: HealthSource, booted: Deployment | null, signal: AbortSignal): Promise<HealthReport> {
  try {
    return await health.healthChecks(booted, signal);
  } catch (error) {
    if (error instanceof MachineHalted || signal.aborted) throw error;
    const output = `could not run: ${errorMessage(error)}`;
    return { status: "unknown", checks: [{ name: "health-checks", status: "fail", output }] };
  }
}

/**
 * Starts an update: the first phase goes to disk (with its event) before
 * any work; `hold` is the console's hold on it in the same answer, if any.
 */
export async function beginUpdate(host: UpdateHost, plan: UpdatePlan, reason: string, hold: InFlightDirective | null = null) {
  const last = host.store.state.update;
  const retry = last.phase === "failed" && last.target?.checksum === plan.target.checksum;
  const what = `${plan.kind === "rollback" ? "rollback to" : "update to"} ${describeTarget(plan.target)}`;
  await transition(
    host,
    {
      ...idleUpdate,
      phase: "downloading",
      kind: plan.kind,
      target: plan.target,
      mayDowngrade: plan.mayDowngrade,
      progress: 0,
      attempts: retry ? last.attempts : 0,
      hold,
    },
    [{ type: "update.started", checksum: plan.target.checksum, detail: reason ? `${what}: ${reason}` : what }],
  );
}

/**
 * Drives the update from its phase on disk until it ends (succeeded,
 * failed, rolled-back), or, when the console cancels it before the reboot,
 * undoes it (idle).
 */
export async function runUpdate(host: UpdateHost): Promise<void> {
  try {
    await runSteps(host);
  } catch (error) {
    if (!host.inFlight.cancellation || host.stopSignal.aborted) throw error;
  }
  const cancellation = host.inFlight.cancellation;
  const phase = host.store.state.update.phase;
  if (!cancellation) return;
  if (isCancellable(phase)) {
    await cancelUpdate(host, cancellation);
  } else if (isActive(phase)) {
    // Past the reboot a cancel is never taken; should one be, the update carries on rather than stall.
    host.log.error(`a cancel came in phase ${phase}, where it does not count; the update carries on`);
    await runSteps({ ...host, signal: host.stopSignal });
  }
  // Otherwise it ended on its own as the cancel came (a failed download): nothing to undo.
}

async function runSteps(host: UpdateHost): Promise<void> {
  let failures = 0;
  for (;;) {
    host.signal.throwIfAborted();
    const record = host.store.state.update;
    if (!isActive(record.phase)) return;
    try {
      await STEPS[record.phase as keyof typeof STEPS](host, record);
      failures = 0;
    } catch (error) {
      if (host.signal.aborted || error instanceof MachineHalted) throw error;
      const wait = backoff(host, failures++);
      host.log.warn(`update (${record.phase}) failed: ${errorMessage(error)}; trying again in ${wait.toFixed(1)} s`);
      await sleep(wait, host.signal);
    }
  }
}

type Step = (host: UpdateHost, record: UpdateRecord) => Promise<void>;

const STEPS: Record<"downloading" | "staged" | "rebooting" | "reverting" | "verifying", Step> = {
  downloading: stage,
  staged: takeSlotAndReboot,
  rebooting: checkBoot,
  reverting: checkBoot,
  verifying: verify,
};

async function stage(host: UpdateHost, record: UpdateRecord) {
  const target = record.target!;
  const status = await host.backend.status();
  const onDisk = status.deployments.some((d) => d.checksum === target.checksum);
  if (record.targetWasOnDisk === null) {
    // On disk before anything is staged: after a restart, what this update staged counts as its own.
    await host.store.update((s) => {
      s.update.targetWasOnDisk = onDisk;
    });
  }
  const started = Date.now();
  try {
    // Anti-rollback: nothing built before what runs now, unless the console says so.
    if (!record.mayDowngrade && (await host.backend.isOlderThanBooted(target, host.signal))) {
      await refuseDowngrade(host, target);
      return;
    }
    // A deployment still on disk (a rollback, mostly) needs no download.
    if (onDisk) await host.backend.makeDefault(target.checksum);
    else await host.backend.stage(target, (fraction) => setProgress(host, fraction), host.signal);
  } catch (error) {
    if (host.signal.aborted || error instanceof MachineHalted) throw error;
    await failStaging(host, record, error);
    return;
  }
  const seconds = Math.round((Date.now() - started) / 1000);
  const events: NewEvent[] = [
    { type: "update.staged", checksum: target.checksum, detail: `${describeTarget(target)} is the default for the next boot` },
  ];
  if (!onDisk) events.unshift({ type: "update.downloaded", checksum: target.checksum, detail: `downloaded in ${seconds} s` });
  await transition(host, { phase: "staged", progress: null, error: null, attempts: 0, retryAt: null }, events);
}

async function refuseDowngrade(host: UpdateHost, target: UpdateTarget) {
  const message = `refused ${describeTarget(target)}: it was built before the booted deployment, and the console did not allow a downgrade`;
  host.log.warn(message);
  await transition(host, { phase: "failed", progress: null, error: message, downgradeRefused: true }, [
    { type: "update.failed", checksum: target.checksum, detail: message },
  ]);
}

/**
 * A failed download (an unreachable remote, a commit whose signature does
 * not verify) is tried again later, with backoff: it may fail the same way.
 */
async function failStaging(host: UpdateHost, record: UpdateRecord, error: unknown) {
  const attempts = record.attempts + 1;
  const wait = backoff(host, attempts - 1);
  const message = `staging ${describeTarget(record.target!)} failed: ${errorMessage(error)}`;
  host.log.warn(`${message}; trying again in ${Math.round(wait)} s at the earliest`);
  const retryAt = new Date(host.now().getTime() + wait * 1000).toISOString();
  await transition(host, { phase: "failed", progress: null, error: clip(message), attempts, retryAt }, [
    { type: "update.failed", checksum: record.target!.checksum, detail: message },
  ]);
}

async function takeSlotAndReboot(host: UpdateHost, record: UpdateRecord) {
  const target = record.target!;
  await acquireRebootSlot(host, target);
  const status = await host.backend.status();
  const booted = status.deployments.find((d) => d.booted);
  // "Expecting X after the reboot" is on disk before the machine goes down.
  await transition(
    host,
    {
      phase: "rebooting",
      // Granted a slot, the reboot goes ahead: a hold counts only before.
      hold: null,
      expectedChecksum: target.checksum,
      previousChecksum: booted?.checksum ?? null,
      bootIdBeforeReboot: status.bootId,
    },
    [{ type: "reboot.started", checksum: target.checksum, detail: `rebooting into ${describeTarget(target)}` }],
  );
  await rebootNow(host);
}

/**
 * Reports the state, then reboots, unless the answer to that report
 * cancelled the update: up to the reboot command the console may still.
 */
async function rebootNow(host: UpdateHost) {
  await host.reportNow();
  host.inFlight.issueReboot();
  await host.reboot();
}

/** After a reboot (or an agent restart in the middle of one): did the machine boot what was expected? */
async function checkBoot(host: UpdateHost, record: UpdateRecord) {
  const status = await host.backend.status();
  if (status.bootId === record.bootIdBeforeReboot) {
    // The agent stopped while the machine was going down, and the reboot never happened.
    if (record.phase === "rebooting") await acquireRebootSlot(host, record.target!);
    await rebootNow(host);
    return;
  }
  const target = record.target!;
  const booted = status.deployments.find((d) => d.booted);
  const bootedName = booted ? (booted.version ?? booted.checksum.slice(0, 12)) : "nothing";
  if (record.phase === "reverting") {
    if (booted?.checksum === record.expectedChecksum) {
      const removed = await dropFailed(host, target);
      await transition(host, { phase: "rolled-back" }, [
        {
          type: "rollback.performed",
          checksum: target.checksum,
          detail: `booted back into ${bootedName} after ${record.error ?? "failed health checks"}${removed ? `; ${removed}` : ""}`,
        },
      ]);
    } else {
      await fail(host, target, `rolling back after failed health checks booted ${bootedName}, not the previous deployment`);
    }
    return;
  }
  if (booted?.checksum !== record.expectedChecksum) {
    // The target is still the default: the next boot, for whatever reason, would try it again.
    const removed = await dropFailed(host, target);
    if (booted) await putBootedFirst(host);
    const message = `boot loader fell back to ${bootedName} instead of ${describeTarget(target)}`;
    await fail(host, target, message, removed ? `${message}; ${removed}` : message);
    return;
  }
  await transition(host, { phase: "verifying", verifyingSince: host.now().toISOString() }, []);
}

/** The health gate: checks must pass within the grace period after boot, or the machine boots back. */
async function verify(host: UpdateHost, record: UpdateRecord) {
  const target = record.target!;
  const deadline = Date.parse(record.verifyingSince!) + host.timing.healthGraceSeconds * 1000;
  for (;;) {
    const booted = (await host.backend.status()).deployments.find((d) => d.booted) ?? null;
    const health = await runHealthChecks(host.health, booted, host.signal);
    const failing = health.checks.find((c) => c.status === "fail");
    if (!failing) {
      await keepAsKnownGood(host, target.checksum);
      const passed = health.checks.filter((c) => c.status === "pass").length;
      await transition(host, { phase: "succeeded", error: null }, [
        {
          type: "boot.verified",
          checksum: target.checksum,
          detail: `${describeTarget(target)} booted; ${passed} of ${health.checks.length} health checks pass (${health.status})`,
        },
      ]);
      return;
    }
    if (host.now().getTime() >= deadline) {
      await revert(host, target, `health check ${failing.name} failed: ${failing.output ?? "no output"}`);
      return;
    }
    await sleep(Math.min(host.timing.healthRetrySeconds, (deadline - host.now().getTime()) / 1000), host.signal);
  }
}

/**
 * Pins the deployment that passed the health gate, and unpins the one pinned
 * before: the last known-good deployment stays on disk even when something
 * else deploys meanwhile (rpm-ostree's automatic updates, a hand-run
 * `bootc switch`), which would otherwise drop the rollback deployment.
 */
async function keepAsKnownGood(host: UpdateHost, checksum: string) {
  const before = host.store.state.pinnedByAgent;
  try {
    await host.backend.pin(checksum, true);
    const onDisk = (await host.backend.status()).deployments.some((d) => d.checksum === before);
    if (before && before !== checksum && onDisk) await host.backend.pin(before, false);
    await host.store.update((s) => {
      s.pinnedByAgent = checksum;
    });
  } catch (error) {
    if (host.signal.aborted || error instanceof MachineHalted) throw error;
    host.log.warn(`pinning ${checksum.slice(0, 12)} failed: ${errorMessage(error)}; the update stands`);
  }
}

async function revert(host: UpdateHost, target: UpdateTarget, reason: string) {
  host.log.warn(`${reason}; booting back into the previous deployment`);
  // On the denylist before anything else: a crash from here on never boots it again.
  const event: NewEvent = { type: "health.failed", checksum: target.checksum, detail: reason };
  await transition(host, { error: clip(reason) }, [event], target.checksum);
  const status = await host.backend.status();
  const previous = host.store.state.update.previousChecksum;
  const back =
    status.deployments.find((d) => !d.booted && d.checksum === previous) ?? status.deployments.find((d) => !d.booted);
  if (!back) {
    await fail(host, target, `${reason}; there is no previous deployment to boot back into`);
    return;
  }
  await host.backend.makeDefault(back.checksum);
  await transition(host, { phase: "reverting", expectedChecksum: back.checksum, bootIdBeforeReboot: status.bootId }, []);
  await rebootNow(host);
}

/** Ends the update as failed; the target goes on the denylist so that it is not booted again. */
async function fail(host: UpdateHost, target: UpdateTarget, message: string, detail = message) {
  await transition(
    host,
    { phase: "failed", progress: null, error: clip(message) },
    [{ type: "update.failed", checksum: target.checksum, detail }],
    target.checksum,
  );
}

/**
 * Removes a release that failed on this machine (its health gate, or its
 * boot) once the machine runs another, so that the boot loader never falls
 * back to it; a pinned one stays. Says what it did, for the event; a
 * failure to remove it leaves the rollback standing (and is said too).
 */
async function dropFailed(host: UpdateHost, target: UpdateTarget): Promise<string> {
  try {
    const status = await host.backend.status();
    const failed = status.deployments.find((d) => d.checksum === target.checksum && !d.booted);
    if (!failed || status.deployments.some((d) => d.checksum === target.checksum && d.booted)) return "";
    if (failed.pinned) return `${describeTarget(target)} stays on disk: it is pinned`;
    await host.backend.discard(target.checksum);
    return `removed ${describeTarget(target)}`;
  } catch (error) {
    if (host.signal.aborted || error instanceof MachineHalted) throw error;
    const message = `removing ${describeTarget(target)} failed: ${errorMessage(error)}`;
    host.log.warn(`${message}; the boot loader may fall back to it`);
    return message;
  }
}

/** Makes the booted deployment the default for the next boot again, if it is not. True when it had to. */
async function putBootedFirst(host: UpdateHost): Promise<boolean> {
  const status = await host.backend.status();
  const booted = status.deployments.find((d) => d.booted);
  if (!booted || status.deployments[0]?.booted) return false;
  await host.backend.makeDefault(booted.checksum);
  return true;
}

/**
 * The console withdrew the target before the reboot: the download is
 * already stopped; the deployment this update staged is removed (one that
 * was on disk before it, such as a rollback's older deployment, or a pinned
 * one, stays), the booted deployment is the next boot again, and phase
 * `idle` goes to disk with `update.cancelled` in one write. Retried with
 * backoff until it is done or the agent stops.
 */
async function cancelUpdate(host: UpdateHost, directive: InFlightDirective) {
  const record = host.store.state.update;
  const target = record.target!;
  const cancelling: UpdateHost = { ...host, signal: host.stopSignal };
  for (let failures = 0; ; failures++) {
    try {
      const undone = await undoStaging(cancelling, target, record.targetWasOnDisk === false);
      const why = directive.reason ? `cancelled by the console: ${directive.reason}` : "cancelled by the console";
      host.log.info(`update to ${describeTarget(target)} ${why}; ${undone}`);
      await transition(cancelling, { ...idleUpdate }, [{ type: "update.cancelled", checksum: target.checksum, detail: `${why}; ${undone}` }]);
      return;
    } catch (error) {
      if (host.stopSignal.aborted || error instanceof MachineHalted) throw error;
      const wait = backoff(host, failures);
      host.log.warn(`undoing the cancelled update failed: ${errorMessage(error)}; trying again in ${wait.toFixed(1)} s`);
      await sleep(wait, host.stopSignal);
    }
  }
}

/** Removes what an update staged (when `ownStaging`) and makes the booted deployment the default; says what it did. */
async function undoStaging(host: UpdateHost, target: UpdateTarget, ownStaging: boolean): Promise<string> {
  const status = await host.backend.status();
  const staged = status.deployments.find((d) => d.checksum === target.checksum && !d.booted);
  const done: string[] = [];
  if (staged && ownStaging && !staged.pinned) {
    await host.backend.discard(target.checksum);
    done.push(`removed the staged deployment ${describeTarget(target)}`);
  } else if (staged) {
    done.push(`${describeTarget(target)} stays on disk (${staged.pinned ? "pinned" : "it was there before this update"})`);
  } else {
    done.push("nothing was staged yet");
  }
  if (await putBootedFirst(host)) done.push("the booted deployment is the default again");
  return done.join("; ");
}

/**
 * Waits for one of the ring's reboot slots to boot `target`, never while
 * the console holds the update. The slot is marked held before asking, so
 * that a grant whose answer was lost is still released. A refusal for
 * `ring_full` (or with no reason: a 1.0 console) is asked again after
 * `retryAfterSeconds`; for `held` or `not_wanted` the agent checks in at
 * once and goes by that answer: a hold waits for an answer without one, a
 * cancel undoes the update; otherwise it asks again, never sooner than
 * `retryAfterSeconds`.
 */
async function acquireRebootSlot(host: UpdateHost, target: UpdateTarget) {
  let failures = 0;
  for (;;) {
    await waitWhileHeld(host, target);
    if (!host.store.state.holdsRebootLock) {
      await host.store.update((s) => {
        s.holdsRebootLock = true;
      });
    }
    let answer;
    try {
      answer = await host.client.acquireRebootLock(target.checksum);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      const wait = Math.max(error.retryAfterSeconds ?? 0, backoff(host, failures++));
      host.log.warn(`asking for a reboot slot failed: ${error.message}; trying again in ${wait.toFixed(1)} s`);
      await sleep(wait, host.signal);
      continue;
    }
    if (answer.granted) return;
    failures = 0;
    // A little over the console's hint, so that machines waiting together do not ask together.
    const wait = answer.retryAfterSeconds * (1 + 0.1 * host.random());
    const earliest = Date.now() + wait * 1000;
    if (answer.reason === "held" || answer.reason === "not_wanted") {
      const why = answer.reason === "held" ? "the rollout is paused" : "the console does not want it booted now";
      host.log.info(`no reboot slot for ${describeTarget(target)}: ${why} (${answer.reason}); checking in`);
      const word = await host.nextAnswer(host.signal, true);
      if (asksFor(word, target.checksum)) host.log.info(`the console still asks for ${describeTarget(target)}; asking again for a slot`);
    } else {
      host.log.info(`no reboot slot free; asking again in ${wait.toFixed(1)} s`);
    }
    await sleep(Math.max(0, earliest - Date.now()) / 1000, host.signal);
  }
}

/** While the console holds the update: no slot, no reboot; each check-in answer may lift the hold. */
async function waitWhileHeld(host: UpdateHost, target: UpdateTarget) {
  const held = host.store.state.update.hold;
  if (!held) return;
  host.log.info(
    `the console holds the update to ${describeTarget(target)}${held.reason ? ` (${held.reason})` : ""}: it stays staged; no reboot until the hold is lifted`,
  );
  while (host.store.state.update.hold) await host.nextAnswer(host.signal, false);
  host.log.info(`the console lifted its hold on ${describeTarget(target)}`);
}

function backoff(host: UpdateHost, attempt: number) {
  const cap = host.store.state.checkInIntervalSeconds * 10;
  return backoffSeconds(attempt, host.timing.retryBaseSeconds, cap, host.random);
}

/** Progress is reported from memory: after a crash the download starts again anyway. */
function setProgress(host: UpdateHost, fraction: number) {
  host.store.amend((s) => {
    s.update.progress = Math.min(1, Math.max(0, fraction));
  });
}

/** Writes a change of the update record, its events and a checksum to deny in one write, then checks in. */
async function transition(host: UpdateHost, change: Partial<UpdateRecord>, events: NewEvent[], deny?: string) {
  const before = host.store.state.update.phase;
  await host.store.update((s) => {
    s.update = { ...s.update, ...change };
    for (const event of events) queueEvent(s, event, host.now());
    if (deny && !s.denylist.includes(deny)) s.denylist.push(deny);
  });
  const after = host.store.state.update;
  if (after.phase !== before) {
    host.log.info(`update ${before} → ${after.phase}${after.error ? ` (${after.error})` : ""}`);
  }
  host.stateChanged();
}
