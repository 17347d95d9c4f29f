import { describe, expect, it } from "vitest";
import { wavesOf } from "../rollouts/plan";
import { answerTo, desiredFor, type MachineView, rebootWanted, type ReleaseView, type RingView, type RolloutView } from "./desired";

const OLD = "b".repeat(64);
const CUR = "a".repeat(64);
const NEW = "c".repeat(64);
const REF = "exampleos/x86_64/stable";
const release = (checksum: string, version: string, quarantined = false): ReleaseView => ({ ref: REF, checksum, version, quarantined });

const machine = (m: Partial<MachineView> = {}): MachineView => ({
  machineId: "kiosk-1",
  labels: { site: "ams-1" },
  cohort: 0.3,
  bootedChecksum: OLD,
  updateState: "idle",
  updateTarget: null,
  pinned: null,
  rollbackTo: null,
  allowDowngradeTo: null,
  ...m,
});

const rollout = (r: Partial<RolloutView> = {}): RolloutView => ({
  id: "ro1",
  state: "running",
  pausedBy: null,
  pauseReason: null,
  release: release(NEW, "2026.12.1"),
  allowDowngrade: false,
  openWave: 2, // 1 machine, 10 %, 50 % open
  membership: { waves: wavesOf({ singleFirst: true, percents: [10, 50, 100] }), forceFirst: {}, exclude: {}, firstMachineIds: [] },
  ...r,
});

const ring = (r: Partial<RingView> = {}): RingView => ({
  id: "r1",
  name: "beta",
  checkInIntervalSeconds: 300,
  release: release(CUR, "2026.11.1"),
  rollout: null,
  ...r,
});

const answer = (m: MachineView, g: RingView | null) => desiredFor(m, g, 10);

describe("desiredFor", () => {
  it("answers nothing without a ring or a release", () => {
    expect(answer(machine(), null)).toEqual({ action: "none", desired: null, hold: null, cancel: null, checkInIntervalSeconds: 300 });
    expect(answer(machine(), ring({ release: null, checkInIntervalSeconds: 60 }))).toEqual({
      action: "none",
      desired: null,
      hold: null,
      cancel: null,
      checkInIntervalSeconds: 60,
    });
  });

  it("sends the ring's release, polling faster until it is booted", () => {
    expect(answer(machine(), ring())).toMatchObject({ action: "update", desired: { checksum: CUR, reason: "ring beta · release 2026.11.1" }, checkInIntervalSeconds: 10 });
    expect(answer(machine({ bootedChecksum: CUR }), ring())).toMatchObject({ action: "none", desired: { checksum: CUR }, checkInIntervalSeconds: 300 });
  });

  it("keeps the short interval mid-update and never polls slower than the ring", () => {
    for (const state of ["downloading", "staged", "rebooting", "verifying"] as const) {
      expect(answer(machine({ bootedChecksum: CUR, updateState: state }), ring()).checkInIntervalSeconds).toBe(10);
    }
    expect(answer(machine(), ring({ checkInIntervalSeconds: 5 })).checkInIntervalSeconds).toBe(5);
  });

  it("sends a machine in an open wave the rollout's release", () => {
    expect(answer(machine({ cohort: 0.3 }), ring({ rollout: rollout() }))).toMatchObject({
      action: "update",
      desired: { checksum: NEW, reason: "rollout 2026.12.1 · ring beta · wave 3 of 4" },
    });
    // Cohort 0.7 is in the 100 % wave, not open yet: the ring's release.
    expect(answer(machine({ cohort: 0.7 }), ring({ rollout: rollout() }))).toMatchObject({ desired: { checksum: CUR } });
    // Stays on the short interval in an open wave once updated (soak health arrives quickly).
    expect(answer(machine({ cohort: 0.3, bootedChecksum: NEW }), ring({ rollout: rollout() }))).toMatchObject({ action: "none", checkInIntervalSeconds: 10 });
  });

  it("spreads the check-ins of a large open wave's updated machines, never those with work to do", () => {
    const wave = (waveMachines: number) => ring({ rollout: rollout({ waveMachines }) });
    const updated = machine({ cohort: 0.3, bootedChecksum: NEW, updateState: "succeeded", updateTarget: NEW });
    // 5,000 machines at the default 500 a second: the busy interval holds.
    expect(desiredFor(updated, wave(5_000), 10).checkInIntervalSeconds).toBe(10);
    // 90,000 machines: every 180 s, 500 a second in all.
    expect(desiredFor(updated, wave(90_000), 10).checkInIntervalSeconds).toBe(180);
    expect(desiredFor(updated, wave(90_000), 10, 1_000).checkInIntervalSeconds).toBe(90);
    // Never longer than the ring's own interval.
    expect(desiredFor(updated, wave(1_000_000), 10).checkInIntervalSeconds).toBe(300);
    // A machine still to update, or mid-update, keeps the busy interval in the same wave.
    expect(desiredFor(machine({ cohort: 0.3 }), wave(90_000), 10)).toMatchObject({ action: "update", checkInIntervalSeconds: 10 });
    for (const updateState of ["downloading", "staged", "rebooting"]) {
      expect(desiredFor(machine({ cohort: 0.3, updateState, updateTarget: NEW }), wave(90_000), 10).checkInIntervalSeconds).toBe(10);
    }
    // Outside the open waves: the ring's interval.
    expect(desiredFor(machine({ cohort: 0.7, bootedChecksum: CUR }), wave(90_000), 10).checkInIntervalSeconds).toBe(300);
  });

  it("starts a ramped wave's machines in cohort order, telling the rest when to come back", () => {
    // Wave 3 (10 % → 50 %) opened at noon, its new machines starting over 800 s.
    const noon = new Date("2026-12-01T12:00:00Z");
    const at = (seconds: number) => new Date(noon.getTime() + seconds * 1000);
    const ramped = ring({ rollout: rollout({ ramp: { startedAt: noon, seconds: 800, from: 0.1, to: 0.5 } }) });
    // Cohort 0.3 is half way: it starts at noon + 400 s.
    const waiting = desiredFor(machine({ cohort: 0.3, bootedChecksum: CUR }), ramped, 10, 500, at(100));
    expect(waiting).toMatchObject({ action: "none", desired: { checksum: CUR }, checkInIntervalSeconds: 300 });
    expect(desiredFor(machine({ cohort: 0.3, bootedChecksum: CUR }), ramped, 10, 500, at(250)).checkInIntervalSeconds).toBe(150);
    expect(answerTo(machine({ cohort: 0.3, bootedChecksum: CUR }), ramped, at(250))).toMatchObject({ source: "ring", startsAt: at(400) });
    expect(desiredFor(machine({ cohort: 0.3, bootedChecksum: CUR }), ramped, 10, 500, at(400))).toMatchObject({ action: "update", desired: { checksum: NEW } });
    // Its first machines start at once; earlier waves' machines never wait.
    expect(desiredFor(machine({ cohort: 0.1, bootedChecksum: CUR }), ramped, 10, 500, at(0))).toMatchObject({ action: "update" });
    expect(desiredFor(machine({ cohort: 0.05, bootedChecksum: CUR }), ramped, 10, 500, at(0))).toMatchObject({ action: "update" });
    // Machines at work on the release, or done, are never held back; nor is a forced-first one.
    for (const updateState of ["downloading", "staged", "failed"]) {
      expect(desiredFor(machine({ cohort: 0.49, updateState, updateTarget: NEW }), ramped, 10, 500, at(1)).desired?.checksum).toBe(NEW);
    }
    expect(desiredFor(machine({ cohort: 0.49, bootedChecksum: NEW }), ramped, 10, 500, at(1))).toMatchObject({ action: "none", desired: { checksum: NEW } });
    const forced = ring({ rollout: { ...ramped.rollout!, membership: { ...ramped.rollout!.membership, forceFirst: { labels: { site: "ams-1" } } } } });
    expect(desiredFor(machine({ cohort: 0.49 }), forced, 10, 500, at(1)).desired?.checksum).toBe(NEW);
    // Not its turn: no reboot slot for the release either.
    expect(rebootWanted(machine({ cohort: 0.3, bootedChecksum: CUR }), ramped, NEW, at(1))).toBe("not_wanted");
    // Held (too many of the ring's machines at work): no machine of the wave that has not begun starts,
    // its turn come or not. Each comes back at its turn at the soonest, and no sooner than the wave's
    // stretched interval (90,000 machines at 500 a second: 180 s), within the ring's.
    const held = ring({ rollout: rollout({ waveMachines: 90_000, ramp: { startedAt: noon, seconds: 800, from: 0.1, to: 0.5, heldAt: at(200) } }) });
    for (const [cohort, interval] of [[0.1, 180], [0.15, 180], [0.3, 200], [0.49, 300]]) {
      const answer = answerTo(machine({ cohort, bootedChecksum: CUR }), held, at(500));
      expect(answer).toMatchObject({ action: "none", source: "ring", desired: { checksum: CUR }, waveHeld: true });
      expect(desiredFor(machine({ cohort, bootedChecksum: CUR }), held, 10, 500, at(500)).checkInIntervalSeconds).toBe(interval);
      expect(rebootWanted(machine({ cohort, bootedChecksum: CUR }), held, NEW, at(500))).toBe("not_wanted");
    }
    // A small wave's waiting machines ask at the busy interval.
    const heldSmall = ring({ rollout: { ...held.rollout!, waveMachines: 40 } });
    expect(desiredFor(machine({ cohort: 0.15, bootedChecksum: CUR }), heldSmall, 10, 500, at(500)).checkInIntervalSeconds).toBe(10);
    // Cohort 0.15's turn came at 100 s, before the hold: at the soonest now. Cohort 0.3's: 200 s after the hold.
    expect(answerTo(machine({ cohort: 0.15, bootedChecksum: CUR }), held, at(500)).startsAt).toEqual(at(500));
    expect(answerTo(machine({ cohort: 0.3, bootedChecksum: CUR }), held, at(500)).startsAt).toEqual(at(700));
    // Those at work on it, done, earlier waves' and forced-first machines go on.
    expect(desiredFor(machine({ cohort: 0.3, updateState: "staged", updateTarget: NEW }), held, 10, 500, at(500))).toMatchObject({ action: "update", checkInIntervalSeconds: 10 });
    expect(desiredFor(machine({ cohort: 0.05, bootedChecksum: CUR }), held, 10, 500, at(500))).toMatchObject({ action: "update" });
    expect(rebootWanted(machine({ cohort: 0.3, updateState: "staged", updateTarget: NEW }), held, NEW, at(500))).toBe("yes");
    const forcedHeld = ring({ rollout: { ...held.rollout!, membership: { ...held.rollout!.membership, forceFirst: { labels: { site: "ams-1" } } } } });
    expect(desiredFor(machine({ cohort: 0.49 }), forcedHeld, 10, 500, at(500)).desired?.checksum).toBe(NEW);
    // Without a time (a preview of where it is headed), the ramp is not looked at.
    expect(answerTo(machine({ cohort: 0.3, bootedChecksum: CUR }), ramped)).toMatchObject({ action: "update", startsAt: null });
  });

  it("puts forced and first machines in the first wave and leaves excluded ones out", () => {
    const firstOnly = rollout({ openWave: 0 });
    expect(answer(machine({ cohort: 0.9 }), ring({ rollout: firstOnly })).desired?.checksum).toBe(CUR);
    expect(answer(machine({ cohort: 0.9 }), ring({ rollout: { ...firstOnly, membership: { ...firstOnly.membership, firstMachineIds: ["kiosk-1"] } } })).desired?.checksum).toBe(NEW);
    expect(answer(machine({ cohort: 0.9 }), ring({ rollout: { ...firstOnly, membership: { ...firstOnly.membership, forceFirst: { labels: { site: "ams-1" } } } } })).desired?.checksum).toBe(NEW);
    expect(answer(machine({ cohort: 0.01 }), ring({ rollout: { ...rollout(), membership: { ...rollout().membership, exclude: { machineIds: ["kiosk-1"] } } } })).desired?.checksum).toBe(CUR);
  });

  it("while paused: machines that have not started wait, staged ones hold, rebooting and booted ones go on", () => {
    const paused = ring({ rollout: rollout({ state: "paused", pauseReason: "health gate: 2 of 5 failed" }) });
    expect(answer(machine(), paused)).toMatchObject({ desired: { checksum: CUR }, hold: null, cancel: null });
    for (const state of ["downloading", "staged"] as const) {
      expect(answer(machine({ updateState: state, updateTarget: NEW }), paused)).toMatchObject({
        action: "update",
        desired: { checksum: NEW },
        hold: { checksum: NEW, reason: "rollout 2026.12.1 is paused: health gate: 2 of 5 failed" },
        cancel: null,
        checkInIntervalSeconds: 10,
      });
    }
    expect(answer(machine({ updateState: "rebooting", updateTarget: NEW }), paused)).toMatchObject({ action: "update", hold: null, cancel: null });
    expect(answer(machine({ bootedChecksum: NEW }), paused)).toMatchObject({ action: "none", desired: { checksum: NEW }, hold: null });
  });

  it("after an abort: machines on the release stay, machines on their way cancel, the rest follow the ring", () => {
    const aborted = ring({ rollout: rollout({ state: "aborted", pauseReason: "aborted by ops@example.com" }) });
    expect(answer(machine({ bootedChecksum: NEW }), aborted)).toMatchObject({ action: "none", desired: { checksum: NEW }, cancel: null });
    expect(answer(machine(), aborted)).toMatchObject({ action: "update", desired: { checksum: CUR }, cancel: null });
    for (const state of ["downloading", "staged", "rebooting"] as const) {
      expect(answer(machine({ bootedChecksum: CUR, updateState: state, updateTarget: NEW }), aborted)).toMatchObject({
        action: "none",
        desired: { checksum: CUR },
        hold: null,
        cancel: { checksum: NEW, reason: "rollout 2026.12.1 was aborted (aborted by ops@example.com)" },
      });
    }
    // Booted it already (verifying): too late to cancel, it stays.
    expect(answer(machine({ bootedChecksum: NEW, updateState: "verifying", updateTarget: NEW }), aborted)).toMatchObject({ cancel: null });
  });

  it("after a brake: machines on the release stay, nobody else is sent it, machines on their way cancel", () => {
    const braked = ring({ rollout: rollout({ state: "paused", release: release(NEW, "2026.12.1", true) }) });
    expect(answer(machine({ bootedChecksum: NEW }), braked)).toEqual({ action: "none", desired: null, hold: null, cancel: null, checkInIntervalSeconds: 300 });
    expect(answer(machine({ bootedChecksum: CUR, updateState: "staged", updateTarget: NEW }), braked)).toMatchObject({
      action: "none",
      desired: { checksum: CUR },
      hold: null,
      cancel: { checksum: NEW, reason: "release 2026.12.1 was stopped by the emergency brake" },
    });
    expect(answer(machine(), braked)).toMatchObject({ desired: { checksum: CUR }, cancel: null });
  });

  it("cancels an update the console no longer wants for this machine: pinned elsewhere, sent back, moved", () => {
    const staged = { bootedChecksum: CUR, updateState: "staged", updateTarget: NEW };
    const pinned = { ...release(CUR, "2026.11.1"), allowDowngrade: false };
    expect(answer(machine({ ...staged, pinned }), ring({ rollout: rollout() }))).toMatchObject({
      action: "none",
      cancel: { checksum: NEW, reason: "the machine was pinned to 2026.11.1" },
    });
    const rollbackTo = { checksum: CUR, ref: REF, version: "2026.11.1", reason: "rollback by ops", hold: true };
    expect(answer(machine({ ...staged, rollbackTo }), ring({ rollout: rollout() }))).toMatchObject({ cancel: { checksum: NEW, reason: "rollback by ops" } });
    // In another ring now, whose release is what it boots.
    expect(answer(machine(staged), ring({ name: "stable" }))).toMatchObject({ action: "none", cancel: { checksum: NEW, reason: "ring stable now runs 2026.11.1" } });
    expect(answer(machine(staged), null)).toMatchObject({ cancel: { checksum: NEW, reason: "the machine left its ring" } });
    // Still wanted: no cancel.
    expect(answer(machine(staged), ring({ rollout: rollout() }))).toMatchObject({ action: "update", cancel: null });
    // A failed or finished update is nothing to cancel.
    expect(answer(machine({ ...staged, updateState: "failed" }), null)).toMatchObject({ cancel: null });
  });

  it("grants a reboot only for what the console wants booted now", () => {
    const staged = machine({ updateState: "staged", updateTarget: NEW });
    expect(rebootWanted(staged, ring({ rollout: rollout() }), NEW)).toBe("yes");
    expect(rebootWanted(staged, ring({ rollout: rollout({ state: "paused" }) }), NEW)).toBe("held");
    expect(rebootWanted(staged, ring({ rollout: rollout({ state: "aborted" }) }), NEW)).toBe("not_wanted");
    expect(rebootWanted(staged, ring({ rollout: rollout({ release: release(NEW, "2026.12.1", true) }) }), NEW)).toBe("not_wanted");
    // Asking for another deployment than the one wanted, or with nothing to install.
    expect(rebootWanted(staged, ring({ rollout: rollout() }), CUR)).toBe("not_wanted");
    expect(rebootWanted(machine({ bootedChecksum: CUR }), ring(), CUR)).toBe("not_wanted");
    expect(rebootWanted(machine(), ring(), null)).toBe("not_wanted");
    // A rollback boots its target through a slot too.
    const rollbackTo = { checksum: OLD, ref: REF, version: "2026.10.3", reason: "revert", hold: false };
    expect(rebootWanted(machine({ bootedChecksum: NEW, rollbackTo }), ring(), OLD)).toBe("yes");
  });

  it("lets an unpinned machine down to its ring's older release when the unpin allowed it", () => {
    const m = machine({ bootedChecksum: NEW, allowDowngradeTo: CUR });
    expect(answer(m, ring())).toMatchObject({ action: "update", desired: { checksum: CUR, allowDowngrade: true } });
    expect(answer(machine({ bootedChecksum: NEW }), ring())).toMatchObject({ action: "update", desired: { checksum: CUR } });
    expect(answer(machine({ bootedChecksum: NEW }), ring()).desired?.allowDowngrade).toBeUndefined();
  });

  it("answers a rollback before any rollout, and nothing once it is booted", () => {
    const rollbackTo = { checksum: OLD, ref: REF, version: "2026.10.3", reason: "revert", hold: true };
    expect(answer(machine({ bootedChecksum: NEW, rollbackTo }), ring({ rollout: rollout() }))).toMatchObject({
      action: "rollback",
      desired: { checksum: OLD, reason: "revert" },
    });
    expect(answer(machine({ rollbackTo }), ring({ rollout: rollout() }))).toMatchObject({ action: "none", desired: { checksum: OLD } });
  });

  it("answers a pin before everything, allowing a downgrade when the pin says so", () => {
    const pinned = { ...release(OLD, "2026.10.3"), allowDowngrade: true };
    expect(
      answer(machine({ bootedChecksum: CUR, pinned, rollbackTo: { checksum: NEW, ref: REF, version: "x", reason: "r", hold: true } }), ring({ rollout: rollout() })),
    ).toMatchObject({ action: "update", desired: { checksum: OLD, reason: "pinned to 2026.10.3", allowDowngrade: true } });
  });

  it("sends no machine to a quarantined release", () => {
    expect(answer(machine(), ring({ release: release(CUR, "2026.11.1", true) }))).toMatchObject({ action: "none", desired: null });
    expect(answer(machine(), ring({ rollout: rollout({ release: release(NEW, "2026.12.1", true) }) }))).toMatchObject({ desired: { checksum: CUR } });
    expect(answer(machine({ pinned: { ...release(NEW, "2026.12.1", true), allowDowngrade: false } }), ring())).toMatchObject({ action: "none", desired: null });
  });
});
