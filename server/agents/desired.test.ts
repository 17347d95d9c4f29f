import { describe, expect, it } from "vitest";
import { desiredFor, type RingView } from "./desired";

const A = "a".repeat(64);
const B = "b".repeat(64);
const ring = (release: RingView["release"], interval = 300): RingView => ({
  id: "r1",
  name: "beta",
  checkInIntervalSeconds: interval,
  release,
});
const release = { ref: "exampleos/x86_64/stable", checksum: A, version: "2026.11.1" };

describe("desiredFor", () => {
  it("answers nothing for a machine without a ring or a ring without a release", () => {
    expect(desiredFor({ bootedChecksum: B, updateState: "idle" }, null, 10)).toEqual({
      action: "none",
      desired: null,
      checkInIntervalSeconds: 300,
    });
    expect(desiredFor({ bootedChecksum: B, updateState: "idle" }, ring(null, 60), 10)).toEqual({
      action: "none",
      desired: null,
      checkInIntervalSeconds: 60,
    });
  });

  it("asks for an update when the booted checksum differs from the ring's release, and polls faster", () => {
    const answer = desiredFor({ bootedChecksum: B, updateState: "idle" }, ring(release), 10);
    expect(answer.action).toBe("update");
    expect(answer.desired).toEqual({ ...release, reason: "ring beta · release 2026.11.1" });
    expect(answer.checkInIntervalSeconds).toBe(10);
  });

  it("answers none with the desired deployment once it is booted", () => {
    const answer = desiredFor({ bootedChecksum: A, updateState: "succeeded" }, ring(release), 10);
    expect(answer).toMatchObject({ action: "none", desired: { checksum: A }, checkInIntervalSeconds: 300 });
  });

  it("keeps the short interval while the machine is mid-update, even once booted", () => {
    for (const state of ["downloading", "staged", "rebooting", "verifying"] as const) {
      expect(desiredFor({ bootedChecksum: A, updateState: state }, ring(release), 10).checkInIntervalSeconds).toBe(10);
    }
  });

  it("never polls slower than the ring asks", () => {
    expect(desiredFor({ bootedChecksum: B, updateState: "idle" }, ring(release, 5), 10).checkInIntervalSeconds).toBe(5);
  });
});
