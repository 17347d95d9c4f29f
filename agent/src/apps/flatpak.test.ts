// The app reconciler with the real `flatpak`, in a throwaway user
// installation, from a repository built here: install, update to an exact
// commit, a refused and an allowed downgrade, a failing app check rolled
// back, a restart in the middle of a change, an app not Orchard's left
// alone, and a removal with the runtime it brought.
import { existsSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { agentEventSchema, type DesiredApp } from "../../../server/protocol/v1.ts";
import { type CommandOptions, runCommand } from "../command.ts";
import { createLogger } from "../log.ts";
import { StateFile } from "../store.ts";
import { FlatpakLab, keyBase64, skipWithoutFlatpak } from "../testing/flatpak-lab.ts";
import { eventually, FakeConsole } from "../testing/fake-console.ts";
import { makeGpgKey, OstreeLab, skipWithoutOstree } from "../testing/ostree-lab.ts";
import { spawnAgentCommand, startTestAgent } from "../testing/test-agent.ts";
import { AppHealth } from "./app-health.ts";
import type { AppDriver } from "./driver.ts";
import { FlatpakDriver, parseLog } from "./flatpak.ts";
import { AppReconciler, type AppsStore } from "./reconciler.ts";
import { appsRecordSchema, emptyApps } from "./state.ts";

const KIOSK = "app/org.example.Kiosk/x86_64/stable";
const OTHER = "app/org.example.Other/x86_64/stable";
const PLATFORM = "runtime/org.example.Platform/x86_64/1.0";
const OTHER_PLATFORM = "runtime/org.example.OtherPlatform/x86_64/1.0";

const bin = path.resolve(import.meta.dirname, "../../../bin/orchard-agent.js");
const fileSchema = z.object({ apps: appsRecordSchema, queue: z.array(agentEventSchema) });

let lab: FlatpakLab;
let gpgKey: string;
const commits: string[] = [];
let other: string;

beforeAll(async () => {
  if (skipWithoutFlatpak) return;
  lab = await FlatpakLab.create();
  gpgKey = await lab.gpgKeyBase64();
  await lab.runtime("org.example.Platform");
  await lab.runtime("org.example.OtherPlatform");
  for (const v of ["v1", "v2", "v3"]) commits.push(await lab.app("org.example.Kiosk", PLATFORM, v));
  other = await lab.app("org.example.Other", OTHER_PLATFORM, "other-1");
}, 180_000);

async function openStore(file: string): Promise<AppsStore> {
  return (await StateFile.open(file, fileSchema)) ?? StateFile.create(file, { apps: emptyApps(), queue: [] });
}

function reconcilerOn(driver: AppDriver, store: AppsStore, checksDir: string, retryBaseSeconds = 0.01) {
  return new AppReconciler({
    driver,
    checks: new AppHealth({ checksDir, probes: {}, timeoutSeconds: 30, run: runCommand }),
    store,
    log: createLogger(process.env.AGENT_TEST_LOG ? "debug" : "silent"),
    now: () => new Date(),
    timing: { graceSeconds: 0.5, checkRetrySeconds: 0.1, retryBaseSeconds },
  });
}

const kiosk = (commit: string, extra: Partial<DesiredApp> = {}): DesiredApp => ({
  ref: KIOSK,
  remote: { name: "orchard-kiosk", url: lab.url, gpgKey },
  commit,
  version: `v${commits.indexOf(commit) + 1}`,
  reason: "test",
  allowDowngrade: false,
  ...extra,
});

const never = new AbortController().signal;

describe.skipIf(skipWithoutFlatpak)("apps with the real flatpak", () => {
  it("installs, updates to an exact commit, refuses a downgrade unless allowed, rolls a failing check back, and removes", async () => {
    const [c1, c2, c3] = commits;
    const { dir, driver, flatpak } = await lab.installation();
    const stateFile = path.join(dir, "state", "state.json");
    const checksDir = path.join(dir, "app-check");
    const store = await openStore(stateFile);
    const apps = reconcilerOn(driver, store, checksDir);
    const active = async (ref: string) => (await driver.list(never)).find((i) => i.ref === ref)?.commit;
    const events = () => store.state.queue.map((e) => `${e.type} ${e.ref} ${e.checksum?.slice(0, 12)}`);

    // An app installed outside Orchard, from a remote of its own.
    await flatpak(["remote-add", "--no-gpg-verify", "local", lab.url]);
    await flatpak(["install", "-y", "--noninteractive", "local", OTHER]);

    // Install at an exact commit (not the branch's head), with the remote and its key added.
    await apps.reconcile([kiosk(c1)], never);
    expect(await active(KIOSK)).toBe(c1);
    expect(store.state.apps.apps[KIOSK]).toMatchObject({ state: "succeeded", targetCommit: c1, previousCommit: null });
    expect(store.state.apps.managed).toEqual([KIOSK]);
    expect(Object.keys(store.state.apps.runtimes)).toEqual([PLATFORM]);
    expect(await flatpak(["remotes", "--columns=name,options"])).toMatch(/orchard-kiosk/);
    expect(events()).toEqual([`app.installed ${KIOSK} ${c1.slice(0, 12)}`]);

    const report = await apps.report(never);
    expect(report.find((a) => a.ref === KIOSK)).toMatchObject({ commit: c1, origin: "orchard-kiosk", managed: true, update: { state: "succeeded" } });
    expect(report.find((a) => a.ref === PLATFORM)).toMatchObject({ managed: true, update: null });
    expect(report.find((a) => a.ref === OTHER)).toMatchObject({ commit: other, origin: "local", managed: false });
    expect(report.find((a) => a.ref === OTHER_PLATFORM)).toMatchObject({ managed: false });

    // Update to an exact commit.
    await apps.reconcile([kiosk(c2)], never);
    expect(await active(KIOSK)).toBe(c2);
    expect(events().at(-1)).toBe(`app.updated ${KIOSK} ${c2.slice(0, 12)}`);

    // An older commit without allowDowngrade: refused, and not tried again while the answer names it.
    await apps.reconcile([kiosk(c1)], never);
    expect(await active(KIOSK)).toBe(c2);
    expect(store.state.apps.apps[KIOSK]).toMatchObject({ state: "failed", targetCommit: c1 });
    expect(store.state.apps.apps[KIOSK].error).toMatch(/older than the active commit.*allowDowngrade/);
    const refused = store.state.queue.length;
    await apps.reconcile([kiosk(c1)], never);
    expect(store.state.queue.length).toBe(refused);
    expect(events().at(-1)).toBe(`app.failed ${KIOSK} ${c1.slice(0, 12)}`);

    // With allowDowngrade it is taken.
    await apps.reconcile([kiosk(c1, { allowDowngrade: true })], never);
    expect(await active(KIOSK)).toBe(c1);
    expect(store.state.apps.apps[KIOSK]).toMatchObject({ state: "succeeded", targetCommit: c1, previousCommit: c2 });

    // A required check that fails for c3: back to c1 when the grace ends, with the output reported.
    const required = path.join(checksDir, "org.example.Kiosk", "required.d");
    await mkdir(required, { recursive: true });
    const script = path.join(required, "10-kiosk");
    await writeFile(script, `#!/bin/sh\nif [ "$ORCHARD_APP_COMMIT" = "${c3}" ]; then echo "kiosk answers 500 on $ORCHARD_APP_ID"; exit 1; fi\necho ok\n`);
    await chmod(script, 0o755);
    await apps.reconcile([kiosk(c3)], never);
    expect(await active(KIOSK)).toBe(c1);
    const rolledBack = store.state.apps.apps[KIOSK];
    expect(rolledBack).toMatchObject({ state: "rolled-back", targetCommit: c3, previousCommit: c1 });
    expect(rolledBack.error).toContain("required.d/10-kiosk");
    expect(rolledBack.error).toContain("kiosk answers 500 on org.example.Kiosk");
    expect(rolledBack.health?.status).toBe("unhealthy");
    expect(events().at(-1)).toBe(`app.rolled-back ${KIOSK} ${c3.slice(0, 12)}`);
    expect(store.state.queue.at(-1)?.detail).toContain("kiosk answers 500");
    const reported = (await apps.report(never)).find((a) => a.ref === KIOSK);
    expect(reported).toMatchObject({ commit: c1, update: { state: "rolled-back", targetCommit: c3 } });
    expect(reported?.health?.checks[0]).toMatchObject({ name: "required.d/10-kiosk", status: "fail" });
    // Not tried again while the answer names it.
    const count = store.state.queue.length;
    await apps.reconcile([kiosk(c3)], never);
    expect(await active(KIOSK)).toBe(c1);
    expect(store.state.queue.length).toBe(count);

    // The console lists the app not Orchard's: it is left alone (reported failed once).
    await apps.reconcile([kiosk(c1), { ...kiosk(other), ref: OTHER, version: null }], never);
    expect(await active(OTHER)).toBe(other);
    expect(store.state.apps.apps[OTHER]).toMatchObject({ state: "failed" });
    expect(store.state.apps.apps[OTHER].error).toMatch(/installed outside Orchard/);

    // No longer listed: uninstalled with the runtime it brought; the other app and its runtime stay.
    await apps.reconcile([], never);
    const left = (await driver.list(never)).map((i) => i.ref).sort();
    expect(left).toEqual([OTHER, OTHER_PLATFORM].sort());
    expect(store.state.apps.managed).toEqual([]);
    expect(store.state.apps.runtimes).toEqual({});
    expect(events().at(-1)).toBe(`app.removed ${KIOSK} ${c1.slice(0, 12)}`);
    // A first install that fails its check is uninstalled again.
    await writeFile(script, "#!/bin/sh\necho broken; exit 1\n");
    await apps.reconcile([kiosk(c2)], never);
    expect((await driver.list(never)).map((i) => i.ref).sort()).toEqual([OTHER, OTHER_PLATFORM].sort());
    expect(store.state.apps.apps[KIOSK]).toMatchObject({ state: "rolled-back", previousCommit: null });
    expect(store.state.apps.managed).toEqual([]);
  }, 240_000);

  it("resumes after a crash between the update and its write, and during the app's checks", async () => {
    const [c1, c2, c3] = commits;
    // Dies (as the process would) right after `flatpak update` succeeded, before the agent wrote anything.
    const crash = new AbortController();
    const crashing = async (file: string, args: readonly string[], options?: CommandOptions) => {
      const result = await runCommand(file, args, options);
      if (args[0] === "update" && args.includes(`--commit=${c2}`)) {
        crash.abort(new Error("power cut"));
        throw crash.signal.reason;
      }
      return result;
    };
    const { dir, env, driver: dying } = await lab.installation(crashing);
    const driver = new FlatpakDriver({ installation: "user", run: runCommand, commandTimeoutSeconds: 120, env });
    const stateFile = path.join(dir, "state", "state.json");
    const checksDir = path.join(dir, "app-check");
    const first = reconcilerOn(dying, await openStore(stateFile), checksDir);
    await first.reconcile([kiosk(c1)], never);
    await expect(first.reconcile([kiosk(c2)], crash.signal)).rejects.toThrow("power cut");
    expect(await driver.list(never).then((l) => l.find((i) => i.ref === KIOSK)?.commit)).toBe(c2);

    // A new process: the state on disk says downloading c2 from c1; it verifies and finishes.
    let store = await openStore(stateFile);
    expect(store.state.apps.apps[KIOSK]).toMatchObject({ state: "downloading", targetCommit: c2, previousCommit: c1 });
    await reconcilerOn(driver, store, checksDir).reconcile([kiosk(c2)], never);
    expect(store.state.apps.apps[KIOSK]).toMatchObject({ state: "succeeded", targetCommit: c2, previousCommit: c1 });
    expect(store.state.queue.at(-1)).toMatchObject({ type: "app.updated", ref: KIOSK, checksum: c2 });

    // Stopped while the checks of c3 wait for it: the restart keeps verifying, and the grace's end rolls back to c2.
    const required = path.join(checksDir, "org.example.Kiosk", "required.d");
    await mkdir(required, { recursive: true });
    const started = path.join(dir, "check-started");
    await writeFile(path.join(required, "10-wait"), `#!/bin/sh\ntouch ${started}\nsleep 60\n`, { mode: 0o755 });
    const stop = new AbortController();
    const second = reconcilerOn(driver, store, checksDir);
    const under = second.reconcile([kiosk(c3)], stop.signal);
    await expect.poll(() => existsSync(started), { timeout: 60_000 }).toBe(true);
    stop.abort(new Error("stopped"));
    await expect(under).rejects.toThrow();
    await writeFile(path.join(required, "10-wait"), "#!/bin/sh\necho still broken; exit 1\n", { mode: 0o755 });
    store = await openStore(stateFile);
    expect(store.state.apps.apps[KIOSK]).toMatchObject({ state: "verifying", targetCommit: c3, previousCommit: c2 });
    await reconcilerOn(driver, store, checksDir).reconcile([kiosk(c3)], never);
    expect(await driver.list(never).then((l) => l.find((i) => i.ref === KIOSK)?.commit)).toBe(c2);
    expect(store.state.apps.apps[KIOSK]).toMatchObject({ state: "rolled-back", targetCommit: c3, previousCommit: c2 });
    expect(store.state.apps.apps[KIOSK].error).toContain("still broken");
  }, 240_000);

  it("reads the history newest first and tells an older commit", async () => {
    const [c1, c2, c3] = commits;
    const { driver, env } = await lab.installation();
    await driver.ensureRemote({ name: "orchard-kiosk", url: lab.url, gpgKey }, never);
    await driver.install("orchard-kiosk", KIOSK, { commit: c2, version: null }, never);
    expect(await driver.isOlder("orchard-kiosk", KIOSK, { commit: c1, version: null }, c2, never)).toBe(true);
    expect(await driver.isOlder("orchard-kiosk", KIOSK, { commit: c3, version: null }, c2, never)).toBe(false);
    const log = (await runCommand("flatpak", ["remote-info", "--log", "--user", "orchard-kiosk", KIOSK], { env })).stdout;
    expect(parseLog(log)).toEqual([c3, c2, c1]);
    // A moved remote: its URL follows the answer.
    await driver.ensureRemote({ name: "orchard-kiosk", url: `${lab.url}/`, gpgKey }, never);
    const remotes = (await runCommand("flatpak", ["remotes", "--user", "--columns=name,url"], { env })).stdout;
    expect(remotes).toContain(`orchard-kiosk\t${lab.url}/`);
  }, 120_000);

  it("reports a failed install with flatpak's reason, and waits its backoff before trying again", async () => {
    const { dir, driver } = await lab.installation();
    const store = await openStore(path.join(dir, "state", "state.json"));
    const apps = reconcilerOn(driver, store, path.join(dir, "app-check"), 3600);
    const nowhere = { ...kiosk(commits[0]), remote: { name: "nowhere", url: `file://${dir}/no-such-repo`, gpgKey: null } };
    await apps.reconcile([nowhere], never);
    const failed = store.state.apps.apps[KIOSK];
    expect(failed).toMatchObject({ state: "failed", targetCommit: commits[0], attempts: 1 });
    expect(failed.error).toMatch(/^installing app\/org.example.Kiosk\/x86_64\/stable v1 \([0-9a-f]{12}\) failed: flatpak /);
    expect(new Date(failed.retryAt!).getTime()).toBeGreaterThan(Date.now() + 1000_000);
    expect(store.state.queue.map((e) => e.type)).toEqual(["app.failed"]);
    await apps.reconcile([nowhere], never);
    expect(store.state.queue.map((e) => e.type)).toEqual(["app.failed"]);
    expect(await driver.list(never)).toEqual([]);
    expect((await apps.report(never)).find((a) => a.ref === KIOSK)).toMatchObject({ commit: null, managed: true, update: { state: "failed" } });
  }, 120_000);

  it("refuses commits not signed by the remote's key", async () => {
    const stranger = await keyBase64(await makeGpgKey("stranger"));
    const { driver } = await lab.installation();
    // flatpak checks the repository's signed summary as the remote is added.
    await expect(driver.ensureRemote({ name: "orchard-kiosk", url: lab.url, gpgKey: stranger }, never)).rejects.toThrow(/signature/i);
    await expect(driver.install("orchard-kiosk", KIOSK, { commit: commits[0], version: null }, never)).rejects.toThrow();
    expect(await driver.list(never)).toEqual([]);
  }, 120_000);

  it("an agent checks in its real Flatpak apps to a console over HTTP and follows the answer's app set", async () => {
    const [c1, c2] = commits;
    const fake = await FakeConsole.start();
    const { dir, driver } = await lab.installation();
    const agent = await startTestAgent(fake, {
      agent: {
        apps: {
          driver,
          checks: new AppHealth({ checksDir: path.join(dir, "app-check"), probes: {}, timeoutSeconds: 30, run: runCommand }),
          timing: { graceSeconds: 0.2, checkRetrySeconds: 0.05 },
        },
      },
    });
    try {
      const machine = () => fake.machine("test-0001");
      const kioskIn = () => machine().checkins.at(-1)?.apps?.find((a) => a.ref === KIOSK);
      let apps = [kiosk(c1)];
      fake.answerExtras = () => ({ apps });
      await eventually(() => kioskIn()?.commit === c1 && kioskIn()?.update?.state === "succeeded", 60_000, "kiosk on c1");
      expect(machine().checkins.at(-1)?.apps?.find((a) => a.ref === PLATFORM)).toMatchObject({ managed: true, origin: "orchard-kiosk" });
      apps = [kiosk(c2)];
      await eventually(() => kioskIn()?.commit === c2 && kioskIn()?.update?.state === "succeeded", 60_000, "kiosk on c2");
      await eventually(() => machine().events.some((e) => e.type === "app.updated" && e.ref === KIOSK && e.checksum === c2), 10_000, "app.updated");
    } finally {
      await agent.stop();
      await fake.close();
    }
  }, 180_000);

  it.skipIf(skipWithoutOstree)("orchard-agent run (ostree backend) keeps the apps of its Flatpak installation", async () => {
    const c2 = commits[1];
    const ostree = await OstreeLab.create();
    const booted = await ostree.commit("2026.10.3", "2026-10-28 14:40:11");
    const fake = await FakeConsole.start();
    const { dir, env, driver } = await lab.installation();
    const configFile = path.join(dir, "agent.json");
    await writeFile(
      configFile,
      JSON.stringify({
        server: fake.url,
        enrollmentToken: "enroll-me",
        stateDir: path.join(dir, "state"),
        machineId: "flatpak-1",
        backend: "ostree",
        reboot: "marker",
        ostree: { sysroot: await ostree.sysroot(booted) },
        health: { checksDir: path.join(dir, "check"), failedUnits: "ignore" },
        apps: { installation: "user", checksDir: path.join(dir, "app-check"), graceSeconds: 0.5 },
      }),
    );
    fake.answerExtras = () => ({ apps: [kiosk(c2)] });
    const agent = spawnAgentCommand(bin, ["run"], { ORCHARD_AGENT_CONFIG: configFile, FLATPAK_USER_DIR: env.FLATPAK_USER_DIR! });
    try {
      const kioskIn = () => fake.machines.get("flatpak-1")?.checkins.at(-1)?.apps?.find((a) => a.ref === KIOSK);
      await eventually(() => kioskIn()?.update?.state === "succeeded", 90_000, "kiosk installed by the agent process");
      expect(kioskIn()).toMatchObject({ commit: c2, origin: "orchard-kiosk", managed: true });
      expect((await driver.list(never)).find((i) => i.ref === KIOSK)?.commit).toBe(c2);
    } finally {
      agent.child.kill("SIGTERM");
      const stopped = await agent.done;
      await fake.close();
      expect(stopped.code).toBe(0);
    }
  }, 180_000);
});
