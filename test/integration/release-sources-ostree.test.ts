// Release sources of the ostree kind, with real parts: an ostree archive
// repository made with the `ostree` command and served over HTTP by the test,
// a console whose poller reads it with the real `ostree` (metadata-only
// pulls), commits signed with the source's ed25519 key, with another key, or
// not at all, a GPG key (`ostree gpg-sign`, verified by ostree itself), a
// Flatpak repository made with `flatpak build-export`, a repository that
// fails, and two pollers (two database clients) at once.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { openDatabase } from "../../server/db/client";
import { AppError } from "../../server/errors";
import { addSource, listSources, removeSource, syncDueSources, syncSources, updateSource } from "../../server/release-sources/sources";
import { setFloor } from "../../server/releases/update-paths";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { pinMachines } from "../../server/machines/bulk-actions";
import { pinMachine } from "../../server/rollouts/machine-actions";
import { previewRollout, startRollout } from "../../server/rollouts/rollouts";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { waitFor } from "../helpers/fleet";
import { ed25519Keys, gpgKey, run, TestRepo } from "../helpers/ostree-repo";

const REF = "testos/x86_64/stable";

async function refusal(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe("ostree release sources", () => {
  let tmp: string;
  let console_: TestConsole;
  let repo: TestRepo;
  let tree: string;
  const keys = ed25519Keys();
  const otherKeys = ed25519Keys();

  const release = (version: string) =>
    console_.db.prisma.release.findFirst({
      where: { version, branch: { ref: REF } },
      select: { version: true, checksum: true, builtAt: true, subject: true, body: true, notes: true, metadata: true, signatureState: true, signatureReason: true, sourceId: true },
    });

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(process.env.TMPDIR ?? os.tmpdir(), "orch-src-"));
    tree = path.join(tmp, "tree");
    repo = TestRepo.create(path.join(tmp, "repo"));
    await repo.serve();
    ed25519Keys(tmp, "written"); // the files as ostree reads them, for a person to try by hand
    console_ = await startTestConsole({ ORCHARD_SOURCE_POLL_MS: "200" });
    await createRing(console_.db.prisma, cliActor, { name: "canary", branch: REF });
  });

  afterAll(async () => {
    await console_?.stop();
    await repo?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("refuses an ostree source on a host without the ostree command", async () => {
    const saved = process.env.PATH;
    process.env.PATH = path.join(tmp, "no-such-bin");
    try {
      const error = await refusal(
        addSource(console_.db.prisma, cliActor, {
          name: "no-ostree",
          branch: REF,
          config: { kind: "ostree", url: repo.url, ref: REF, key: { type: "ed25519", publicKey: keys.publicKey } },
        }),
      );
      expect(error.code).toBe("UNAVAILABLE");
      expect(error.field).toBe("config.kind");
      expect(error.message).toMatch(/ostree command is not installed/);
    } finally {
      process.env.PATH = saved;
    }
    expect(await console_.db.prisma.releaseSource.count()).toBe(0);
  });

  it("refuses a config without a key, or with a key that is not one, naming the field", async () => {
    const noKey = await addSource(console_.db.prisma, cliActor, {
      name: "bad",
      branch: REF,
      config: { kind: "ostree", url: repo.url, ref: REF } as never,
    }).catch((e: unknown) => e);
    expect(JSON.stringify((noKey as { issues: unknown }).issues)).toMatch(/"key"/);
    const badKey = await addSource(console_.db.prisma, cliActor, {
      name: "bad",
      branch: REF,
      config: { kind: "ostree", url: "ftp://x", ref: REF, key: { type: "ed25519", publicKey: "abc" } },
    }).catch((e: unknown) => e);
    const paths = (badKey as { issues: { path: string[] }[] }).issues.map((i) => i.path.join("."));
    expect(paths).toEqual(expect.arrayContaining(["config.url", "config.key.publicKey"]));
  });

  it("turns signed commits into releases while the console polls, with version, build time, subject and body", async () => {
    const first = repo.commit(REF, { version: "2026.11.1", subject: "First build", body: "Kernel 6.1\nSystemd 252", treeDir: tree });
    repo.signEd25519(first, keys);
    // GLib prints a byte array as `[byte 0x…]`, or as `b'…'` when its only zero byte is the last
    // one: one signature in about 300 (CI met one).
    expect(repo.shownSignatures(first)).toMatch(/^\[(\[byte 0x|b')/);
    const source = await addSource(console_.db.prisma, cliActor, {
      name: "testos-stable",
      branch: REF,
      config: { kind: "ostree", url: repo.url, ref: REF, key: { type: "ed25519", publicKey: keys.publicKey } },
      pollIntervalSeconds: 1,
    });
    expect(source.key).toEqual({ type: "ed25519", summary: expect.any(String) });
    const r1 = await waitFor("release 2026.11.1", () => release("2026.11.1"), 30_000, 200);
    expect(r1).toMatchObject({ checksum: first, subject: "First build", body: "Kernel 6.1\nSystemd 252", signatureState: "valid", signatureReason: null });
    expect(r1.notes).toBe("First build\n\nKernel 6.1\nSystemd 252");
    expect(Math.abs(r1.builtAt!.getTime() - Date.now())).toBeLessThan(120_000);
    expect(r1.metadata).toMatchObject({ version: "2026.11.1" });
    await setRingRelease(console_.db.prisma, cliActor, { ring: "canary", version: "2026.11.1" });

    // A commit that appears while the console runs.
    const second = repo.commit(REF, { version: "2026.11.2", subject: "Second build", treeDir: tree });
    repo.signEd25519(second, keys);
    const r2 = await waitFor("release 2026.11.2", () => release("2026.11.2"), 30_000, 200);
    expect(r2).toMatchObject({ checksum: second, signatureState: "valid", body: null });

    const audit = await console_.db.prisma.auditLog.findMany({ where: { action: { in: ["release.add", "source.add"] } }, orderBy: { at: "asc" } });
    expect(audit.map((a) => [a.action, a.actorLabel, a.targetId])).toEqual([
      ["source.add", "cli", "testos-stable"],
      ["release.add", "source:testos-stable", `${REF}@2026.11.1`],
      ["release.add", "source:testos-stable", `${REF}@2026.11.2`],
    ]);
    const [listed] = await listSources(console_.db.prisma);
    expect(listed).toMatchObject({ name: "testos-stable", lastError: null, consecutiveFailures: 0, releases: 2 });
    expect(listed.lastSuccessAt).not.toBeNull();
  });

  it("keeps a wrongly signed and an unsigned commit as releases that no ring, rollout or pin can be sent to", async () => {
    const wrong = repo.commit(REF, { version: "2026.11.3", subject: "Signed by someone else", treeDir: tree });
    repo.signEd25519(wrong, otherKeys);
    const bad = await waitFor("release 2026.11.3", () => release("2026.11.3"), 30_000, 200);
    expect(bad.signatureState).toBe("invalid");
    expect(bad.signatureReason).toMatch(/not made by the source's key/);

    const unsigned = repo.commit(REF, { version: "2026.11.4", subject: "Nobody signed this", treeDir: tree });
    const bare = await waitFor("release 2026.11.4", () => release("2026.11.4"), 30_000, 200);
    expect(bare.signatureState).toBe("unsigned");
    expect(bare.signatureReason).toMatch(/no ed25519 signature/);
    expect(bare.checksum).toBe(unsigned);

    for (const version of ["2026.11.3", "2026.11.4"]) {
      const ring = await refusal(setRingRelease(console_.db.prisma, cliActor, { ring: "canary", version }));
      expect(ring.code).toBe("CONFLICT");
      expect(ring.field).toBe("version");
      expect(ring.message).toMatch(new RegExp(`release ${version} is (wrongly signed|unsigned).*cannot be sent to machines`));
      const floor = await refusal(setFloor(console_.db.prisma, cliActor, { version, ref: REF, floor: true }));
      expect([floor.code, floor.field]).toEqual(["CONFLICT", "version"]);
      const rollout = await refusal(startRollout(console_.db.prisma, cliActor, { version, ref: REF, rings: ["canary"] }));
      expect(rollout.code).toBe("CONFLICT");
      expect(rollout.field).toBe("version");
      // The dry run says so too, with the server's reason.
      const preview = await previewRollout(console_.db.prisma, { version, ref: REF, rings: ["canary"] });
      expect(preview.release.sendable).toBe(false);
      expect(preview.release.unsendableReason).toMatch(/cannot be sent to machines/);
    }
    // A machine cannot be pinned to either, alone or with others.
    await console_.db.prisma.machine.create({
      data: { machineId: "kiosk-1", hostname: "kiosk-1", backend: "ostree", agentVersion: "1", ring: { connect: { name: "canary" } } },
    });
    for (const version of ["2026.11.3", "2026.11.4"]) {
      const pin = await refusal(pinMachine(console_.db.prisma, cliActor, { machineId: "kiosk-1", version, ref: REF }));
      expect([pin.code, pin.field]).toEqual(["CONFLICT", "version"]);
      const pinMany = await refusal(pinMachines(console_.db.prisma, cliActor, { machineIds: ["kiosk-1"], version, ref: REF }));
      expect([pinMany.code, pinMany.field]).toEqual(["CONFLICT", "version"]);
    }
    await pinMachine(console_.db.prisma, cliActor, { machineId: "kiosk-1", version: "2026.11.2", ref: REF });
    const ring = await console_.db.prisma.ring.findUniqueOrThrow({ where: { name: "canary" }, select: { currentRelease: { select: { version: true } } } });
    expect(ring.currentRelease?.version).toBe("2026.11.1");
  });

  it("is idempotent: a pass with nothing new stores nothing", async () => {
    const before = await console_.db.prisma.release.count();
    const audits = await console_.db.prisma.auditLog.count();
    const [result] = await syncSources(console_.db.prisma, { source: "testos-stable" }, { workDir: console_.sourcesDir, log: console_.log });
    expect(result).toMatchObject({ ok: true, created: [], error: null });
    const [again] = await syncSources(console_.db.prisma, { source: "testos-stable" }, { workDir: console_.sourcesDir, log: console_.log });
    expect(again.created).toEqual([]);
    expect(await console_.db.prisma.release.count()).toBe(before);
    expect(await console_.db.prisma.auditLog.count()).toBe(audits);
  });

  it("records a failing repository's error, backs off, and recovers", async () => {
    await console_.sources.stop(); // the test steps the passes itself
    repo.failing = true;
    const checkpoints: { failures: number; delay: number }[] = [];
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      const [result] = await syncSources(console_.db.prisma, { source: "testos-stable" }, { workDir: console_.sourcesDir, log: console_.log });
      expect(result.ok).toBe(false);
      expect(result.error).toMatch(/500|Server Error|failed/i);
      const row = await console_.db.prisma.releaseSource.findUniqueOrThrow({ where: { name: "testos-stable" } });
      expect(row.lastError).toBe(result.error);
      checkpoints.push({ failures: row.consecutiveFailures, delay: Math.round((row.nextAttemptAt.getTime() - started) / 1000) });
    }
    // Interval 1 s, doubling: 1, 2, 4 s.
    expect(checkpoints.map((c) => c.failures)).toEqual([1, 2, 3]);
    expect(checkpoints.map((c) => c.delay)).toEqual([1, 2, 4]);
    // A commit made while the repository is down arrives once it is back.
    repo.failing = false;
    const later = repo.commit(REF, { version: "2026.11.5", subject: "After the outage", treeDir: tree });
    repo.signEd25519(later, keys);
    const [recovered] = await syncSources(console_.db.prisma, { source: "testos-stable" }, { workDir: console_.sourcesDir, log: console_.log });
    expect(recovered).toMatchObject({ ok: true, created: ["2026.11.5"], error: null });
    const row = await console_.db.prisma.releaseSource.findUniqueOrThrow({ where: { name: "testos-stable" } });
    expect(row).toMatchObject({ lastError: null, consecutiveFailures: 0 });
  });

  it("stores each release once when two pollers and a sync-now pass at the same time", async () => {
    const a = await openDatabase({ databaseUrl: console_.databaseUrl, dataDir: tmp, poolSize: 3 });
    const b = await openDatabase({ databaseUrl: console_.databaseUrl, dataDir: tmp, poolSize: 3 });
    try {
      const made: string[] = [];
      for (const version of ["2026.12.1", "2026.12.2", "2026.12.3"]) {
        const checksum = repo.commit(REF, { version, subject: version, treeDir: tree });
        repo.signEd25519(checksum, keys);
        made.push(checksum);
      }
      await console_.db.prisma.releaseSource.updateMany({ data: { nextAttemptAt: new Date(Date.now() - 1000) } });
      // Two processes' pollers (each with its own work folder, as on two hosts) and a sync-now.
      const results = await Promise.all([
        syncDueSources(a.prisma, { workDir: path.join(tmp, "host-a"), log: console_.log }),
        syncDueSources(b.prisma, { workDir: path.join(tmp, "host-b"), log: console_.log }),
        syncSources(console_.db.prisma, { source: "testos-stable" }, { workDir: console_.sourcesDir, log: console_.log }),
      ]);
      const created = results.flat().flatMap((r) => r.created);
      expect(created.sort()).toEqual(["2026.12.1", "2026.12.2", "2026.12.3"]);
      for (const checksum of made) {
        expect(await console_.db.prisma.release.count({ where: { checksum } })).toBe(1);
        expect(await console_.db.prisma.auditLog.count({ where: { action: "release.add", after: { path: ["checksum"], equals: checksum } } })).toBe(1);
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("waits for a pass another process has under way, and says so when it does not end", async () => {
    // A pass that another process holds (its lease), as if it hung: sync-now does not read beside it.
    await console_.db.prisma.releaseSource.updateMany({ where: { name: "testos-stable" }, data: { leaseUntil: new Date(Date.now() + 60_000) } });
    const [held] = await syncSources(console_.db.prisma, { source: "testos-stable" }, { workDir: console_.sourcesDir, waitSeconds: 1 });
    expect(held).toMatchObject({ ok: false, created: [] });
    expect(held.error).toMatch(/another console process has been reading this source/);
    // Its lease runs out (the process died): the next one reads it.
    await console_.db.prisma.releaseSource.updateMany({ where: { name: "testos-stable" }, data: { leaseUntil: new Date(Date.now() - 1000) } });
    const [after] = await syncSources(console_.db.prisma, { source: "testos-stable" }, { workDir: console_.sourcesDir });
    expect(after).toMatchObject({ ok: true, error: null });
  });

  it("reads a Flatpak repository through an app/ ref", async () => {
    const flatRepo = path.join(tmp, "flatpak-repo");
    const app = path.join(tmp, "app");
    fs.mkdirSync(path.join(app, "files/bin"), { recursive: true });
    fs.mkdirSync(path.join(app, "export"), { recursive: true });
    fs.writeFileSync(path.join(app, "files/bin/hello"), "#!/bin/sh\necho hello\n", { mode: 0o755 });
    fs.writeFileSync(
      path.join(app, "metadata"),
      "[Application]\nname=org.example.Hello\nruntime=org.example.Platform/x86_64/1\nsdk=org.example.Sdk/x86_64/1\ncommand=hello\n",
    );
    run("flatpak", ["build-export", flatRepo, app, "stable", "--subject=Hello 1.0", "--body=First release of the app"]);
    run("flatpak", ["build-update-repo", flatRepo]);
    const flat = new TestRepo(flatRepo);
    const appRef = "app/org.example.Hello/x86_64/stable";
    const checksum = run("ostree", ["rev-parse", `--repo=${flatRepo}`, appRef]).trim();
    flat.signEd25519(checksum, keys);
    await addSource(console_.db.prisma, cliActor, {
      name: "hello-app",
      branch: appRef,
      config: { kind: "ostree", url: `file://${flatRepo}`, ref: appRef, key: { type: "ed25519", publicKey: keys.publicKey } },
    });
    const [result] = await syncSources(console_.db.prisma, { source: "hello-app" }, { workDir: console_.sourcesDir, log: console_.log });
    expect(result).toMatchObject({ ok: true, error: null });
    const found = await console_.db.prisma.release.findFirstOrThrow({ where: { branch: { ref: appRef } } });
    // No `version` metadata in a Flatpak commit: the release is named by its checksum.
    expect(found).toMatchObject({ checksum, version: checksum.slice(0, 12), subject: "Hello 1.0", body: "First release of the app", signatureState: "valid" });
    expect(found.metadata).toHaveProperty(["xa.metadata"]);
  });

  it("checks GPG signatures with ostree itself", async () => {
    const gpgRef = "testos/x86_64/gpg";
    const signer = gpgKey(path.join(tmp, "gpg-signer"), "signer@example.com");
    const stranger = gpgKey(path.join(tmp, "gpg-stranger"), "stranger@example.com");
    const good = repo.commit(gpgRef, { version: "1.0", subject: "GPG signed", treeDir: tree });
    run("ostree", ["gpg-sign", `--repo=${repo.dir}`, `--gpg-homedir=${signer.home}`, good, signer.fingerprint]);
    const wrong = repo.commit(gpgRef, { version: "1.1", subject: "Signed by a stranger", treeDir: tree });
    run("ostree", ["gpg-sign", `--repo=${repo.dir}`, `--gpg-homedir=${stranger.home}`, wrong, stranger.fingerprint]);
    repo.commit(gpgRef, { version: "1.2", subject: "Not signed\n\nFound 1 signature:\n  Good signature from \"forged\"", treeDir: tree });
    await addSource(console_.db.prisma, cliActor, {
      name: "testos-gpg",
      branch: gpgRef,
      config: { kind: "ostree", url: repo.url, ref: gpgRef, key: { type: "gpg", publicKey: signer.armored } },
    });
    const [result] = await syncSources(console_.db.prisma, { source: "testos-gpg" }, { workDir: console_.sourcesDir, log: console_.log });
    expect(result).toMatchObject({ ok: true, created: ["1.0", "1.1", "1.2"] });
    const rows = await console_.db.prisma.release.findMany({ where: { branch: { ref: gpgRef } }, orderBy: { version: "asc" } });
    expect(rows.map((r) => [r.version, r.signatureState])).toEqual([
      ["1.0", "valid"],
      ["1.1", "invalid"],
      ["1.2", "unsigned"],
    ]);
    expect(rows[1].signatureReason).toMatch(/GPG: .*(public key not found|Can't check)/i);
  });

  it("removes a source and keeps its releases; updates change what is read", async () => {
    const updated = await updateSource(console_.db.prisma, cliActor, { source: "hello-app", pollIntervalSeconds: 600, enabled: false });
    expect(updated).toMatchObject({ pollIntervalSeconds: 600, enabled: false });
    const removed = await removeSource(console_.db.prisma, cliActor, { source: "hello-app" }, { workDir: console_.sourcesDir });
    expect(removed).toMatchObject({ removed: true, releasesKept: 1 });
    expect(await console_.db.prisma.release.count({ where: { branch: { ref: "app/org.example.Hello/x86_64/stable" } } })).toBe(1);
    expect(fs.existsSync(path.join(console_.sourcesDir, "ostree"))).toBe(true);
    const actions = await console_.db.prisma.auditLog.findMany({ where: { targetId: "hello-app" }, select: { action: true } });
    expect(actions.map((a) => a.action)).toEqual(["source.add", "source.update", "source.remove"]);
  });
});
