// The ostree backend against the real `ostree` on sysroots in temp folders.
import { existsSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCommand } from "../command.ts";
import { ConfigError } from "../config.ts";
import { adminStatusOf, dropGpgKey, type GpgKey, makeGpgKey, OstreeLab, REF, type Release, skipWithoutOstree } from "../testing/ostree-lab.ts";
import { tempDir } from "../testing/test-agent.ts";
import { OstreeBackend, type OstreeOptions, REBOOT_MARKER_FILE } from "./ostree.ts";

const never = new AbortController().signal;

let lab: OstreeLab;
let old: Release;
let current: Release;
let next: Release;

async function open(sysroot: string, stateDir: string, options: Partial<OstreeOptions> = {}) {
  return OstreeBackend.open({ sysroot, stateDir, reboot: "marker", run: runCommand, ...options });
}

async function machine() {
  const sysroot = await lab.sysroot(current);
  const stateDir = await tempDir();
  return { sysroot, stateDir, backend: await open(sysroot, stateDir) };
}

/** The simulated reboot: the marker is written, the agent "goes down" (aborted), and the next start boots. */
async function reboot(backend: OstreeBackend, sysroot: string, stateDir: string) {
  const down = new AbortController();
  const rebooting = backend.reboot(down.signal);
  await expect.poll(() => existsSync(path.join(stateDir, REBOOT_MARKER_FILE))).toBe(true);
  down.abort();
  await expect(rebooting).rejects.toThrow();
  const after = await open(sysroot, stateDir);
  expect(existsSync(path.join(stateDir, REBOOT_MARKER_FILE))).toBe(false);
  return after;
}

const summary = async (backend: OstreeBackend) =>
  (await backend.status()).deployments.map(
    (d) => `${d.version}${d.booted ? " booted" : ""}${d.staged ? " staged" : ""}${d.pinned ? " pinned" : ""}`,
  );

/** Another major stream of the same OS, in the same repository. */
const NEXT_MAJOR = "exampleos/x86_64/next";

describe.skipIf(skipWithoutOstree)("ostree backend on a real sysroot", () => {
  beforeAll(async () => {
    lab = await OstreeLab.create();
    old = await lab.commit("2026.09.2", "2026-09-21 11:03:52");
    current = await lab.commit("2026.10.3", "2026-10-28 14:40:11");
    next = await lab.commit("2026.11.1", "2026-11-24 09:12:44");
  });

  it("reports the deployments exactly as ostree admin status lists them", async () => {
    const { sysroot, backend } = await machine();
    await backend.stage({ ref: REF, ...next }, () => {}, never);
    await backend.pin(current.checksum, true);
    const listed = await adminStatusOf(sysroot);
    const status = await backend.status();
    expect(status.deployments.map(({ checksum, ref, version, pinned }) => ({ checksum, ref, version, pinned }))).toEqual(listed);
    expect(listed.map((d) => d.version)).toEqual(["2026.11.1", "2026.10.3"]);
    // In a folder ostree marks nothing booted: the simulated boot does, and the one before it is pending.
    expect(await summary(backend)).toEqual(["2026.11.1 staged", "2026.10.3 booted pinned"]);
    expect(await backend.osInfo()).toMatchObject({ id: "exampleos", versionId: "2026.10.3" });
  });

  it("reboots into the default deployment through the marker, and goes back by deploying again or undeploying", async () => {
    const { sysroot, stateDir, backend } = await machine();
    const firstBoot = (await backend.status()).bootId;
    await backend.stage({ ref: REF, ...next }, () => {}, never);
    const booted = await reboot(backend, sysroot, stateDir);
    expect(await summary(booted)).toEqual(["2026.11.1 booted", "2026.10.3"]);
    expect((await booted.status()).bootId).not.toBe(firstBoot);

    // Behind the booted one: deployed again on top (this ostree has no
    // set-default), and the one behind is kept.
    await booted.makeDefault(current.checksum);
    expect(await summary(booted)).toEqual(["2026.10.3 staged", "2026.11.1 booted", "2026.10.3"]);
    expect((await adminStatusOf(sysroot)).map((d) => d.version)).toEqual(["2026.10.3", "2026.11.1", "2026.10.3"]);
    const back = await reboot(booted, sysroot, stateDir);
    expect(await summary(back)).toEqual(["2026.10.3 booted", "2026.11.1", "2026.10.3"]);

    // In front of the booted one: undeployed, and what stood behind stays.
    await back.makeDefault(next.checksum);
    expect(await summary(back)).toEqual(["2026.11.1 staged", "2026.10.3 booted", "2026.11.1"]);
    await back.makeDefault(current.checksum);
    expect(await summary(back)).toEqual(["2026.10.3 booted", "2026.11.1"]);
    expect(await adminStatusOf(sysroot)).toHaveLength(2);
  });

  it("moves to another branch (a rebase): deploys the other ref's commit with that ref as its origin, and goes back with the old one", async () => {
    const major = await lab.commit("2027.1.0", "2027-01-12 08:00:00", undefined, NEXT_MAJOR);
    const { sysroot, stateDir, backend } = await machine();
    await backend.stage({ ref: NEXT_MAJOR, ...major }, () => {}, never);
    expect((await adminStatusOf(sysroot)).map((d) => [d.version, d.ref])).toEqual([
      ["2027.1.0", NEXT_MAJOR],
      ["2026.10.3", REF],
    ]);
    const booted = await reboot(backend, sysroot, stateDir);
    expect((await booted.status()).deployments.map((d) => [d.version, d.ref, d.booted])).toEqual([
      ["2027.1.0", NEXT_MAJOR, true],
      ["2026.10.3", REF, false],
    ]);
    // The console's revert: back to the old branch's deployment, whose origin still names the old ref.
    await booted.makeDefault(current.checksum);
    const back = await reboot(booted, sysroot, stateDir);
    expect((await back.status()).deployments.filter((d) => d.booted).map((d) => [d.version, d.ref])).toEqual([["2026.10.3", REF]]);
    expect((await adminStatusOf(sysroot))[0]).toMatchObject({ checksum: current.checksum, ref: REF });
  });

  it("discards a staged deployment with ostree admin undeploy: the booted one is the default again", async () => {
    const { sysroot, backend } = await machine();
    await backend.stage({ ref: REF, ...next }, () => {}, never);
    expect(await backend.discard(next.checksum)).toBe(true);
    expect(await adminStatusOf(sysroot)).toEqual([{ checksum: current.checksum, ref: REF, version: "2026.10.3", pinned: false }]);
    expect(await summary(backend)).toEqual(["2026.10.3 booted"]);
    // Nothing left to discard; never the booted deployment.
    expect(await backend.discard(next.checksum)).toBe(false);
    await expect(backend.discard(current.checksum)).rejects.toThrow(/is the booted deployment: it cannot be discarded/);
  });

  it("discards a deployment behind the booted one, and refuses a pinned one", async () => {
    const { sysroot, stateDir, backend } = await machine();
    await backend.stage({ ref: REF, ...next }, () => {}, never);
    const booted = await reboot(backend, sysroot, stateDir);
    expect(await summary(booted)).toEqual(["2026.11.1 booted", "2026.10.3"]);
    await booted.pin(current.checksum, true);
    await expect(booted.discard(current.checksum)).rejects.toThrow(/is pinned: unpin it before discarding it/);
    await booted.pin(current.checksum, false);
    expect(await booted.discard(current.checksum)).toBe(true);
    expect((await adminStatusOf(sysroot)).map((d) => d.version)).toEqual(["2026.11.1"]);
  });

  it("keeps pinned deployments when deploying, as a booted machine does", async () => {
    const { sysroot, stateDir, backend } = await machine();
    await backend.stage({ ref: REF, ...next }, () => {}, never);
    const booted = await reboot(backend, sysroot, stateDir);
    await booted.pin(next.checksum, true);
    await booted.stage({ ref: REF, ...old }, () => {}, never);
    // The previous deployment goes, the booted one stays.
    expect(await summary(booted)).toEqual(["2026.09.2 staged", "2026.11.1 booted pinned"]);
    await booted.pin(next.checksum, false);
    expect((await adminStatusOf(sysroot)).map((d) => d.pinned)).toEqual([false, false]);
  });

  it("tells a commit built before the booted one by its timestamp", async () => {
    const { backend } = await machine();
    expect(await backend.isOlderThanBooted({ ref: REF, ...old }, never)).toBe(true);
    expect(await backend.isOlderThanBooted({ ref: REF, ...next }, never)).toBe(false);
  });

  it("refuses to reboot a machine for a sysroot in a folder", async () => {
    const sysroot = await lab.sysroot(current);
    await expect(open(sysroot, await tempDir(), { reboot: "systemctl" })).rejects.toThrow(ConfigError);
    await expect(open(sysroot, await tempDir(), { reboot: "systemctl" })).rejects.toThrow(/is not the booted system/);
  });

  describe("with a signing key configured", () => {
    let key: GpgKey;
    let stranger: GpgKey;
    let signed: Release;
    let unsigned: Release;
    let wronglySigned: Release;

    beforeAll(async () => {
      [key, stranger] = await Promise.all([makeGpgKey("releases"), makeGpgKey("stranger")]);
      signed = await lab.commit("2026.12.1", "2026-12-01 10:00:00", key);
      unsigned = await lab.commit("2026.12.2", "2026-12-02 10:00:00");
      wronglySigned = await lab.commit("2026.12.3", "2026-12-03 10:00:00", stranger);
    });

    afterAll(async () => {
      await Promise.all([dropGpgKey(key), dropGpgKey(stranger)]);
    });

    it("pulls commits signed by the key, and refuses unsigned and wrongly signed ones", async () => {
      const sysroot = await lab.sysroot(current);
      const remote = { name: "orchard", url: lab.url, gpgKeyFile: key.publicKeyFile };
      const backend = await open(sysroot, await tempDir(), { remote });
      await backend.stage({ ref: REF, ...signed }, () => {}, never);
      expect((await adminStatusOf(sysroot))[0]).toMatchObject({ checksum: signed.checksum, ref: REF });

      await expect(backend.stage({ ref: REF, ...unsigned }, () => {}, never)).rejects.toThrow(
        /GPG verification enabled, but no signatures found/,
      );
      await expect(backend.isOlderThanBooted({ ref: REF, ...unsigned }, never)).rejects.toThrow(/no signatures found/);
      await expect(backend.stage({ ref: REF, ...wronglySigned }, () => {}, never)).rejects.toThrow(/public key not found/);
      expect((await adminStatusOf(sysroot)).map((d) => d.checksum)).toEqual([signed.checksum, current.checksum]);
    });
  });
});
