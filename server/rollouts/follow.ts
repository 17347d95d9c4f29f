// Follow mode: a ring that follows its branch gets a rollout of each new,
// correctly signed release its branch's source brings, started by the source
// in the very transaction that stores the release. The release row is unique
// per branch and checksum, and only the transaction that inserted it starts
// anything: a retried pass, or two consoles passing over the same source at
// once, start one rollout per release. What keeps a release from starting
// (its signature, a newer release in the same pass, a busy ring, a ring on a
// newer release) is written in the audit log, and the pass goes on.
import { type Actor, writeAudit } from "../audit/audit";
import type { Prisma } from "../db/client";
import { followability } from "../releases/sendable";
import { policyOf } from "./policy";
import { insertRollout, type StartRelease, startRingSelect, whyNotStart } from "./rollouts";

type Tx = Prisma.TransactionClient;

/** What follow mode did with the releases of one pass. */
export interface FollowResult {
  /** The rollout it started, and of which release. */
  started: { rolloutId: string; version: string } | null;
  /** Releases that started nothing, with why. */
  skipped: { version: string; reason: string }[];
}

const NOTHING: FollowResult = { started: null, skipped: [] };

/** The rollout-start audit row's reason for a follow rollout. */
export function followReason(source: string, version: string) {
  return `follow mode: source ${source} brought release ${version}`;
}

/**
 * Starts a rollout of the newest followable release among `inserted` (rows
 * this transaction inserted, oldest first) over the branch's following
 * rings, in ring order, each with its own default policy; an operator
 * approves before each ring after the first that asks for it.
 */
export async function followNewReleases(tx: Tx, actor: Actor, branchId: string, insertedIds: readonly string[], now: Date): Promise<FollowResult> {
  if (insertedIds.length === 0) return NOTHING;
  const rings = await tx.ring.findMany({
    where: { branchId, follow: true },
    orderBy: [{ position: "asc" }, { name: "asc" }],
    select: { ...startRingSelect, followApproval: true, rolloutPolicy: true },
  });
  if (rings.length === 0) return NOTHING;
  const releases = await tx.release.findMany({
    where: { id: { in: [...insertedIds] } },
    orderBy: [{ createdAt: "desc" }, { seq: "desc" }],
    select: {
      id: true,
      version: true,
      checksum: true,
      createdAt: true,
      quarantinedAt: true,
      signatureState: true,
      signatureReason: true,
      branch: { select: { id: true, ref: true } },
    },
  });
  const skipped: FollowResult["skipped"] = [];
  let chosen: StartRelease | null = null;
  for (const release of releases) {
    const verdict = followability(release);
    if (!verdict.followable) skipped.push({ version: release.version, reason: verdict.reason! });
    else if (chosen) skipped.push({ version: release.version, reason: `release ${chosen.version}, newer, came in the same pass: follow mode starts the newest` });
    else chosen = release;
  }
  let started: FollowResult["started"] = null;
  if (chosen) {
    const refusal = await whyNotStart(tx, chosen, rings, false);
    if (refusal) {
      skipped.unshift({ version: chosen.version, reason: `${refusal.why}: follow mode started nothing` });
    } else {
      const starts = rings.map((ring, position) => ({
        ring,
        policy: policyOf(ring.rolloutPolicy),
        approvalRequired: position > 0 && ring.followApproval,
        forceFirst: { machineIds: [], labels: {} },
        exclude: { machineIds: [], labels: {} },
      }));
      const created = await insertRollout(
        tx,
        actor,
        chosen,
        starts,
        {
          allowDowngrade: false,
          reason: followReason(actor.label.replace(/^source:/, ""), chosen.version),
          after: {
            follow: true,
            rings: starts.map((s) => ({ ring: s.ring.name, ...s.policy, approvalRequired: s.approvalRequired })),
          },
        },
        now,
      );
      started = { rolloutId: created.id, version: chosen.version };
    }
  }
  const ref = releases[0].branch.ref;
  for (const skip of skipped) {
    await writeAudit(
      tx,
      actor,
      {
        action: "rollout.follow-skip",
        targetType: "release",
        targetId: `${ref}@${skip.version}`,
        reason: skip.reason,
        after: { rings: rings.map((r) => r.name) },
      },
      now,
    );
  }
  return { started, skipped };
}
