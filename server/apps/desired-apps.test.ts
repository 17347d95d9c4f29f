import { describe, expect, it } from "vitest";
import type { MachineView, RingView, RolloutView } from "../agents/desired";
import { desiredFor } from "../agents/desired";
import { wavesOf } from "../rollouts/plan";
import { appAnswersTo, type RingAppView } from "./desired-apps";

const KIOSK = "app/org.example.Kiosk/x86_64/stable";
const V1 = "1".repeat(64);
const V2 = "2".repeat(64);
const V3 = "3".repeat(64);
const remote = { name: "orchard-kiosk", url: "https://apps.example.com/repo", gpgKey: null };

const machine = (m: Partial<MachineView> = {}): MachineView => ({
  machineId: "kiosk-1",
  labels: {},
  cohort: 0.3,
  bootedChecksum: "b".repeat(64),
  updateState: "idle",
  updateTarget: null,
  pinned: null,
  rollbackTo: null,
  allowDowngradeTo: null,
  apps: { [KIOSK]: { commit: V1, updateState: "succeeded", updateTarget: V1 } },
  appPins: {},
  ...m,
});

const app = (a: Partial<RingAppView> = {}): RingAppView => ({
  ref: KIOSK,
  remote,
  release: { checksum: V1, version: "v1", quarantined: false },
  allowDowngrade: false,
  ...a,
});

const appRollout = (r: Partial<RolloutView> = {}): RolloutView => ({
  id: "ro1",
  state: "running",
  pausedBy: null,
  pauseReason: null,
  release: { ref: KIOSK, checksum: V2, version: "v2", quarantined: false },
  allowDowngrade: false,
  openWave: 0,
  membership: { waves: wavesOf({ singleFirst: false, percents: [50, 100] }), forceFirst: {}, exclude: {}, firstMachineIds: [] },
  ...r,
});

const ring = (r: Partial<RingView> = {}): RingView => ({
  id: "r1",
  name: "beta",
  checkInIntervalSeconds: 300,
  release: null,
  rollout: null,
  apps: [app()],
  appRollout: null,
  ...r,
});

const commits = (m: MachineView, g: RingView | null) => appAnswersTo(m, g)?.map((a) => [a.commit, a.source, a.allowDowngrade]) ?? null;

describe("the answer's apps", () => {
  it("is absent for a ring that never had an app set, [] for one whose set is empty", () => {
    expect(desiredFor(machine(), ring({ apps: null }), 10)).not.toHaveProperty("apps");
    expect(desiredFor(machine(), null, 10)).not.toHaveProperty("apps");
    expect(desiredFor(machine(), ring({ apps: [] }), 10).apps).toEqual([]);
    expect(desiredFor(machine(), ring(), 10).apps).toEqual([
      { ref: KIOSK, remote, commit: V1, version: "v1", reason: "ring beta · release v1", allowDowngrade: false },
    ]);
  });

  it("keeps a machine pinned for the app on its pin, allowed down to it, whatever the rollout", () => {
    const pinned = machine({ appPins: { [KIOSK]: { checksum: V3, version: "v0", quarantined: false } } });
    expect(commits(pinned, ring({ appRollout: appRollout() }))).toEqual([[V3, "pin", true]]);
    // A braked pin: the machine keeps what it has (left out, the app would be removed); one without the app is not sent it.
    const brakedPin = { [KIOSK]: { checksum: V3, version: "v0", quarantined: true } };
    expect(commits(machine({ appPins: brakedPin }), ring({ appRollout: appRollout() }))).toEqual([[V1, "kept", false]]);
    expect(commits(machine({ appPins: brakedPin, apps: {} }), ring())).toEqual([]);
  });

  it("sends a machine of an open wave the rollout's commit; one past the open wave the ring's", () => {
    expect(commits(machine(), ring({ appRollout: appRollout() }))).toEqual([[V2, "rollout", false]]);
    expect(commits(machine({ cohort: 0.7 }), ring({ appRollout: appRollout() }))).toEqual([[V1, "ring", false]]);
    // An OS-pinned machine takes no part in rollouts, as the controller counts it.
    const osPinned = machine({ pinned: { ref: "os", checksum: V3, version: "1", quarantined: false, allowDowngrade: false } });
    expect(commits(osPinned, ring({ appRollout: appRollout() }))).toEqual([[V1, "ring", false]]);
    // In the open wave and not there yet: it checks in at the busy interval.
    expect(desiredFor(machine(), ring({ appRollout: appRollout() }), 10).checkInIntervalSeconds).toBe(10);
    expect(desiredFor(machine(), ring(), 10).checkInIntervalSeconds).toBe(300);
  });

  it("paused: a machine already updating to it goes on, the others stay; aborted: one that runs it stays", () => {
    const paused = ring({ appRollout: appRollout({ state: "paused" }) });
    expect(commits(machine(), paused)).toEqual([[V1, "ring", false]]);
    expect(commits(machine({ apps: { [KIOSK]: { commit: V1, updateState: "downloading", updateTarget: V2 } } }), paused)).toEqual([[V2, "rollout", false]]);
    const aborted = ring({ appRollout: appRollout({ state: "aborted" }) });
    expect(commits(machine({ apps: { [KIOSK]: { commit: V2, updateState: "succeeded", updateTarget: V2 } } }), aborted)).toEqual([[V2, "rollout", false]]);
    expect(commits(machine({ apps: { [KIOSK]: { commit: V1, updateState: "downloading", updateTarget: V2 } } }), aborted)).toEqual([[V1, "ring", false]]);
  });

  it("a braked release: machines on it keep their commit (an app left out would be removed), the others are not sent it", () => {
    const braked = ring({ apps: [app({ release: { checksum: V1, version: "v1", quarantined: true } })] });
    expect(commits(machine(), braked)).toEqual([[V1, "kept", false]]);
    expect(commits(machine({ apps: {} }), braked)).toEqual([]);
    const brakedRollout = ring({ appRollout: appRollout({ release: { ref: KIOSK, checksum: V2, version: "v2", quarantined: true } }) });
    expect(commits(machine(), brakedRollout)).toEqual([[V1, "ring", false]]);
    expect(commits(machine({ apps: { [KIOSK]: { commit: V2, updateState: "succeeded", updateTarget: V2 } } }), brakedRollout)).toEqual([[V2, "kept", false]]);
  });

  it("a reverted ring's app is sent with allowDowngrade", () => {
    expect(commits(machine({ apps: { [KIOSK]: { commit: V2, updateState: "succeeded", updateTarget: V2 } } }), ring({ apps: [app({ allowDowngrade: true })] }))).toEqual([[V1, "ring", true]]);
  });
});
