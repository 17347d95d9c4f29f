// The rpm-ostree backend: recorded `rpm-ostree status --json` documents
// (test/fixtures/rpm-ostree) and the command lines it runs, against fake
// rpm-ostree, ostree and systemctl executables on PATH.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { fixture } from "../../../test/fixtures/fixtures.ts";
import { FakeTools } from "../testing/fake-tools.ts";
import { tempDir } from "../testing/test-agent.ts";
import { RpmOstreeBackend, rpmOstreeStatusSchema } from "./rpm-ostree.ts";

const IOT = fixture("rpm-ostree/status-fedora-iot-staged.json");
const EDGE = fixture("rpm-ostree/status-rhel-edge-layered.json");
const SILVERBLUE = fixture("rpm-ostree/status-silverblue-container.json");
const never = new AbortController().signal;

const checksums = (document: string) =>
  rpmOstreeStatusSchema.parse(JSON.parse(document)).deployments.map((d) => d["base-checksum"] ?? d.checksum);

async function machine(statusJson: string) {
  const fakes = await FakeTools.create(["rpm-ostree", "ostree", "systemctl"]);
  fakes
    .on("rpm-ostree", ["status", "--json"], { stdout: statusJson })
    .on("rpm-ostree", ["deploy"])
    .on("rpm-ostree", ["rebase"])
    .on("rpm-ostree", ["rollback"])
    .on("rpm-ostree", ["cleanup"])
    .on("ostree", ["pull"])
    .on("ostree", ["admin", "pin"]);
  const dir = await tempDir();
  const files = { bootIdFile: path.join(dir, "boot_id"), osReleaseFile: path.join(dir, "os-release") };
  await writeFile(files.bootIdFile, "5b0ad5f1-3a2b-4f8c-9d3e-1c2b3a4d5e6f\n");
  await writeFile(files.osReleaseFile, 'NAME="Fedora Linux"\nVERSION_ID=41\nID=fedora\nVARIANT_ID=iot\n');
  const backend = new RpmOstreeBackend({ run: fakes.run, files });
  const changes = () => fakes.commandLines().filter((c) => c !== "rpm-ostree status --json");
  return { fakes, backend, changes };
}

describe("rpm-ostree backend", () => {
  it("reports the deployments in boot order: a staged one first, flags as rpm-ostree gives them", async () => {
    const { backend } = await machine(IOT);
    const [staged, booted, rollback] = checksums(IOT);
    expect(await backend.status()).toEqual({
      bootId: "5b0ad5f1-3a2b-4f8c-9d3e-1c2b3a4d5e6f",
      deployments: [
        { checksum: staged, ref: "fedora/stable/x86_64/iot", version: "41.20261120.0", booted: false, staged: true, pinned: false },
        { checksum: booted, ref: "fedora/stable/x86_64/iot", version: "41.20261101.0", booted: true, staged: false, pinned: false },
        { checksum: rollback, ref: "fedora/stable/x86_64/iot", version: "41.20261018.0", booted: false, staged: false, pinned: false },
      ],
    });
    expect(await backend.osInfo()).toMatchObject({ id: "fedora", versionId: "41" });
  });

  it("reports layered deployments by their base commit, which is the one the console released", async () => {
    const { backend } = await machine(EDGE);
    const document = JSON.parse(EDGE) as { deployments: { checksum: string; "base-checksum"?: string }[] };
    const status = await backend.status();
    expect(status.deployments.map((d) => d.checksum)).toEqual(checksums(EDGE));
    expect(status.deployments[1].checksum).toBe(document.deployments[1]["base-checksum"]);
    expect(status.deployments[1].checksum).not.toBe(document.deployments[1].checksum);
    // A pending (not staged) deployment in front of the booted one, and a pinned one without a version.
    expect(status.deployments.map((d) => [d.ref, d.version, d.booted, d.staged, d.pinned])).toEqual([
      ["rhel/9/x86_64/edge", "9.6.2", false, true, false],
      ["rhel/9/x86_64/edge", "9.6.1", true, false, false],
      ["rhel/9/x86_64/edge", null, false, false, true],
    ]);
  });

  it("stages with deploy on the booted ref and rebase on another", async () => {
    const { backend, changes } = await machine(IOT);
    const checksum = "e".repeat(64);
    const progress: number[] = [];
    await backend.stage({ ref: "fedora/stable/x86_64/iot", checksum, version: "41.20261125.0" }, (p) => progress.push(p), never);
    await backend.stage({ ref: "fedora/devel/x86_64/iot", checksum, version: null }, () => {}, never);
    expect(changes()).toEqual([`rpm-ostree deploy ${checksum}`, `rpm-ostree rebase fedora-iot:fedora/devel/x86_64/iot ${checksum}`]);
    expect(progress).toEqual([0, 1]);
  });

  it("changes the default with cleanup --pending, rollback, or a deploy from the local repository", async () => {
    const [staged, booted, rollback] = checksums(IOT);
    const document = JSON.parse(IOT) as { deployments: Record<string, unknown>[] };
    const older = { ...document.deployments[2], checksum: "f".repeat(64), version: "41.20261001.0" };
    const { backend, changes } = await machine(JSON.stringify({ deployments: [...document.deployments, older] }));
    await backend.makeDefault(staged);
    await backend.makeDefault(booted);
    await backend.makeDefault(rollback);
    await backend.makeDefault("f".repeat(64));
    await expect(backend.makeDefault("0".repeat(64))).rejects.toThrow(/no deployment of 000000000000 on disk/);
    expect(changes()).toEqual(["rpm-ostree cleanup --pending", "rpm-ostree rollback", `rpm-ostree deploy ${"f".repeat(64)}`]);
  });

  it("puts the booted deployment back in front of a pending one with rpm-ostree rollback, keeping it on disk", async () => {
    const [, booted] = checksums(EDGE);
    const document = JSON.parse(EDGE) as { deployments: Record<string, unknown>[] };
    // The rollback moves the first deployment behind the booted one to the front: with one there, it takes two.
    const withOneBehind = await machine(EDGE);
    await withOneBehind.backend.makeDefault(booted);
    expect(withOneBehind.changes()).toEqual(["rpm-ostree rollback", "rpm-ostree rollback"]);
    // With none behind, it moves the booted one to the front.
    const withNoneBehind = await machine(JSON.stringify({ deployments: document.deployments.slice(0, 2) }));
    await withNoneBehind.backend.makeDefault(booted);
    expect(withNoneBehind.changes()).toEqual(["rpm-ostree rollback"]);
  });

  it("discards the pending deployment with cleanup --pending and the rollback one with cleanup --rollback", async () => {
    const [staged, booted, rollback] = checksums(IOT);
    const { backend, changes } = await machine(IOT);
    expect(await backend.discard(staged)).toBe(true);
    expect(await backend.discard(rollback)).toBe(true);
    expect(await backend.discard("0".repeat(64))).toBe(false);
    await expect(backend.discard(booted)).rejects.toThrow(/is the booted deployment: it cannot be discarded/);
    expect(changes()).toEqual(["rpm-ostree cleanup --pending", "rpm-ostree cleanup --rollback"]);

    const edge = await machine(EDGE);
    await expect(edge.backend.discard(checksums(EDGE)[2])).rejects.toThrow(/is pinned: unpin it before discarding it/);
    expect(edge.changes()).toEqual([]);
  });

  it("tells an older commit by its timestamp, from its metadata pulled alone", async () => {
    const { fakes, backend, changes } = await machine(IOT);
    const target = { ref: "fedora/stable/x86_64/iot", checksum: "a".repeat(64), version: "41.20260901.0" };
    fakes.on("ostree", ["show"], { stdout: `commit ${"a".repeat(64)}\nDate:  2026-09-01 00:00:00 +0000\nVersion: 41.20260901.0\n` });
    expect(await backend.isOlderThanBooted(target, never)).toBe(true);
    fakes.on("ostree", ["show"], { stdout: `commit ${"a".repeat(64)}\nDate:  2026-11-25 00:00:00 +0000\n` });
    expect(await backend.isOlderThanBooted(target, never)).toBe(false);
    expect(changes()[0]).toBe(`ostree pull --commit-metadata-only fedora-iot fedora/stable/x86_64/iot@${"a".repeat(64)} --repo=/ostree/repo`);
  });

  it("pins and unpins with ostree admin pin, by index in boot order", async () => {
    const { backend, changes } = await machine(EDGE);
    const [, booted, pinned] = checksums(EDGE);
    await backend.pin(booted, true);
    await backend.pin(pinned, true);
    await backend.pin(pinned, false);
    expect(changes()).toEqual(["ostree admin pin 1 --sysroot=/", "ostree admin pin --unpin 2 --sysroot=/"]);
  });

  it("says what rpm-ostree said when it fails", async () => {
    const { fakes, backend } = await machine(IOT);
    fakes.on("rpm-ostree", ["deploy"], { exitCode: 1, stderr: "error: Updates and deployments are driven by Zincati (zincati.service)\n" });
    await expect(backend.stage({ ref: "fedora/stable/x86_64/iot", checksum: "e".repeat(64), version: null }, () => {}, never)).rejects.toThrow(
      /exited with 1: error: Updates and deployments are driven by Zincati/,
    );
  });

  it("points a machine that boots a container image to the bootc backend", async () => {
    const { backend } = await machine(SILVERBLUE);
    expect((await backend.status()).deployments[0]).toMatchObject({ ref: "fedora", booted: true, version: "41.20261122.0" });
    await expect(backend.stage({ ref: "fedora/41/x86_64/silverblue", checksum: "e".repeat(64), version: null }, () => {}, never)).rejects.toThrow(
      /boots the container image ostree-image-signed:docker:\/\/quay.io\/fedora\/fedora-silverblue:41: use the bootc backend/,
    );
  });
});
