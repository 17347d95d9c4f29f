// The agent's apps against a console over HTTP (protocol 1.2): no `apps` in
// check-ins until the console sends some, then the inventory with each app's
// state, app events with their ref, and app work that never holds up the OS
// update or the check-ins.
import { describe, expect, it } from "vitest";
import type { DesiredApp } from "../../../server/protocol/v1.ts";
import { fitBody } from "../agent.ts";
import { eventually, type FakeConsole } from "../testing/fake-console.ts";
import { fakeConsoleSuite, stateOnDisk } from "../testing/fake-console-suite.ts";
import { release } from "../testing/test-agent.ts";

const KIOSK = "app/org.example.Kiosk/x86_64/stable";
const NEXT = release("2026.11.1");
const commit = (v: string) => v.repeat(64).slice(0, 64);
const kiosk = (v: string): DesiredApp => ({
  ref: KIOSK,
  remote: { name: "orchard", url: "https://apps.example.com/repo", gpgKey: null },
  commit: commit(v),
  version: v,
  reason: `rollout kiosk ${v}`,
  allowDowngrade: false,
});

let fake: FakeConsole;
const { start } = fakeConsoleSuite((f) => {
  fake = f;
});
const machine = () => fake.machine("test-0001");
const kioskIn = (c = machine().checkins.at(-1)) => c?.apps?.find((a) => a.ref === KIOSK);
const appEvents = () => machine().events.filter((e) => e.type.startsWith("app.")).map((e) => `${e.type} ${e.ref} ${e.checksum?.[0]}`);

describe("agent apps against a console", () => {
  it("reports apps only after the console sent some, follows the app set, and rolls back a failing release", async () => {
    const agent = await start({ sim: { appInstallSeconds: 0.05, failAppRelease: "3" }, apps: { graceSeconds: 0.2, checkRetrySeconds: 0.02 } });
    await eventually(() => machine().checkins.length >= 3, 10_000, "check-ins");
    expect(machine().checkins.every((c) => c.apps === undefined)).toBe(true);

    let apps: DesiredApp[] | undefined = [kiosk("1")];
    fake.answerExtras = () => (apps === undefined ? {} : { apps });
    const installed = await eventually(() => kioskIn()?.update?.state === "succeeded" && kioskIn(), 20_000, "kiosk installed");
    expect(installed).toMatchObject({ commit: commit("1"), origin: "orchard", managed: true, update: { targetCommit: commit("1"), error: null } });
    expect(installed.health).toMatchObject({ status: "healthy", checks: [{ name: "org.example.Kiosk: running", status: "pass" }] });
    expect(machine().checkins.at(-1)?.apps?.find((a) => a.ref.startsWith("runtime/"))).toMatchObject({ managed: true, update: null });
    await eventually(() => appEvents().includes(`app.installed ${KIOSK} 1`), 10_000, "app.installed");
    expect(stateOnDisk(agent).apps.consoleSentApps).toBe(true);

    apps = [kiosk("3")];
    const rolledBack = await eventually(() => kioskIn()?.update?.state === "rolled-back" && kioskIn(), 20_000, "kiosk rolled back");
    expect(rolledBack).toMatchObject({ commit: commit("1"), update: { targetCommit: commit("3") } });
    expect(rolledBack.update?.error).toContain("exited with status 1 (release 3)");
    await eventually(() => appEvents().includes(`app.rolled-back ${KIOSK} 3`), 10_000, "app.rolled-back");

    // An answer without apps changes nothing; the check-ins still report them.
    apps = undefined;
    const seen = machine().checkins.length;
    await eventually(() => machine().checkins.length >= seen + 3, 10_000, "more check-ins");
    expect(kioskIn()).toMatchObject({ commit: commit("1"), managed: true });

    apps = [];
    await eventually(() => kioskIn() === undefined && machine().checkins.at(-1)?.apps, 20_000, "kiosk removed");
    await eventually(() => appEvents().includes(`app.removed ${KIOSK} 1`), 10_000, "app.removed");
  }, 60_000);

  it("keeps checking in and updates the OS while an app installs", async () => {
    fake.desired = NEXT;
    fake.answerExtras = () => ({ apps: [kiosk("1")] });
    await start({ sim: { appInstallSeconds: 4 }, apps: { graceSeconds: 0.2, checkRetrySeconds: 0.02 } });
    // The OS update runs its whole course (stage, reboot, verify) while the app is still downloading.
    const done = await eventually(() => machine().checkins.find((c) => c.update.state === "succeeded"), 20_000, "OS update done");
    expect(done.deployments.find((d) => d.booted)?.checksum).toBe(NEXT.checksum);
    const downloading = machine().checkins.filter((c) => kioskIn(c)?.update?.state === "downloading");
    expect(downloading.length).toBeGreaterThanOrEqual(2);
    expect(kioskIn(done)?.update?.state).toBe("downloading");
    await eventually(() => kioskIn()?.update?.state === "succeeded", 20_000, "kiosk installed");
  }, 60_000);
});

describe("fitBody", () => {
  it("trims check outputs, then the apps' checks, so that 64 apps with long outputs fit 64 KiB", () => {
    const long = "x".repeat(4000);
    const checks = Array.from({ length: 16 }, (_, i) => ({ name: `check-${i}`, status: "fail" as const, output: long }));
    const body = {
      seq: 1,
      sentAt: new Date().toISOString(),
      bootId: null,
      agentVersion: "test",
      deployments: [],
      update: { state: "idle" as const, targetChecksum: null, progress: null, error: null },
      health: { status: "unhealthy" as const, checks: checks.map((c) => ({ ...c, output: "y".repeat(500) })) },
      apps: Array.from({ length: 64 }, (_, i) => ({
        ref: `app/org.example.App${i}/x86_64/stable`,
        commit: commit("a"),
        origin: "orchard",
        managed: true,
        update: { state: "rolled-back" as const, targetCommit: commit("b"), error: long },
        health: { status: "unhealthy" as const, checks },
      })),
    };
    const fitted = fitBody(body);
    expect(Buffer.byteLength(JSON.stringify(fitted))).toBeLessThanOrEqual(64 * 1024);
    expect(fitted.apps).toHaveLength(64);
    expect(fitted.apps?.[0].update?.state).toBe("rolled-back");
    const small = { ...body, apps: body.apps.slice(0, 1).map((a) => ({ ...a, health: { ...a.health, checks: checks.slice(0, 2) } })) };
    expect(fitBody(small)).toBe(small);
  });
});
