// The pure half of Orchard's hawkBit DDI: what a device's feedback means in
// Orchard's update states (server/vocabulary.ts), which action its poll is
// offered (a deployment, a cancel, or none), and the poll interval as DDI
// spells it. The console's answer itself is the one our agent gets
// (agents/desired.ts), never re-derived here.
//
// An action id is the release's registration number (releases.seq): the
// deployment of release N to any device is action N, and so is its cancel
// (stopId N). A device's feedback on action N is about release N, whenever
// it comes.
import type { Answer } from "../agents/desired";
import type { UpdateState } from "../vocabulary";
import type { Feedback, HandlingType } from "./protocol";

/** A device's update, as the machine row holds it. */
export interface DeviceState {
  bootedChecksum: string | null;
  updateState: string;
  updateTarget: string | null;
}

/** What a feedback leaves the device in: the update state, its target, what it runs, the error it reported. */
export interface DeviceReport {
  state: UpdateState;
  target: string | null;
  booted: string | null;
  error: string | null;
}

/** `config.polling.sleep`: "HH:MM:SS", as SWUpdate parses it with strptime (hours past 99 are not read). */
export function sleepOf(seconds: number): string {
  const s = Math.max(1, Math.min(Math.round(seconds), 99 * 3600 + 59 * 60 + 59));
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(Math.floor(s / 3600))}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
}

/** SWUpdate's words for an install written and waiting for the restart that confirms it. */
const INSTALLED_DETAILS = ["All Chunks Installed.", "Update Installed, Testing Pending."];

/**
 * Installed, not yet confirmed: every chunk done (`progress.cnt` reached
 * `progress.of`), or the client's own words for it.
 */
export function isInstalled(feedback: Feedback): boolean {
  const progress = feedback.status.result?.progress;
  if (progress?.of && progress.of > 0 && (progress.cnt ?? 0) >= progress.of) return true;
  return (feedback.status.details ?? []).some((d) => INSTALLED_DETAILS.includes(d.trim()));
}

function errorOf(feedback: Feedback, fallback: string): string {
  const details = (feedback.status.details ?? []).map((d) => d.trim()).filter((d) => d.length > 0);
  return (details.length > 0 ? details.join("; ") : fallback).slice(0, 2000);
}

/**
 * Feedback on the deployment of `checksum`:
 * - closed + success: installed and confirmed after the restart: it runs the release, `succeeded`;
 * - closed + failure or none, rejected: `failed`, with its details as the error;
 * - canceled: the device gave it up: `idle`;
 * - proceeding (and scheduled, resumed, download, downloaded): `downloading`,
 *   or `rebooting` once installed and waiting for the restart that confirms it.
 */
export function stateAfterDeploymentFeedback(device: DeviceState, checksum: string, feedback: Feedback): DeviceReport {
  const { execution } = feedback.status;
  const finished = feedback.status.result?.finished ?? "none";
  const booted = device.bootedChecksum;
  switch (execution) {
    case "closed":
      if (finished === "success") return { state: "succeeded", target: checksum, booted: checksum, error: null };
      return { state: "failed", target: checksum, booted, error: errorOf(feedback, finished === "failure" ? "the device reported a failure" : "the device closed the action without a result") };
    case "rejected":
      return { state: "failed", target: checksum, booted, error: errorOf(feedback, "the device rejected the update") };
    case "canceled":
      return { state: "idle", target: null, booted, error: null };
    default:
      return { state: isInstalled(feedback) ? "rebooting" : "downloading", target: checksum, booted, error: null };
  }
}

/**
 * Feedback on the cancel of `checksum`: closed + success (or canceled) is the
 * device giving the update up (`idle`); anything else (rejected, failure,
 * proceeding) leaves it where it was.
 */
export function stateAfterCancelFeedback(device: DeviceState, checksum: string, feedback: Feedback): DeviceReport | null {
  const { execution } = feedback.status;
  const finished = feedback.status.result?.finished ?? "none";
  const gaveUp = execution === "canceled" || (execution === "closed" && finished === "success");
  if (!gaveUp || device.updateTarget !== checksum || device.bootedChecksum === checksum) return null;
  return { state: "idle", target: null, booted: device.bootedChecksum, error: null };
}

/** The device fetched the deployment of `checksum`: it is downloading it, unless already on its way to it. */
export function stateAfterDeploymentFetch(device: DeviceState, checksum: string): DeviceReport | null {
  const onItsWay = device.updateTarget === checksum && ["downloading", "rebooting"].includes(device.updateState);
  const done = device.bootedChecksum === checksum || (device.updateTarget === checksum && ["failed", "rolled_back"].includes(device.updateState));
  if (onItsWay || done) return null;
  return { state: "downloading", target: checksum, booted: device.bootedChecksum, error: null };
}

/** The action a poll is offered. */
export type Offer =
  | { kind: "deployment"; checksum: string; handling: HandlingType }
  | { kind: "cancel"; checksum: string }
  | { kind: "none" };

/**
 * What the device is offered, in order:
 * 1. installed and waiting for its restart: its deployment, always (the
 *    client confirms only while the server still offers it), never a cancel;
 * 2. withdrawn while downloading (abort, brake, pin, move): a cancel;
 * 3. the console's answer, if it moves it: that release's deployment,
 *    `forced` for an operator's pin or rollback, `attempt` otherwise; not
 *    again once the device closed that release with a failure (as hawkBit
 *    closes an action), until the console sends it another release.
 */
export function offerFor(device: DeviceState, answer: Pick<Answer, "action" | "desired" | "cancel" | "source">): Offer {
  if (device.updateState === "rebooting" && device.updateTarget && device.bootedChecksum !== device.updateTarget) {
    return { kind: "deployment", checksum: device.updateTarget, handling: "forced" };
  }
  if (answer.cancel && device.updateState === "downloading" && device.updateTarget === answer.cancel.checksum) {
    return { kind: "cancel", checksum: answer.cancel.checksum };
  }
  const desired = answer.action !== "none" ? answer.desired : null;
  if (!desired || desired.checksum === device.bootedChecksum) return { kind: "none" };
  const closedFailed = device.updateTarget === desired.checksum && ["failed", "rolled_back"].includes(device.updateState);
  if (closedFailed) return { kind: "none" };
  return { kind: "deployment", checksum: desired.checksum, handling: answer.source === "pin" || answer.source === "rollback" ? "forced" : "attempt" };
}
