// A ring's app set (protocol v1.2): which Flatpak apps its machines keep,
// from which remote, at which release. One function per action; each writes
// its audit row in its transaction, and the triggers of migration ring_apps
// tell every console process to forget the ring's cached view.
import { type Actor, writeAudit } from "../audit/audit";
import type { Prisma, PrismaClient } from "../db/client";
import { conflict, invalid } from "../errors";
import { domainEvents } from "../events";
import { assertSendable } from "../releases/sendable";
import { ACTIVE_ROLLOUT_STATES } from "../vocabulary";
import {
  listRingAppsInput,
  type RemoveRingAppInput,
  removeRingAppInput,
  type SetRingAppInput,
  setRingAppInput,
} from "./schemas";

type Tx = Prisma.TransactionClient;

export const ringAppSelect = {
  ref: true,
  remoteName: true,
  remoteUrl: true,
  remoteGpgKey: true,
  allowDowngrade: true,
  position: true,
  updatedAt: true,
  release: { select: { version: true, checksum: true, quarantinedAt: true } },
} satisfies Prisma.RingAppSelect;

type RingAppRow = Prisma.RingAppGetPayload<{ select: typeof ringAppSelect }>;

function shown(app: RingAppRow) {
  return {
    ref: app.ref,
    remote: { name: app.remoteName, url: app.remoteUrl, gpgKey: app.remoteGpgKey },
    release: { version: app.release.version, checksum: app.release.checksum, quarantined: app.release.quarantinedAt !== null },
    allowDowngrade: app.allowDowngrade,
    position: app.position,
    updatedAt: app.updatedAt,
  };
}

async function ringNamed(db: Tx | PrismaClient, name: string) {
  const ring = await db.ring.findUnique({ where: { name }, select: { id: true, name: true, appsManaged: true } });
  if (!ring) throw invalid("ring", `no ring named ${name}`);
  return ring;
}

/** The release `version` of the app `ref`, or the error naming `field`. */
export async function appRelease(db: Tx | PrismaClient, ref: string, version: string, field = "version") {
  const release = await db.release.findFirst({
    where: { version, branch: { ref } },
    select: { id: true, version: true, checksum: true, createdAt: true, quarantinedAt: true, signatureState: true, signatureReason: true },
  });
  if (!release) throw invalid(field, `app ${ref} has no release ${version} (register it as a release of ref ${ref}, or let an ostree source read the Flatpak repository)`);
  return release;
}

/** The ring's app set, in order. */
export async function listRingApps(db: PrismaClient, input: { ring: string }) {
  const { ring: name } = listRingAppsInput.parse(input);
  const ring = await ringNamed(db, name);
  const apps = await db.ringApp.findMany({ where: { ringId: ring.id }, orderBy: { position: "asc" }, select: ringAppSelect });
  return { ring: ring.name, managed: ring.appsManaged, apps: apps.map(shown) };
}

/**
 * Adds an app to the ring's app set or changes it (its remote, the release
 * the ring runs). From the first app on, the ring manages its machines'
 * apps: their answers carry `apps`, and keep doing so ([] once the set is
 * empty, so that the agents remove what they installed).
 */
export async function setRingApp(db: PrismaClient, actor: Actor, input: SetRingAppInput) {
  const data = setRingAppInput.parse(input);
  const result = await db.$transaction(async (tx) => {
    const ring = await ringNamed(tx, data.ring);
    // Serialise with rollout starts on this ring (rollouts.ts whyNotStart takes the same lock).
    await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtext(${`orchard:ring:${ring.id}`}))::text`;
    const release = await appRelease(tx, data.ref, data.version);
    if (release.quarantinedAt) throw conflict(`release ${release.version} is quarantined (emergency brake)`, "version");
    assertSendable(release, "version");
    const before = await tx.ringApp.findUnique({
      where: { ringId_ref: { ringId: ring.id, ref: data.ref } },
      select: { ...ringAppSelect, id: true, release: { select: { version: true, checksum: true, quarantinedAt: true, createdAt: true } } },
    });
    const rolling = await tx.rolloutRing.findFirst({
      where: {
        ringId: ring.id,
        phase: { notIn: ["completed", "reverted"] },
        rollout: { state: { in: [...ACTIVE_ROLLOUT_STATES] }, release: { branch: { ref: data.ref } } },
      },
      select: { rolloutId: true },
    });
    if (rolling && before && before.release.checksum !== release.checksum) {
      throw conflict(`rollout ${rolling.rolloutId} of ${data.ref} is under way in ring ${ring.name}: pause or abort it first`, "version");
    }
    const older = before !== null && release.createdAt < before.release.createdAt;
    if (older && !data.allowDowngrade) {
      throw invalid("allowDowngrade", `ring ${ring.name} runs ${before.release.version} of ${data.ref}, newer than ${release.version}: going back needs allowDowngrade`);
    }
    let app: RingAppRow;
    if (before) {
      app = await tx.ringApp.update({
        where: { id: before.id },
        data: {
          releaseId: release.id,
          allowDowngrade: before.release.checksum === release.checksum ? before.allowDowngrade : older,
          ...(data.remote ? { remoteName: data.remote.name, remoteUrl: data.remote.url, remoteGpgKey: data.remote.gpgKey ?? null } : {}),
        },
        select: ringAppSelect,
      });
    } else {
      if (!data.remote) throw invalid("remote", `app ${data.ref} is new to ring ${ring.name}: name its remote (name and URL)`);
      const count = await tx.ringApp.count({ where: { ringId: ring.id } });
      if (count >= 64) throw conflict(`ring ${ring.name} has 64 apps, the most an answer carries`, "ref");
      app = await tx.ringApp.create({
        data: {
          ringId: ring.id,
          ref: data.ref,
          remoteName: data.remote.name,
          remoteUrl: data.remote.url,
          remoteGpgKey: data.remote.gpgKey ?? null,
          releaseId: release.id,
          position: count,
        },
        select: ringAppSelect,
      });
    }
    if (!ring.appsManaged) await tx.ring.update({ where: { id: ring.id }, data: { appsManaged: true } });
    await writeAudit(tx, actor, {
      action: "ring.set-app",
      targetType: "ring",
      targetId: ring.name,
      reason: data.reason,
      before: before ? { ref: before.ref, release: before.release.version, remote: before.remoteName, url: before.remoteUrl } : null,
      after: { ref: app.ref, release: app.release.version, checksum: app.release.checksum, remote: app.remoteName, url: app.remoteUrl },
    });
    return { ringId: ring.id, app };
  });
  domainEvents.emit("ringChanged", result.ringId);
  return shown(result.app);
}

/** Takes an app out of the ring's app set: its machines remove it (if Orchard installed it). */
export async function removeRingApp(db: PrismaClient, actor: Actor, input: RemoveRingAppInput) {
  const data = removeRingAppInput.parse(input);
  const result = await db.$transaction(async (tx) => {
    const ring = await ringNamed(tx, data.ring);
    await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtext(${`orchard:ring:${ring.id}`}))::text`;
    const before = await tx.ringApp.findUnique({ where: { ringId_ref: { ringId: ring.id, ref: data.ref } }, select: { id: true, ...ringAppSelect } });
    if (!before) throw invalid("ref", `ring ${ring.name} has no app ${data.ref}`);
    const rolling = await tx.rolloutRing.findFirst({
      where: { ringId: ring.id, rollout: { state: { in: [...ACTIVE_ROLLOUT_STATES] }, release: { branch: { ref: data.ref } } } },
      select: { rolloutId: true },
    });
    if (rolling) throw conflict(`rollout ${rolling.rolloutId} of ${data.ref} includes ring ${ring.name}: abort it first`, "ref");
    await tx.ringApp.delete({ where: { id: before.id } });
    // Keep the order dense.
    await tx.$executeRaw`UPDATE ring_apps SET position = position - 1 WHERE ring_id = ${ring.id} AND position > ${before.position}`;
    await writeAudit(tx, actor, {
      action: "ring.remove-app",
      targetType: "ring",
      targetId: ring.name,
      reason: data.reason,
      before: { ref: before.ref, release: before.release.version, remote: before.remoteName },
    });
    return { ringId: ring.id, ring: ring.name };
  });
  domainEvents.emit("ringChanged", result.ringId);
  return { ring: result.ring, ref: data.ref, removed: true };
}
