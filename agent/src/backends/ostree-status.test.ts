// `ostree admin status` of booted machines (recorded in test/fixtures), and
// the ostree backend's command lines on such a machine, against a fake
// `ostree` on PATH.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../config.ts";
import { fixture } from "../../../test/fixtures/fixtures.ts";
import { FakeTools } from "../testing/fake-tools.ts";
import { tempDir } from "../testing/test-agent.ts";
import { OstreeBackend } from "./ostree.ts";
import { parseAdminStatus, parseCommitDate, parseFeatures, splitRefspec } from "./ostree-status.ts";

const PENDING = fixture("ostree/admin-status-pending.txt");
const [A, B, C] = [...PENDING.matchAll(/[0-9a-f]{64}/g)].map((m) => m[0]);

describe("ostree admin status", () => {
  it("reads deployments in boot order with their marks, versions, pins and refspecs", () => {
    expect(parseAdminStatus(PENDING)).toEqual([
      { osname: "exampleos", checksum: A, serial: 0, booted: false, staged: false, pending: true, rollback: false, pinned: false, version: "2026.11.1", refspec: "orchard:exampleos/x86_64/stable" },
      { osname: "exampleos", checksum: B, serial: 0, booted: true, staged: false, pending: false, rollback: false, pinned: false, version: "2026.10.3", refspec: "orchard:exampleos/x86_64/stable" },
      { osname: "exampleos", checksum: C, serial: 1, booted: false, staged: false, pending: false, rollback: true, pinned: true, version: "2026.09.2", refspec: "orchard:exampleos/x86_64/stable" },
    ]);
  });

  it("reads staged and unlocked deployments, and one whose origin is not a refspec", () => {
    const [staged, booted, container] = parseAdminStatus(fixture("ostree/admin-status-staged.txt"));
    expect(staged).toMatchObject({ osname: "fedora-iot", staged: true, booted: false, version: "41.20261120.0" });
    expect(booted).toMatchObject({ booted: true, serial: 2, refspec: "fedora-iot:fedora/stable/x86_64/iot" });
    expect(container).toMatchObject({ osname: "default", rollback: true, refspec: null, version: "stream9.20261015.0" });
  });

  it("has nothing to say about an empty sysroot, and refuses what it cannot read", () => {
    expect(parseAdminStatus("No deployments.\n")).toEqual([]);
    expect(() => parseAdminStatus("error: not an ostree system\n")).toThrow(/cannot read the line "error: not an ostree system"/);
  });

  it("reads refspecs, commit dates and features", () => {
    expect(splitRefspec("orchard:exampleos/x86_64/stable")).toEqual({ remote: "orchard", ref: "exampleos/x86_64/stable" });
    expect(splitRefspec("exampleos/x86_64/stable")).toEqual({ remote: null, ref: "exampleos/x86_64/stable" });
    expect(parseCommitDate(`commit ${A}\nParent:  ${B}\nDate:  2026-11-24 09:12:44 +0000\nVersion: 2026.11.1\n`)).toEqual(
      new Date("2026-11-24T09:12:44Z"),
    );
    expect(parseFeatures("libostree:\n Version: '2023.7'\n Features:\n  - libcurl\n  - gpgme\n  - sign-ed25519\n")).toEqual([
      "libcurl",
      "gpgme",
      "sign-ed25519",
    ]);
  });
});

describe("ostree backend on a booted machine (fake ostree)", () => {
  async function booted(features = ["libcurl", "gpgme"]) {
    const fakes = await FakeTools.create(["ostree", "systemctl"]);
    fakes
      .on("ostree", ["admin", "status"], { stdout: PENDING })
      .on("ostree", ["--version"], { stdout: `libostree:\n Version: '2023.7'\n Features:\n${features.map((f) => `  - ${f}\n`).join("")}` })
      .on("ostree", ["remote"])
      .on("ostree", ["pull"])
      .on("ostree", ["admin", "deploy"])
      .on("ostree", ["admin", "undeploy"])
      .on("ostree", ["admin", "pin"])
      .on("systemctl", ["reboot"]);
    return fakes;
  }

  it("refuses the marker reboot on a booted system", async () => {
    const fakes = await booted();
    await expect(OstreeBackend.open({ sysroot: "/", stateDir: await tempDir(), reboot: "marker", run: fakes.run })).rejects.toThrow(
      /"marker" is for a sysroot in a folder, and \/ is the booted system/,
    );
  });

  it("sets up the configured remote with its key, or refuses an ed25519 key this ostree cannot check", async () => {
    const remote = { name: "orchard", url: "https://updates.example.com/repo", ed25519KeyFile: "/etc/orchard/ed25519.pub" };
    const without = await booted();
    const open = (fakes: FakeTools) => OstreeBackend.open({ sysroot: "/", stateDir: "/nonexistent", reboot: "systemctl", run: fakes.run, remote });
    await expect(open(without)).rejects.toThrow(ConfigError);
    await expect(open(without)).rejects.toThrow(/built without sign-ed25519/);

    const withEd25519 = await booted(["libcurl", "gpgme", "sign-ed25519"]);
    await open(withEd25519);
    const gpg = await booted();
    await OstreeBackend.open({
      sysroot: "/",
      stateDir: "/nonexistent",
      reboot: "systemctl",
      run: gpg.run,
      remote: { name: "orchard", url: remote.url, gpgKeyFile: "/etc/orchard/releases.asc" },
    });
    const remoteCalls = (fakes: FakeTools) => fakes.commandLines().filter((c) => c.startsWith("ostree remote"));
    expect(remoteCalls(withEd25519)).toEqual([
      "ostree remote delete --if-exists orchard --repo=/ostree/repo",
      "ostree remote add --no-gpg-verify --sign-verify=ed25519=file:/etc/orchard/ed25519.pub orchard https://updates.example.com/repo --repo=/ostree/repo",
    ]);
    expect(remoteCalls(gpg)[1]).toBe(
      "ostree remote add --set=gpg-verify=true --gpg-import=/etc/orchard/releases.asc orchard https://updates.example.com/repo --repo=/ostree/repo",
    );
  });

  it("stages, changes the default, pins, discards and reboots with these command lines", async () => {
    const fakes = await booted();
    const stateDir = await tempDir();
    const backend = await OstreeBackend.open({ sysroot: "/", stateDir, reboot: "systemctl", run: fakes.run });
    const status = await backend.status();
    expect(status.deployments.map((d) => [d.version, d.booted, d.staged, d.pinned])).toEqual([
      ["2026.11.1", false, true, false],
      ["2026.10.3", true, false, false],
      ["2026.09.2", false, false, true],
    ]);
    expect(status.bootId).toMatch(/^[0-9a-f-]{36}$/);
    fakes.clearCalls();

    const target = { ref: "exampleos/x86_64/stable", checksum: "d".repeat(64), version: "2026.12.1" };
    await backend.stage(target, () => {}, new AbortController().signal);
    await backend.makeDefault(B); // the pending one in front goes
    await backend.makeDefault(C); // the rollback one is deployed again on top, and kept behind
    await backend.pin(C, false);
    await backend.discard(A);
    const down = new AbortController();
    const rebooting = backend.reboot(down.signal);
    await expect.poll(() => fakes.commandLines().includes("systemctl reboot")).toBe(true);
    down.abort();
    await expect(rebooting).rejects.toThrow();

    const origin = `--origin-file=${stateDir}/ostree-deploy.origin`;
    expect(fakes.commandLines().filter((c) => !c.startsWith("ostree admin status"))).toEqual([
      `ostree pull orchard exampleos/x86_64/stable@${"d".repeat(64)} --repo=/ostree/repo`,
      `ostree admin deploy --os=exampleos ${origin} ${"d".repeat(64)} --sysroot=/`,
      "ostree admin undeploy 0 --sysroot=/",
      `ostree admin deploy --os=exampleos ${origin} --retain ${C} --sysroot=/`,
      "ostree admin pin --unpin 2 --sysroot=/",
      "ostree admin undeploy 0 --sysroot=/",
      "systemctl reboot",
    ]);
  });
});
