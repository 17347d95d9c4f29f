// Follow mode with real parts: an ostree archive repository served over HTTP,
// commits signed with the source's ed25519 key (or not at all), a console
// whose poller reads it with the real `ostree`, and rings a and b following
// the branch while c does not. A new signed release starts one rollout over
// a and b by the source, each ring with its own default policy, b waiting
// for approval; an unsigned one, a busy ring, or follow mode off start
// nothing. Two syncs held at once inside their transactions start one.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { openDatabase } from "../../server/db/client";
import { addSource, syncSources } from "../../server/release-sources/sources";
import { createRing, listRings, updateRingPolicy } from "../../server/rings/rings";
import { RolloutController } from "../../server/rollouts/controller";
import { abortRollout, getRollout } from "../../server/rollouts/rollouts";
import { createWebhook } from "../../server/webhooks/webhooks";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { waitFor } from "../helpers/fleet";
import { ed25519Keys, TestRepo } from "../helpers/ostree-repo";

const REF = "testos/x86_64/follow";
const SOURCE = "testos-follow";

describe("follow mode", () => {
  let tmp: string;
  let console_: TestConsole;
  let repo: TestRepo;
  let tree: string;
  const keys = ed25519Keys();

  const db = () => console_.db.prisma;
  const release = (version: string) => db().release.findFirst({ where: { version, branch: { ref: REF } }, select: { id: true, signatureState: true } });
  const rolloutsOf = (version: string) =>
    db().rollout.findMany({ where: { release: { version, branch: { ref: REF } } }, select: { id: true, createdBy: true, state: true } });
  const skips = (version: string) =>
    db().auditLog.findMany({ where: { action: "rollout.follow-skip", targetId: `${REF}@${version}` }, select: { actorLabel: true, reason: true } });
  /** A commit on the branch, signed with the source's key unless told otherwise; resolves with its release. */
  const commit = async (version: string, signed = true) => {
    const checksum = repo.commit(REF, { version, subject: `build ${version}`, treeDir: tree });
    if (signed) repo.signEd25519(checksum, keys);
    return waitFor(`release ${version}`, () => release(version), 30_000, 200);
  };
  const step = (rolloutId: string) => new RolloutController(console_.db, { clock: console_.clock, log: console_.log, intervalMs: 1000 }).stepRollout(rolloutId);

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(process.env.TMPDIR ?? os.tmpdir(), "orch-follow-"));
    tree = path.join(tmp, "tree");
    repo = TestRepo.create(path.join(tmp, "repo"));
    await repo.serve();
    console_ = await startTestConsole({ ORCHARD_SOURCE_POLL_MS: "200" });
    for (const name of ["a", "b", "c"]) await createRing(db(), cliActor, { name, branch: REF });
  });

  afterAll(async () => {
    await console_?.stop();
    await repo?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("is off by default: a signed release starts nothing, and the rings show the plan's default policy", async () => {
    const rings = await listRings(db());
    for (const ring of rings) {
      expect(ring).toMatchObject({
        follow: false,
        followApproval: true,
        rolloutPolicy: { waves: [10, 50, 100], singleFirst: true, soakSeconds: 1800, maxFailureRate: 0.05, minSample: 5, darkAfterSeconds: 1800 },
      });
    }
    await addSource(db(), cliActor, {
      name: SOURCE,
      branch: REF,
      config: { kind: "ostree", url: repo.url, ref: REF, key: { type: "ed25519", publicKey: keys.publicKey } },
      pollIntervalSeconds: 1,
    });
    expect(await commit("1.0")).toMatchObject({ signatureState: "valid" });
    expect(await db().rollout.count()).toBe(0);
    expect(await db().auditLog.count({ where: { action: "rollout.follow-skip" } })).toBe(0);
  });

  it("refuses a bad default policy naming the field, and changes nothing", async () => {
    const error = await updateRingPolicy(db(), cliActor, { ring: "a", follow: true, rolloutPolicy: { waves: [50, 40] } }).catch((e: unknown) => e);
    expect(JSON.stringify((error as { issues: unknown }).issues)).toMatch(/"rolloutPolicy","waves"/);
    expect((await listRings(db())).find((r) => r.name === "a")).toMatchObject({ follow: false, rolloutPolicy: { waves: [10, 50, 100] } });
  });

  it("starts one rollout of a new signed release over the following rings, by the source, with each ring's policy, b awaiting approval", async () => {
    await updateRingPolicy(db(), cliActor, {
      ring: "a",
      follow: true,
      rolloutPolicy: { waves: [25, 100], singleFirst: false, soakSeconds: 60, maxFailureRate: 0.1, minSample: 2, darkAfterSeconds: 600 },
    });
    // Only the waves change: the rest of b's policy stays the default.
    await updateRingPolicy(db(), cliActor, { ring: "b", follow: true, rolloutPolicy: { waves: [50, 100] } });
    expect((await listRings(db())).map((r) => [r.name, r.follow, r.followApproval, r.rolloutPolicy.waves, r.rolloutPolicy.soakSeconds])).toEqual([
      ["a", true, true, [25, 100], 60],
      ["b", true, true, [50, 100], 1800],
      ["c", false, true, [10, 50, 100], 1800],
    ]);
    const webhook = await createWebhook(db(), cliActor, { url: "http://127.0.0.1:9/nobody", events: ["rollout.started"] }, { allowPrivate: true }, console_.secretBox);

    await commit("2.0");
    const [rollout] = await waitFor("a rollout of 2.0", async () => ((await rolloutsOf("2.0")).length ? rolloutsOf("2.0") : null), 30_000, 200);
    expect(rollout.createdBy).toBe(`source:${SOURCE}`);
    const detail = await getRollout(db(), rollout.id);
    expect(detail.rings.map((r) => [r.ring.name, r.percents, r.singleFirst, r.soakSeconds, r.maxFailureRate, r.minSample, r.darkAfterSeconds, r.approvalRequired])).toEqual([
      ["a", [25, 100], false, 60, 0.1, 2, 600, false],
      ["b", [50, 100], true, 1800, 0.05, 5, 1800, true],
    ]);
    const audit = await db().auditLog.findMany({ where: { action: "rollout.start", targetId: rollout.id }, select: { actorLabel: true, reason: true, after: true } });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actorLabel: `source:${SOURCE}`, reason: `follow mode: source ${SOURCE} brought release 2.0`, after: { release: "2.0", follow: true } });
    const sent = await db().webhookDelivery.findMany({ where: { subscriptionId: webhook.subscription.id, kind: "rollout.started" }, select: { body: true } });
    expect(sent).toHaveLength(1);
    expect(JSON.parse(sent[0].body)).toMatchObject({ type: "rollout.started", data: { rolloutId: rollout.id, release: { version: "2.0", ref: REF }, rings: ["a", "b"], startedBy: `source:${SOURCE}` } });

    // Ring a has no machines: it completes at once; b waits for an operator.
    for (let i = 0; i < 3; i++) await step(rollout.id);
    const after = await getRollout(db(), rollout.id);
    expect(after.state).toBe("awaiting_approval");
    expect(after.rings.map((r) => [r.ring.name, r.phase])).toEqual([
      ["a", "completed"],
      ["b", "awaiting_approval"],
    ]);
  });

  it("starts nothing for an unsigned release, nor while a following ring is busy, and says why in the audit log", async () => {
    await commit("3.0", false);
    await waitFor("3.0's skip", async () => ((await skips("3.0")).length ? true : null), 30_000, 200);
    expect(await rolloutsOf("3.0")).toEqual([]);
    expect(await skips("3.0")).toEqual([{ actorLabel: `source:${SOURCE}`, reason: expect.stringMatching(/^release 3\.0 is unsigned.*cannot be sent to machines$/) }]);

    await commit("4.0");
    await waitFor("4.0's skip", async () => ((await skips("4.0")).length ? true : null), 30_000, 200);
    expect(await rolloutsOf("4.0")).toEqual([]);
    expect(await skips("4.0")).toEqual([{ actorLabel: `source:${SOURCE}`, reason: expect.stringMatching(/^ring b is already in rollout .* \(2\.0\): follow mode started nothing$/) }]);

    // Once the ring is free, the next release starts.
    const [busy] = await rolloutsOf("2.0");
    await abortRollout(db(), cliActor, { rolloutId: busy.id });
    await commit("5.0");
    await waitFor("a rollout of 5.0", async () => ((await rolloutsOf("5.0")).length ? true : null), 30_000, 200);
    expect(await rolloutsOf("5.0")).toHaveLength(1);
    await abortRollout(db(), cliActor, { rolloutId: (await rolloutsOf("5.0"))[0].id });
  });

  it("starts nothing once follow mode is off again", async () => {
    await updateRingPolicy(db(), cliActor, { ring: "a", follow: false });
    await updateRingPolicy(db(), cliActor, { ring: "b", follow: false });
    await commit("6.0");
    // The pass that brought 6.0 is over (the release is stored in its transaction): nothing started.
    expect(await rolloutsOf("6.0")).toEqual([]);
    expect(await skips("6.0")).toEqual([]);
  });

  it("starts one rollout when two syncs of the same release overlap inside their transactions", async () => {
    await updateRingPolicy(db(), cliActor, { ring: "a", follow: true, followApproval: false });
    await updateRingPolicy(db(), cliActor, { ring: "b", follow: true, followApproval: false });
    await db().releaseSource.update({ where: { name: SOURCE }, data: { enabled: false } });
    const other = await openDatabase({ databaseUrl: console_.databaseUrl, dataDir: tmp, poolSize: 3 });
    // The test holds the releases table: each sync stops at its insert, inside its transaction, until both are there.
    const holder = await console_.db.pool.connect();
    try {
      const checksum = repo.commit(REF, { version: "7.0", subject: "build 7.0", treeDir: tree });
      repo.signEd25519(checksum, keys);
      await holder.query("BEGIN");
      await holder.query("LOCK TABLE releases IN SHARE MODE");
      const waiting = async (n: number) => {
        const { rows } = await holder.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted AND l.locktype = 'relation' AND a.datname = current_database()",
        );
        return rows[0].n >= n ? true : null;
      };
      const first = syncSources(db(), { source: SOURCE }, { workDir: path.join(tmp, "host-a"), log: console_.log });
      await waitFor("the first sync at its insert", () => waiting(1), 30_000, 50);
      // As when a lease ran out under a slow pass: a second process passes over the source too.
      await db().releaseSource.update({ where: { name: SOURCE }, data: { leaseUntil: null } });
      const second = syncSources(other.prisma, { source: SOURCE }, { workDir: path.join(tmp, "host-b"), log: console_.log });
      await waitFor("the second sync at its insert", () => waiting(2), 30_000, 50);
      await holder.query("COMMIT");
      const results = (await Promise.all([first, second])).flat();
      expect(results.map((r) => r.ok)).toEqual([true, true]);
      expect(results.flatMap((r) => r.created)).toEqual(["7.0"]);
      expect(results.filter((r) => r.rolloutStarted).map((r) => r.rolloutStarted!.version)).toEqual(["7.0"]);
    } finally {
      await holder.query("ROLLBACK").catch(() => undefined);
      holder.release();
      await other.close();
    }
    expect(await rolloutsOf("7.0")).toHaveLength(1);
    expect(await skips("7.0")).toEqual([]);
    expect(await db().auditLog.count({ where: { action: "rollout.start", actorLabel: `source:${SOURCE}`, after: { path: ["release"], equals: "7.0" } } })).toBe(1);
    expect(await db().auditLog.count({ where: { action: "release.add", targetId: `${REF}@7.0` } })).toBe(1);
  });
});
