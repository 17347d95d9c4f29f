// A machine's apps: what it reported installed (protocol v1.2), for the
// machine page, and its pins per app (it keeps the pinned release of that app
// whatever its ring runs or rolls out; the rest of its apps follow the ring).
import { type Actor, writeAudit } from "../audit/audit";
import type { Prisma, PrismaClient } from "../db/client";
import { conflict, invalid, notFound } from "../errors";
import { domainEvents } from "../events";
import { assertSendable } from "../releases/sendable";
import { rejudgeMachines } from "../rollouts/tracking";
import { APP_UPDATE_STATES, type AppUpdateState } from "../vocabulary";
import { appRelease } from "./ring-apps";
import { type PinMachineAppInput, pinMachineAppInput, type UnpinMachineAppInput, unpinMachineAppInput } from "./schemas";

async function machineNamed(db: Prisma.TransactionClient | PrismaClient, machineId: string) {
  const machine = await db.machine.findUnique({ where: { machineId }, select: { id: true, retiredAt: true, ring: { select: { name: true } } } });
  if (!machine || machine.retiredAt) throw notFound(`machine ${machineId}`);
  return machine;
}

/** The machine's installed apps and runtimes as last reported, apps first, each with the release its commit is (when registered) and its pin. */
export async function listMachineApps(db: PrismaClient, input: { machineId: string }) {
  const machine = await machineNamed(db, input.machineId);
  const rows = await db.$queryRaw<
    {
      ref: string;
      commit: string | null;
      version: string | null;
      origin: string | null;
      managed: boolean;
      update_state: string | null;
      update_target: string | null;
      update_error: string | null;
      health_status: string | null;
      health_checks: { name: string; status: string; output?: string | null }[];
      pinned_version: string | null;
      updated_at: Date;
    }[]
  >`
    SELECT a.ref, a.commit, rel.version, a.origin, a.managed, a.update_state, a.update_target, a.update_error,
           a.health_status, a.health_checks, pin.version AS pinned_version, a.updated_at
      FROM machine_apps a
      LEFT JOIN LATERAL (SELECT r.version FROM releases r JOIN branches b ON b.id = r.branch_id
                          WHERE b.ref = a.ref AND r.checksum = a.commit LIMIT 1) rel ON true
      LEFT JOIN LATERAL (SELECT r.version FROM machine_app_pins p JOIN releases r ON r.id = p.release_id
                          WHERE p.machine_id = a.machine_id AND p.ref = a.ref) pin ON true
     WHERE a.machine_id = ${machine.id}
     ORDER BY a.ref LIKE 'app/%' DESC, a.ref`;
  return rows.map((r) => ({
    ref: r.ref,
    kind: r.ref.startsWith("app/") ? ("app" as const) : ("runtime" as const),
    commit: r.commit,
    version: r.version,
    origin: r.origin,
    managed: r.managed,
    updateState: (APP_UPDATE_STATES as readonly string[]).includes(r.update_state ?? "") ? (r.update_state as AppUpdateState) : null,
    updateTarget: r.update_target,
    updateError: r.update_error,
    healthStatus: r.health_status,
    healthChecks: r.health_checks ?? [],
    pinnedVersion: r.pinned_version,
    updatedAt: r.updated_at,
  }));
}

/** Pins one app of a machine to a release of it. */
export async function pinMachineApp(db: PrismaClient, actor: Actor, input: PinMachineAppInput) {
  const data = pinMachineAppInput.parse(input);
  const id = await db.$transaction(async (tx) => {
    const machine = await machineNamed(tx, data.machineId);
    const release = await appRelease(tx, data.ref, data.version);
    if (release.quarantinedAt) throw conflict(`release ${release.version} is quarantined (emergency brake)`, "version");
    assertSendable(release, "version");
    const before = await tx.machineAppPin.findUnique({
      where: { machineId_ref: { machineId: machine.id, ref: data.ref } },
      select: { release: { select: { version: true } } },
    });
    await tx.machineAppPin.upsert({
      where: { machineId_ref: { machineId: machine.id, ref: data.ref } },
      create: { machineId: machine.id, ref: data.ref, releaseId: release.id },
      update: { releaseId: release.id },
    });
    await rejudgeForApps(tx, machine.id);
    await writeAudit(tx, actor, {
      action: "machine.pin-app",
      targetType: "machine",
      targetId: data.machineId,
      reason: data.reason,
      before: { ref: data.ref, pinned: before?.release.version ?? null },
      after: { ref: data.ref, pinned: release.version, checksum: release.checksum },
    });
    return machine.id;
  });
  domainEvents.emit("machineChanged", id);
  return { machineId: data.machineId, ref: data.ref, pinned: data.version };
}

/**
 * A machine's part in its app rollouts changed (an app pin, kept in its own
 * table, which the machines triggers do not see): raise its version so the
 * controller looks at it again, and judge it now.
 */
async function rejudgeForApps(tx: Prisma.TransactionClient, machineId: string) {
  await tx.$executeRaw`UPDATE machines SET state_version = nextval('machine_state_version') WHERE id = ${machineId}`;
  await rejudgeMachines(tx, [machineId]);
}

/** Lets one app of a machine follow its ring again. */
export async function unpinMachineApp(db: PrismaClient, actor: Actor, input: UnpinMachineAppInput) {
  const data = unpinMachineAppInput.parse(input);
  const id = await db.$transaction(async (tx) => {
    const machine = await machineNamed(tx, data.machineId);
    const before = await tx.machineAppPin.findUnique({
      where: { machineId_ref: { machineId: machine.id, ref: data.ref } },
      select: { release: { select: { version: true } } },
    });
    if (!before) throw invalid("ref", `machine ${data.machineId} is not pinned for ${data.ref}`);
    await tx.machineAppPin.delete({ where: { machineId_ref: { machineId: machine.id, ref: data.ref } } });
    await rejudgeForApps(tx, machine.id);
    await writeAudit(tx, actor, {
      action: "machine.unpin-app",
      targetType: "machine",
      targetId: data.machineId,
      reason: data.reason,
      before: { ref: data.ref, pinned: before.release.version },
      after: { ref: data.ref, pinned: null },
    });
    return machine.id;
  });
  domainEvents.emit("machineChanged", id);
  return { machineId: data.machineId, ref: data.ref, pinned: null };
}
