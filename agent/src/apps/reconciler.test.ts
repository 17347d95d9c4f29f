// The app reconciler's rules on the sim's apps (the real flatpak is in
// flatpak.test.ts), and the sim's apps themselves.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { agentEventSchema, type DesiredApp } from "../../../server/protocol/v1.ts";
import { SimBackend, type SimOptions, simMachineFile } from "../backends/sim.ts";
import { createLogger } from "../log.ts";
import { StateFile } from "../store.ts";
import { FACTORY, tempDir } from "../testing/test-agent.ts";
import { AppReconciler, type AppsStore, IDLE } from "./reconciler.ts";
import { appsRecordSchema, emptyApps } from "./state.ts";

const KIOSK = "app/org.example.Kiosk/x86_64/stable";
const SIGNAGE = "app/org.example.Signage/x86_64/stable";
const RUNTIME = "runtime/org.example.Platform/x86_64/1.0";
const never = new AbortController().signal;
const commit = (v: string) => v.repeat(64).slice(0, 64);
const fileSchema = z.object({ apps: appsRecordSchema, queue: z.array(agentEventSchema) });

function app(ref: string, version: string, extra: Partial<DesiredApp> = {}): DesiredApp {
  return {
    ref,
    remote: { name: "orchard", url: "https://apps.example.com/repo", gpgKey: null },
    commit: commit(version.replace(/\D/g, "") || "f"),
    version,
    reason: "test",
    allowDowngrade: false,
    ...extra,
  };
}

async function setup(sim: Partial<SimOptions> = {}, dir?: string) {
  const stateDir = dir ?? (await tempDir());
  const machine = await SimBackend.open({
    file: simMachineFile(stateDir),
    factory: FACTORY,
    stageSeconds: 0,
    rebootSeconds: 0,
    failRate: 0,
    failRelease: null,
    darkRate: 0,
    degradedRate: 0,
    fallbackRate: 0,
    appInstallSeconds: 0,
    ...sim,
  });
  const file = path.join(stateDir, "apps-state.json");
  const store: AppsStore = (await StateFile.open(file, fileSchema)) ?? (await StateFile.create(file, { apps: emptyApps(), queue: [] }));
  let changes = 0;
  const apps = new AppReconciler({
    driver: machine,
    checks: machine,
    store,
    log: createLogger("silent"),
    now: () => new Date(),
    timing: { graceSeconds: 0.05, checkRetrySeconds: 0.01 },
    changed: () => changes++,
  });
  const installed = async () => Object.fromEntries((await machine.list()).map((i) => [i.ref, i.commit]));
  const events = () => store.state.queue.map((e) => `${e.type} ${e.ref}`);
  return { stateDir, machine, store, apps, installed, events, changes: () => changes };
}

describe("app reconciler", { timeout: 30_000 }, () => {
  it("installs in order, updates, refuses a downgrade unless allowed, removes with the runtime", async () => {
    const { apps, store, installed, events, changes } = await setup();
    await apps.reconcile([app(KIOSK, "1"), app(SIGNAGE, "1")], never);
    expect(await installed()).toEqual({ [RUNTIME]: expect.any(String), [KIOSK]: commit("1"), [SIGNAGE]: commit("1") });
    expect(events()).toEqual([`app.installed ${KIOSK}`, `app.installed ${SIGNAGE}`]);
    expect(store.state.apps.runtimes).toEqual({ [RUNTIME]: [KIOSK, SIGNAGE] });
    expect(changes()).toBeGreaterThanOrEqual(6);

    await apps.reconcile([app(KIOSK, "2"), app(SIGNAGE, "1")], never);
    expect((await installed())[KIOSK]).toBe(commit("2"));
    expect(events().at(-1)).toBe(`app.updated ${KIOSK}`);

    await apps.reconcile([app(KIOSK, "1"), app(SIGNAGE, "1")], never);
    expect((await installed())[KIOSK]).toBe(commit("2"));
    expect(store.state.apps.apps[KIOSK]).toMatchObject({ state: "failed", targetCommit: commit("1") });
    expect(store.state.apps.failed).toEqual([{ ref: KIOSK, commit: commit("1"), downgrade: true }]);
    await apps.reconcile([app(KIOSK, "1", { allowDowngrade: true }), app(SIGNAGE, "1")], never);
    expect((await installed())[KIOSK]).toBe(commit("1"));
    expect(store.state.apps.failed).toEqual([]);

    // The runtime stays while the other app uses it, and goes with the last.
    await apps.reconcile([app(SIGNAGE, "1")], never);
    expect(Object.keys(await installed()).sort()).toEqual([SIGNAGE, RUNTIME].sort());
    await apps.reconcile([], never);
    expect(await installed()).toEqual({});
    expect(events().slice(-2)).toEqual([`app.removed ${KIOSK}`, `app.removed ${SIGNAGE}`]);
    expect(store.state.apps).toMatchObject({ managed: [], runtimes: {} });
  });

  it("rolls back an app release that fails its check, and does not try it again until the answer moves on", async () => {
    const { apps, store, installed, events } = await setup({ failAppRelease: "2" });
    await apps.reconcile([app(KIOSK, "1")], never);
    await apps.reconcile([app(KIOSK, "2")], never);
    expect((await installed())[KIOSK]).toBe(commit("1"));
    expect(store.state.apps.apps[KIOSK]).toMatchObject({ state: "rolled-back", targetCommit: commit("2"), previousCommit: commit("1") });
    expect(store.state.apps.apps[KIOSK].error).toMatch(/org.example.Kiosk: running failed: .*exited with status 1 \(release 2\)/);
    expect(events()).toEqual([`app.installed ${KIOSK}`, `app.rolled-back ${KIOSK}`]);
    await apps.reconcile([app(KIOSK, "2")], never);
    expect(events()).toHaveLength(2);
    // Asked for 1, where it went back to (a paused rollout's ring release): the rollback stays the report.
    await apps.reconcile([app(KIOSK, "1")], never);
    expect(store.state.apps.apps[KIOSK]).toMatchObject({ state: "rolled-back", targetCommit: commit("2"), previousCommit: commit("1") });
    expect(events()).toHaveLength(2);
    // The console moves on (to 3), then asks for 2 again: it is tried anew.
    await apps.reconcile([app(KIOSK, "3")], never);
    expect((await installed())[KIOSK]).toBe(commit("3"));
    expect(store.state.apps.failed).toEqual([]);
  });

  it("leaves an app it did not install alone, and reports it unmanaged", async () => {
    const { apps, machine, store, installed } = await setup();
    await machine.ensureRemote({ name: "vendor", url: "https://vendor.example.com", gpgKey: null });
    await machine.install("vendor", SIGNAGE, { commit: commit("7"), version: "7" }, never);
    await apps.reconcile([app(SIGNAGE, "8")], never);
    expect((await installed())[SIGNAGE]).toBe(commit("7"));
    expect(store.state.apps.apps[SIGNAGE].error).toMatch(/installed outside Orchard/);
    await apps.reconcile([], never);
    expect((await installed())[SIGNAGE]).toBe(commit("7"));
    const report = await apps.report(never);
    expect(report.find((a) => a.ref === SIGNAGE)).toMatchObject({ managed: false, origin: "vendor" });
    expect(report.find((a) => a.ref === RUNTIME)).toMatchObject({ managed: false });
  });

  it("keeps a runtime it brought while an app not Orchard's uses it", async () => {
    const { apps, machine, store, installed } = await setup();
    await apps.reconcile([app(KIOSK, "1")], never);
    expect(store.state.apps.runtimes).toEqual({ [RUNTIME]: [KIOSK] });
    await machine.install("orchard", SIGNAGE, { commit: commit("7"), version: "7" }, never);
    await apps.reconcile([], never);
    expect(Object.keys(await installed()).sort()).toEqual([SIGNAGE, RUNTIME].sort());
    expect(store.state.apps.runtimes).toEqual({});
    expect((await apps.report(never)).find((a) => a.ref === RUNTIME)).toMatchObject({ managed: false });
  });

  it("changes nothing without `apps` in the answer, and remembers that a console sent them", async () => {
    const { apps, store, installed } = await setup();
    await apps.follow(undefined, never);
    await apps.settled();
    expect(store.state.apps.consoleSentApps).toBe(false);
    await apps.follow([app(KIOSK, "1")], never);
    expect(store.state.apps.consoleSentApps).toBe(true);
    await apps.settled();
    expect((await installed())[KIOSK]).toBe(commit("1"));
  });

  it("works in the background and takes the newest answer after the change under way", async () => {
    const { apps, installed } = await setup({ appInstallSeconds: 0.2 });
    await apps.follow([app(KIOSK, "1")], never);
    expect(apps.busy).toBe(true);
    await apps.follow([app(KIOSK, "2")], never);
    await apps.follow([app(KIOSK, "3")], never);
    await apps.settled();
    expect((await installed())[KIOSK]).toBe(commit("3"));
  });

  it("reports an app whose install is under way with no commit, and keeps the report to 64 entries", async () => {
    const { apps, store } = await setup({ appInstallSeconds: 5 });
    const stop = new AbortController();
    const under = apps.reconcile([app(KIOSK, "1")], stop.signal);
    await expect.poll(() => store.state.apps.apps[KIOSK]?.state).toBe("downloading");
    expect((await apps.report(never)).find((a) => a.ref === KIOSK)).toMatchObject({
      commit: null,
      managed: true,
      update: { state: "downloading", targetCommit: commit("1") },
    });
    stop.abort(new Error("stopped"));
    await expect(under).rejects.toThrow();
  });
});

describe("app reconciler after a restart", { timeout: 30_000 }, () => {
  it("finishes going back after a stop in the middle of it, without trying the failed release again", async () => {
    const first = await setup({ failAppRelease: "2", appInstallSeconds: 0.3 });
    await first.apps.reconcile([app(KIOSK, "1")], never);
    const stop = new AbortController();
    const under = first.apps.reconcile([app(KIOSK, "2")], stop.signal);
    await expect.poll(() => first.store.state.apps.apps[KIOSK]?.reverting, { timeout: 10_000 }).toBe(true);
    stop.abort(new Error("stopped"));
    await expect(under).rejects.toThrow();
    expect((await first.installed())[KIOSK]).toBe(commit("2"));

    const again = await setup({ failAppRelease: "2", appInstallSeconds: 0.3 }, first.stateDir);
    const states: string[] = [];
    const apps = new AppReconciler({
      driver: again.machine,
      checks: again.machine,
      store: again.store,
      log: createLogger("silent"),
      now: () => new Date(),
      changed: () => states.push(again.store.state.apps.apps[KIOSK]?.state ?? "none"),
    });
    await apps.reconcile([app(KIOSK, "2")], never);
    expect((await again.installed())[KIOSK]).toBe(commit("1"));
    expect(again.store.state.apps.apps[KIOSK]).toMatchObject({ state: "rolled-back", reverting: false, targetCommit: commit("2") });
    expect(again.store.state.apps.apps[KIOSK].error).toMatch(/release 2/);
    expect(states).toEqual(["rolled-back"]);
    expect(again.events()).toEqual([`app.installed ${KIOSK}`, `app.rolled-back ${KIOSK}`]);
  });

  it("counts a runtime that a first install brought before a stop as Orchard's", async () => {
    const first = await setup({ appInstallSeconds: 0 });
    // The state a stop right after the install leaves: the app and its runtime on disk, the record still downloading.
    await first.store.update((s) => {
      s.apps.managed.push(KIOSK);
      s.apps.apps[KIOSK] = { ...IDLE, state: "downloading", targetCommit: commit("1") };
    });
    await first.machine.ensureRemote({ name: "orchard", url: "https://apps.example.com/repo", gpgKey: null });
    await first.machine.install("orchard", KIOSK, { commit: commit("1"), version: "1" }, never);
    const again = await setup({}, first.stateDir);
    await again.apps.reconcile([app(KIOSK, "1")], never);
    expect(again.store.state.apps.apps[KIOSK]).toMatchObject({ state: "succeeded" });
    expect(again.store.state.apps.runtimes).toEqual({ [RUNTIME]: [KIOSK] });
    await again.apps.reconcile([], never);
    expect(await again.installed()).toEqual({});
  });
});

describe("sim apps", { timeout: 30_000 }, () => {
  it("keeps its apps across restarts, orders releases by version, and refuses to remove a runtime in use", async () => {
    const { machine, stateDir } = await setup();
    await machine.ensureRemote({ name: "orchard", url: "https://apps.example.com/repo", gpgKey: null });
    await expect(machine.install("elsewhere", KIOSK, { commit: commit("1"), version: "1" }, never)).rejects.toThrow(/No remote elsewhere/);
    await machine.install("orchard", KIOSK, { commit: commit("2"), version: "2.0" }, never);
    expect(await machine.isOlder("orchard", KIOSK, { commit: commit("1"), version: "1.9" }, commit("2"))).toBe(true);
    expect(await machine.isOlder("orchard", KIOSK, { commit: commit("3"), version: "2.1" }, commit("2"))).toBe(false);
    await expect(machine.uninstall(RUNTIME)).rejects.toThrow(/needed by the installed app/);
    const again = (await setup({}, stateDir)).machine;
    expect((await again.list()).map((i) => `${i.ref} ${i.runtime}`)).toEqual([`${RUNTIME} null`, `${KIOSK} ${RUNTIME}`]);
  });

  it("fails the app check of the chosen release, by version or by commit", async () => {
    const byVersion = (await setup({ failAppRelease: "2.0" })).machine;
    await byVersion.ensureRemote({ name: "orchard", url: "u", gpgKey: null });
    await byVersion.install("orchard", KIOSK, { commit: commit("2"), version: "2.0" }, never);
    expect((await byVersion.appHealth({ ref: KIOSK, commit: commit("2") })).status).toBe("unhealthy");
    expect((await byVersion.appHealth({ ref: KIOSK, commit: commit("3") })).status).toBe("healthy");
    const byCommit = (await setup({ failAppRelease: commit("3") })).machine;
    expect((await byCommit.appHealth({ ref: KIOSK, commit: commit("3") })).checks[0]).toMatchObject({ status: "fail" });
  });

  it("fails the app check of a release new to the machine by failAppRate, for good on that machine", async () => {
    const always = (await setup({ failAppRate: 1 })).machine;
    await always.ensureRemote({ name: "orchard", url: "u", gpgKey: null });
    await always.install("orchard", KIOSK, { commit: commit("2"), version: "2" }, never);
    expect((await always.appHealth({ ref: KIOSK, commit: commit("2") })).status).toBe("unhealthy");
    const never0 = (await setup({ failAppRate: 0 })).machine;
    await never0.ensureRemote({ name: "orchard", url: "u", gpgKey: null });
    await never0.install("orchard", KIOSK, { commit: commit("2"), version: "2" }, never);
    expect((await never0.appHealth({ ref: KIOSK, commit: commit("2") })).status).toBe("healthy");
  });
});
