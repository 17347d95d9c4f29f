// Follow mode with two console processes on one database, both polling the
// same ostree source (a real repository served over HTTP, commits signed
// with the source's ed25519 key) every second, both running the rollout
// controller: each new release starts exactly one rollout, written once in
// the audit log with the source as the actor.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { type Database, openDatabase } from "../../server/db/client";
import { addSource } from "../../server/release-sources/sources";
import { createRing, updateRingPolicy } from "../../server/rings/rings";
import { freshDatabaseUrl } from "../helpers/console";
import { type ConsoleProcess, consoleProcessSlot, removeConsoleProcess, startConsoleProcess } from "../helpers/console-process";
import { waitFor } from "../helpers/fleet";
import { ed25519Keys, TestRepo } from "../helpers/ostree-repo";

const REF = "testos/x86_64/follow2";
const SOURCE = "testos-two";
const RELEASES = ["1", "2", "3", "4", "5"];

describe("follow mode with two console processes", () => {
  let tmp: string;
  let db: Database;
  let repo: TestRepo;
  let tree: string;
  const consoles: ConsoleProcess[] = [];
  const keys = ed25519Keys();

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(process.env.TMPDIR ?? os.tmpdir(), "orch-follow2-"));
    tree = path.join(tmp, "tree");
    repo = TestRepo.create(path.join(tmp, "repo"));
    await repo.serve();
    const databaseUrl = await freshDatabaseUrl();
    db = await openDatabase({ databaseUrl, dataDir: tmp, migrate: false });
    // Rings without machines: a rollout over them completes as soon as the controller looks at it.
    const quick = { waves: [100], singleFirst: false, soakSeconds: 0 };
    for (const name of ["a", "b", "c"]) await createRing(db.prisma, cliActor, { name, branch: REF });
    await updateRingPolicy(db.prisma, cliActor, { ring: "a", follow: true, rolloutPolicy: quick });
    await updateRingPolicy(db.prisma, cliActor, { ring: "b", follow: true, followApproval: false, rolloutPolicy: quick });
    await addSource(db.prisma, cliActor, {
      name: SOURCE,
      branch: REF,
      config: { kind: "ostree", url: repo.url, ref: REF, key: { type: "ed25519", publicKey: keys.publicKey } },
      pollIntervalSeconds: 1,
    });
    for (let i = 0; i < 2; i++) {
      const slot = await consoleProcessSlot(databaseUrl, { ORCHARD_SOURCE_POLL_MS: "200" });
      consoles.push(slot);
      await startConsoleProcess(slot);
    }
  }, 180_000);

  afterAll(async () => {
    for (const slot of consoles) await removeConsoleProcess(slot);
    await db?.close();
    await repo?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("starts exactly one rollout per new release, audited once, by the source", async () => {
    for (const version of RELEASES) {
      const checksum = repo.commit(REF, { version, subject: `build ${version}`, treeDir: tree });
      repo.signEd25519(checksum, keys);
      // Both consoles poll the source; the rollout of this release runs to its end before the next commit.
      await waitFor(
        `the rollout of ${version} completed`,
        async () => (await db.prisma.rollout.findFirst({ where: { release: { version }, state: "completed" }, select: { id: true } })) ?? null,
        60_000,
        200,
      );
    }
    // A few more passes of both consoles over a source with nothing new.
    const passes = await db.prisma.releaseSource.findUniqueOrThrow({ where: { name: SOURCE }, select: { lastSuccessAt: true } });
    await waitFor(
      "later passes",
      async () => {
        const now = await db.prisma.releaseSource.findUniqueOrThrow({ where: { name: SOURCE }, select: { lastSuccessAt: true } });
        return now.lastSuccessAt && passes.lastSuccessAt && now.lastSuccessAt.getTime() - passes.lastSuccessAt.getTime() > 2500 ? true : null;
      },
      30_000,
      200,
    );
    for (const version of RELEASES) {
      const rollouts = await db.prisma.rollout.findMany({
        where: { release: { version, branch: { ref: REF } } },
        select: { createdBy: true, rings: { orderBy: { position: "asc" }, select: { ring: { select: { name: true } } } } },
      });
      expect(rollouts).toEqual([{ createdBy: `source:${SOURCE}`, rings: [{ ring: { name: "a" } }, { ring: { name: "b" } }] }]);
      expect(await db.prisma.auditLog.count({ where: { action: "rollout.start", after: { path: ["release"], equals: version } } })).toBe(1);
      expect(await db.prisma.auditLog.count({ where: { action: "release.add", targetId: `${REF}@${version}` } })).toBe(1);
    }
    // Both processes read the source: each keeps its own copy of it in its data folder.
    for (const slot of consoles) expect(fs.readdirSync(path.join(slot.dataDir, "release-sources")).length).toBeGreaterThan(0);
    expect(await db.prisma.auditLog.count({ where: { action: "rollout.start", NOT: { actorLabel: `source:${SOURCE}` } } })).toBe(0);
    expect(await db.prisma.auditLog.count({ where: { action: "rollout.follow-skip" } })).toBe(0);
    expect(await db.prisma.ring.findMany({ orderBy: { position: "asc" }, select: { name: true, currentRelease: { select: { version: true } } } })).toEqual([
      { name: "a", currentRelease: { version: "5" } },
      { name: "b", currentRelease: { version: "5" } },
      { name: "c", currentRelease: null },
    ]);
  });
});
