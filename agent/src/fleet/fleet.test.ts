import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../log.ts";
import { eventually, FakeConsole } from "../testing/fake-console.ts";
import { FACTORY, release, tempDir } from "../testing/test-agent.ts";
import { type FleetGroup, type FleetOptions, runFleet } from "./fleet.ts";
import { fleetGroups } from "./options.ts";
import { formatSummary } from "./summary.ts";

let fake: FakeConsole;

beforeEach(async () => {
  fake = await FakeConsole.start();
  fake.enrollmentTokens.add("group-b");
});

afterEach(() => fake.close());

function options(stateDir: string, groups: FleetGroup[], sim: Partial<FleetOptions["sim"]> = {}): FleetOptions {
  return {
    server: fake.url,
    groups,
    stateDir,
    namePrefix: "kiosk",
    intervalSeconds: 0.3,
    clockSkewSeconds: 3600,
    healthGraceSeconds: 0.2,
    sim: {
      factory: FACTORY,
      stageSeconds: 0.05,
      rebootSeconds: 0.05,
      failRate: 0,
      failRelease: null,
      darkRate: 0,
      degradedRate: 0,
      fallbackRate: 0,
      ...sim,
    },
    log: createLogger("silent"),
  };
}

describe("fleet", () => {
  it("runs agents with their own identities and tokens, updates them, and stops cleanly", async () => {
    const stateDir = await tempDir();
    const fleet = runFleet(options(stateDir, [{ token: "enroll-me", count: 2 }, { token: "group-b", count: 4 }]));
    await eventually(() => fake.machines.size === 6 && fleet.stats().byStatus.running === 6, 5000, "six agents");
    expect([...fake.machines.keys()].sort()).toEqual(["kiosk-0000", "kiosk-0001", "kiosk-0002", "kiosk-0003", "kiosk-0004", "kiosk-0005"]);
    const kiosk4 = fake.machine("kiosk-0004").enrolled;
    expect(kiosk4).toMatchObject({ hostname: "kiosk-0004", backend: "sim", labels: { site: "fra-1", sim: "true" } });

    fake.desired = release("2026.11.1");
    await eventually(() => fleet.stats().byUpdateState.succeeded === 6, 10_000, "every agent updated");
    expect(fleet.stats().checkins).toBeGreaterThan(6);
    await fleet.stop();
    expect(fleet.stats().byStatus.stopped).toBe(6);

    // Started again without tokens: they are enrolled already, and remember what they booted.
    fake.enrollmentTokens.clear();
    const again = runFleet(options(stateDir, [{ token: null, count: 6 }]));
    const seq = fake.machine("kiosk-0000").lastSeq;
    await eventually(() => fake.machine("kiosk-0000").lastSeq > seq, 5000, "check-ins after the restart");
    expect(fake.machine("kiosk-0000").checkins.at(-1)!.deployments[0]).toMatchObject({ version: "2026.11.1", booted: true });
    await again.stop();
    expect(again.stats().byStatus.stopped).toBe(6);
  });

  it("loses the machines that go dark at a reboot", async () => {
    fake.desired = release("2026.11.1");
    const fleet = runFleet(options(await tempDir(), [{ token: "enroll-me", count: 3 }], { darkRate: 1 }));
    await eventually(() => fleet.stats().byStatus.halted === 3, 5000, "three dark machines");
    await fleet.done;
    expect(formatSummary(fleet.stats(), null, 5)).toMatch(/^fleet: 3 agents \(3 dark\) · [\d.]+ check-ins\/s · 0 errors · rebooting 3$/);
  });

  it("spreads its start over the interval", async () => {
    const fleet = runFleet({ ...options(await tempDir(), [{ token: "enroll-me", count: 4 }]), intervalSeconds: 1, random: () => 0.75 });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(fake.machines.size).toBe(0);
    await eventually(() => fake.machines.size === 4, 5000, "the agents");
    await fleet.stop();
  });
});

describe("fleet groups", () => {
  it("reads ORCHARD_FLEET_TOKENS in order", () => {
    expect(fleetGroups({}, { ORCHARD_FLEET_TOKENS: "TOKEN1:5,TOKEN2:15,TOKEN3:30" })).toEqual([
      { token: "TOKEN1", count: 5 },
      { token: "TOKEN2", count: 15 },
      { token: "TOKEN3", count: 30 },
    ]);
  });

  it("takes --token or ORCHARD_FLEET_TOKEN with --agents otherwise; agents enrolled before need no token", () => {
    expect(fleetGroups({ token: "T", agents: 3 }, {})).toEqual([{ token: "T", count: 3 }]);
    expect(fleetGroups({ agents: 3 }, { ORCHARD_FLEET_TOKEN: "E" })).toEqual([{ token: "E", count: 3 }]);
    expect(fleetGroups({ agents: 3 }, { ORCHARD_FLEET_TOKENS: "", ORCHARD_FLEET_TOKEN: "" })).toEqual([{ token: null, count: 3 }]);
  });

  it("refuses bad pairs without echoing the token", () => {
    expect(() => fleetGroups({}, { ORCHARD_FLEET_TOKENS: "secret:5,othersecret" })).toThrow(
      /^ORCHARD_FLEET_TOKENS: pair 2 is not TOKEN:COUNT/,
    );
    expect(() => fleetGroups({}, { ORCHARD_FLEET_TOKENS: "secret:0" })).toThrow(/pair 1 is not/);
    expect(() => fleetGroups({ agents: 2 }, { ORCHARD_FLEET_TOKENS: "T:1" })).toThrow(/replaces --token and --agents/);
    expect(() => fleetGroups({}, {})).toThrow(/--agents: required/);
  });
});
