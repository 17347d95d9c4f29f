// The bootc backend: recorded `bootc status --format json` documents
// (test/fixtures/bootc) and the command lines it runs, against fake bootc,
// skopeo, ostree and systemctl executables on PATH.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { fixture } from "../../../test/fixtures/fixtures.ts";
import { FakeTools } from "../testing/fake-tools.ts";
import { tempDir } from "../testing/test-agent.ts";
import { BootcBackend, bootcHostSchema, imageRepository } from "./bootc.ts";

const STAGED = fixture("bootc/status-staged.json");
const ROLLBACK_QUEUED = fixture("bootc/status-rollback-queued.json");
const REGISTRY_PORT = fixture("bootc/status-registry-port.json");
const INSPECT = fixture("skopeo/inspect-kiosk-2026.11.1.json");
const REPOSITORY = "quay.io/example/kiosk-os";
const never = new AbortController().signal;

/** The digests (as checksums) of the staged, booted and rollback entries of a document. */
function digests(document: string) {
  const { staged, booted, rollback } = bootcHostSchema.parse(JSON.parse(document)).status;
  const hex = (e: typeof booted) => e?.image?.imageDigest.slice("sha256:".length) ?? null;
  return { staged: hex(staged), booted: hex(booted)!, rollback: hex(rollback) };
}

async function machine(statusJson: string, enforceSignaturePolicy = false) {
  const fakes = await FakeTools.create(["bootc", "skopeo", "ostree", "systemctl"]);
  fakes
    .on("bootc", ["status", "--format", "json"], { stdout: statusJson })
    .on("bootc", ["switch"])
    .on("bootc", ["rollback"])
    .on("skopeo", ["inspect"], { stdout: INSPECT })
    .on("ostree", ["admin", "pin"])
    .on("ostree", ["admin", "undeploy"]);
  const dir = await tempDir();
  const files = { bootIdFile: path.join(dir, "boot_id"), osReleaseFile: path.join(dir, "os-release") };
  await writeFile(files.bootIdFile, "0f3c2a8e-6b1d-4e55-9a57-3f0c1d2e4b6a\n");
  await writeFile(files.osReleaseFile, 'NAME="CentOS Stream"\nID="centos"\nVERSION_ID="10"\n');
  const backend = new BootcBackend({ run: fakes.run, files, enforceSignaturePolicy });
  const changes = () => fakes.commandLines().filter((c) => c !== "bootc status --format json");
  return { fakes, backend, changes };
}

describe("bootc backend", () => {
  it("reports images as deployments: the repository as ref, the manifest digest as checksum, in boot order", async () => {
    const { backend } = await machine(STAGED);
    const { staged, booted, rollback } = digests(STAGED);
    expect(await backend.status()).toEqual({
      bootId: "0f3c2a8e-6b1d-4e55-9a57-3f0c1d2e4b6a",
      deployments: [
        { checksum: staged, ref: REPOSITORY, version: "2026.11.1", booted: false, staged: true, pinned: false },
        { checksum: booted, ref: REPOSITORY, version: "2026.10.3", booted: true, staged: false, pinned: true },
        { checksum: rollback, ref: REPOSITORY, version: "2026.09.2", booted: false, staged: false, pinned: false },
      ],
    });
    expect(await backend.osInfo()).toMatchObject({ id: "centos", versionId: "10" });
  });

  it("puts a queued rollback first, as the default for the next boot", async () => {
    const { backend } = await machine(ROLLBACK_QUEUED);
    const { booted, rollback } = digests(ROLLBACK_QUEUED);
    expect((await backend.status()).deployments.map((d) => [d.checksum, d.booted, d.staged])).toEqual([
      [rollback, false, true],
      [booted, true, false],
    ]);
  });

  it("refuses an image name that protocol v1 cannot carry as a ref", async () => {
    expect(imageRepository("quay.io/example/kiosk-os:2026.10")).toBe(REPOSITORY);
    expect(imageRepository(`${REPOSITORY}@sha256:${"a".repeat(64)}`)).toBe(REPOSITORY);
    const { backend } = await machine(REGISTRY_PORT);
    await expect(backend.status()).rejects.toThrow(/the image localhost:5000\/kiosk-os:latest has no name protocol v1 can carry as a ref/);
  });

  it("switches to the released image by digest, enforcing the signature policy when configured", async () => {
    const checksum = "c".repeat(64);
    const plain = await machine(STAGED);
    await plain.backend.stage({ ref: REPOSITORY, checksum, version: "2026.12.1" }, () => {}, never);
    const enforcing = await machine(STAGED, true);
    await enforcing.backend.stage({ ref: REPOSITORY, checksum, version: "2026.12.1" }, () => {}, never);
    expect(plain.changes()).toEqual([`bootc switch ${REPOSITORY}@sha256:${checksum}`]);
    expect(enforcing.changes()).toEqual([`bootc switch --enforce-container-sigpolicy ${REPOSITORY}@sha256:${checksum}`]);
  });

  it("changes the default with bootc rollback, or stages the booted image again behind a staged one", async () => {
    const staged = await machine(STAGED);
    const { staged: next, booted, rollback } = digests(STAGED);
    await staged.backend.makeDefault(next!);
    await staged.backend.makeDefault(rollback!);
    await staged.backend.makeDefault(booted);
    expect(staged.changes()).toEqual(["bootc rollback", `bootc switch ${REPOSITORY}@sha256:${booted}`]);

    const queued = await machine(ROLLBACK_QUEUED);
    await queued.backend.makeDefault(digests(ROLLBACK_QUEUED).booted);
    expect(queued.changes()).toEqual(["bootc rollback"]);
  });

  it("discards a staged image with bootc rollback twice: the staged entry goes, the queued rollback is reverted", async () => {
    const { backend, changes } = await machine(STAGED);
    const { staged, booted } = digests(STAGED);
    expect(await backend.discard(staged!)).toBe(true);
    expect(changes()).toEqual(["bootc rollback", "bootc rollback"]);
    expect(await backend.discard("0".repeat(64))).toBe(false);
    await expect(backend.discard(booted)).rejects.toThrow(/is the booted deployment: it cannot be discarded/);
    expect(changes()).toHaveLength(2);
  });

  it("discards a staged image with no rollback deployment by switching back to the booted image", async () => {
    const document = JSON.parse(STAGED) as { status: Record<string, unknown> };
    const noRollback = JSON.stringify({ ...document, status: { ...document.status, rollback: null } });
    const { backend, changes } = await machine(noRollback);
    const { staged, booted } = digests(STAGED);
    expect(await backend.discard(staged!)).toBe(true);
    expect(changes()).toEqual([`bootc switch ${REPOSITORY}@sha256:${booted}`]);
  });

  it("discards the rollback deployment with ostree admin undeploy, by index in boot order", async () => {
    const staged = await machine(STAGED);
    expect(await staged.backend.discard(digests(STAGED).rollback!)).toBe(true);
    expect(staged.changes()).toEqual(["ostree admin undeploy 2 --sysroot=/"]);
    // A queued rollback stands in front of the booted deployment.
    const queued = await machine(ROLLBACK_QUEUED);
    expect(await queued.backend.discard(digests(ROLLBACK_QUEUED).rollback!)).toBe(true);
    expect(queued.changes()).toEqual(["ostree admin undeploy 0 --sysroot=/"]);
  });

  it("tells an older image by its creation time, read with skopeo", async () => {
    const { fakes, backend, changes } = await machine(ROLLBACK_QUEUED);
    const target = { ref: REPOSITORY, checksum: digests(STAGED).staged!, version: "2026.11.1" };
    expect(await backend.isOlderThanBooted(target, never)).toBe(false);
    fakes.on("skopeo", ["inspect"], { stdout: JSON.stringify({ ...JSON.parse(INSPECT), Created: "2026-08-01T00:00:00Z" }) });
    expect(await backend.isOlderThanBooted(target, never)).toBe(true);
    expect(changes()[0]).toBe(`skopeo inspect --no-tags docker://${REPOSITORY}@sha256:${target.checksum}`);
  });

  it("pins and unpins with ostree admin pin, by index in boot order", async () => {
    const { backend, changes } = await machine(STAGED);
    const { booted, rollback } = digests(STAGED);
    await backend.pin(booted, true);
    await backend.pin(booted, false);
    await backend.pin(rollback!, true);
    expect(changes()).toEqual(["ostree admin pin --unpin 1 --sysroot=/", "ostree admin pin 2 --sysroot=/"]);
  });
});
