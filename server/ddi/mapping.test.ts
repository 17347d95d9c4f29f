import { describe, expect, it } from "vitest";
import type { Answer } from "../agents/desired";
import { isInstalled, offerFor, sleepOf, stateAfterCancelFeedback, stateAfterDeploymentFeedback, stateAfterDeploymentFetch } from "./mapping";
import type { Feedback } from "./protocol";

const A = "a".repeat(64);
const B = "b".repeat(64);

const fb = (execution: Feedback["status"]["execution"], finished?: "success" | "failure" | "none", extra: Partial<Feedback["status"]> = {}): Feedback => ({
  id: "1",
  status: { execution, ...(finished ? { result: { finished } } : {}), ...extra },
});

const device = (updateState: string, updateTarget: string | null = null, bootedChecksum: string | null = A) => ({ bootedChecksum, updateState, updateTarget });

const answer = (over: Partial<Answer> = {}): Pick<Answer, "action" | "desired" | "cancel" | "source"> => ({
  action: "update",
  desired: { ref: "acme/board/stable", checksum: B, version: "2", reason: "rollout" },
  cancel: null,
  source: "rollout",
  ...over,
});

describe("sleepOf", () => {
  it.each([
    [1, "00:00:01"],
    [10, "00:00:10"],
    [300, "00:05:00"],
    [3661, "01:01:01"],
    [86_400, "24:00:00"],
    [0, "00:00:01"],
    [10_000_000, "99:59:59"],
  ])("%i s is %s", (seconds, sleep) => expect(sleepOf(seconds)).toBe(sleep));
});

describe("a deployment's feedback", () => {
  it.each([
    ["proceeding (started): downloading", fb("proceeding", "none", { details: ["Installing Update Chunk Artifacts."], result: { finished: "none", progress: { cnt: 0, of: 1 } } }), "downloading", A],
    ["scheduled: downloading", fb("scheduled"), "downloading", A],
    ["every chunk installed: rebooting (waits for its restart)", fb("proceeding", "none", { details: ["All Chunks Installed."], result: { finished: "none", progress: { cnt: 1, of: 1 } } }), "rebooting", A],
    ["installed, testing pending (after a restart without -c): rebooting", fb("proceeding", "none", { details: ["Update Installed, Testing Pending."] }), "rebooting", A],
    ["closed success: succeeded, runs it", fb("closed", "success"), "succeeded", B],
    ["closed failure: failed", fb("closed", "failure", { details: ["ERROR : HASH mismatch"] }), "failed", A],
    ["closed without a result: failed", fb("closed", "none"), "failed", A],
    ["rejected: failed", fb("rejected"), "failed", A],
    ["canceled by the device: idle", fb("canceled"), "idle", A],
  ] as const)("%s", (_, feedback, state, booted) => {
    const after = stateAfterDeploymentFeedback(device("downloading", B), B, feedback);
    expect(after.state).toBe(state);
    expect(after.booted).toBe(booted);
    expect(after.target).toBe(state === "idle" ? null : B);
  });

  it("keeps the device's own words as the error of a failure", () => {
    expect(stateAfterDeploymentFeedback(device("downloading", B), B, fb("closed", "failure", { details: ["ERROR : HASH mismatch", " Image invalid "] })).error).toBe("ERROR : HASH mismatch; Image invalid");
    expect(stateAfterDeploymentFeedback(device("downloading", B), B, fb("closed", "failure")).error).toBe("the device reported a failure");
  });

  it("reads a chunk count short of the total as not installed", () => {
    expect(isInstalled(fb("proceeding", "none", { result: { finished: "none", progress: { cnt: 1, of: 2 } }, details: ["Installed Chunk."] }))).toBe(false);
  });
});

describe("a cancel's feedback", () => {
  it("closed success or canceled: the device gave the update up", () => {
    expect(stateAfterCancelFeedback(device("downloading", B), B, fb("closed", "success"))).toEqual({ state: "idle", target: null, booted: A, error: null });
    expect(stateAfterCancelFeedback(device("downloading", B), B, fb("canceled"))?.state).toBe("idle");
  });
  it("rejected, or about another update: nothing changes", () => {
    expect(stateAfterCancelFeedback(device("downloading", B), B, fb("rejected"))).toBeNull();
    expect(stateAfterCancelFeedback(device("downloading", B), A, fb("closed", "success"))).toBeNull();
  });
});

describe("fetching a deployment", () => {
  it("starts the download, unless already on its way, there, or failed on it", () => {
    expect(stateAfterDeploymentFetch(device("idle"), B)).toEqual({ state: "downloading", target: B, booted: A, error: null });
    expect(stateAfterDeploymentFetch(device("rebooting", B), B)).toBeNull();
    expect(stateAfterDeploymentFetch(device("failed", B), B)).toBeNull();
    expect(stateAfterDeploymentFetch(device("succeeded", B, B), B)).toBeNull();
  });
});

describe("what a poll is offered", () => {
  it("the console's update, attempt for a rollout, forced for a pin or a rollback", () => {
    expect(offerFor(device("idle"), answer())).toEqual({ kind: "deployment", checksum: B, handling: "attempt" });
    expect(offerFor(device("idle"), answer({ source: "pin" }))).toEqual({ kind: "deployment", checksum: B, handling: "forced" });
    expect(offerFor(device("idle"), answer({ action: "rollback", source: "rollback" }))).toEqual({ kind: "deployment", checksum: B, handling: "forced" });
  });
  it("nothing when the answer is none, it runs it, or it closed it failed", () => {
    expect(offerFor(device("idle"), answer({ action: "none" }))).toEqual({ kind: "none" });
    expect(offerFor(device("succeeded", B, B), answer())).toEqual({ kind: "none" });
    expect(offerFor(device("failed", B), answer())).toEqual({ kind: "none" });
  });
  it("a cancel while downloading what the console withdrew", () => {
    const withdrawn = answer({ action: "none", desired: null, source: "none", cancel: { checksum: B, reason: "rollout 2 was aborted" } });
    expect(offerFor(device("downloading", B), withdrawn)).toEqual({ kind: "cancel", checksum: B });
  });
  it("an installed device keeps its deployment until it confirms, never a cancel", () => {
    const withdrawn = answer({ action: "none", desired: null, source: "none", cancel: { checksum: B, reason: "rollout 2 was aborted" } });
    expect(offerFor(device("rebooting", B), withdrawn)).toEqual({ kind: "deployment", checksum: B, handling: "forced" });
  });
});
