// Branches (ostree refs) and releases (immutable commits on a branch).
import { type Actor, writeAudit } from "../audit/audit";
import type { Prisma, PrismaClient } from "../db/client";
import { conflict } from "../errors";
import { escapeLike } from "../text";
import { ACTIVE_ROLLOUT_STATES } from "../vocabulary";
import { findReleaseId, releaseChanges } from "./changes";
import { sendability, type SignedRelease } from "./sendable";
import {
  type AddReleaseInput,
  addReleaseInput,
  type GetReleaseInput,
  getReleaseInput,
  type ListReleasesPageInput,
  listReleasesPageInput,
  type ReleaseSortField,
} from "./schemas";

/** The branch for `ref`, created on first use. */
export async function ensureBranch(tx: Prisma.TransactionClient, actor: Actor, ref: string) {
  const existing = await tx.branch.findUnique({ where: { ref }, select: { id: true, ref: true } });
  if (existing) return existing;
  const branch = await tx.branch.create({ data: { ref }, select: { id: true, ref: true } });
  await writeAudit(tx, actor, {
    action: "branch.create",
    targetType: "branch",
    targetId: ref,
    after: { ref },
  });
  return branch;
}

export const releaseSelect = {
  id: true,
  checksum: true,
  version: true,
  notes: true,
  createdAt: true,
  quarantinedAt: true,
  quarantineReason: true,
  builtAt: true,
  subject: true,
  signatureState: true,
  signatureReason: true,
  source: { select: { name: true } },
  branch: { select: { ref: true } },
} satisfies Prisma.ReleaseSelect;

/** A release row with what the one rule says of sending it (server/releases/sendable.ts), for the console and the API to show. */
function withSendability<R extends SignedRelease>(release: R) {
  const { sendable, reason } = sendability(release);
  return { ...release, sendable, unsendableReason: reason };
}

export async function addRelease(db: PrismaClient, actor: Actor, input: AddReleaseInput) {
  const data = addReleaseInput.parse(input);
  return db.$transaction(async (tx) => {
    const branch = await ensureBranch(tx, actor, data.ref);
    const clash = await tx.release.findFirst({
      where: { branchId: branch.id, OR: [{ version: data.version }, { checksum: data.checksum }] },
      select: { version: true, checksum: true },
    });
    if (clash) {
      throw clash.version === data.version
        ? conflict(`${data.ref} already has a release ${data.version} (releases are immutable)`, "version")
        : conflict(`${data.checksum} is already release ${clash.version} of ${data.ref}`, "checksum");
    }
    const release = await tx.release.create({
      data: { branchId: branch.id, checksum: data.checksum, version: data.version, notes: data.notes },
      select: releaseSelect,
    });
    await writeAudit(tx, actor, {
      action: "release.add",
      targetType: "release",
      targetId: `${data.ref}@${data.version}`,
      after: { ref: data.ref, checksum: data.checksum, version: data.version },
    });
    return release;
  });
}

/**
 * One release (by id, or by version and branch): its signature, floor and
 * source, the rings that run it and those a rollout under way brings it to,
 * its rollouts, and what changed since the previous release of its branch.
 */
export async function getRelease(db: PrismaClient, input: GetReleaseInput) {
  const id = await findReleaseId(db, getReleaseInput.parse(input));
  const release = await db.release.findUniqueOrThrow({
    where: { id },
    select: {
      ...releaseSelect,
      body: true,
      metadata: true,
      floor: true,
      floorReason: true,
      seq: true,
      branchId: true,
      sourceId: true,
      currentFor: { select: { name: true }, orderBy: { position: "asc" } },
      rollouts: { orderBy: { createdAt: "desc" }, take: 50, select: { id: true, state: true, createdAt: true, finishedAt: true } },
    },
  });
  const [previous, rolling, changes] = await Promise.all([
    db.release.findFirst({ where: { branchId: release.branchId, seq: { lt: release.seq } }, orderBy: { seq: "desc" }, select: { id: true, version: true } }),
    db.rolloutRing.findMany({
      where: { rollout: { releaseId: id, state: { in: [...ACTIVE_ROLLOUT_STATES] } } },
      orderBy: [{ rollout: { createdAt: "asc" } }, { position: "asc" }],
      select: { rolloutId: true, ring: { select: { name: true } } },
    }),
    releaseChanges(db, release),
  ]);
  const { seq: _seq, branchId: _branchId, sourceId: _sourceId, ...rest } = release;
  return {
    ...withSendability(rest),
    previous,
    rollingTo: rolling.map((r) => ({ name: r.ring.name, rolloutId: r.rolloutId })),
    ...changes,
  };
}

export async function listReleases(db: PrismaClient, options: { ref?: string } = {}) {
  const rows = await db.release.findMany({
    where: options.ref ? { branch: { ref: options.ref } } : undefined,
    orderBy: [{ createdAt: "desc" }],
    select: releaseSelect,
    take: 500,
  });
  return rows.map(withSendability);
}

function releaseOrderBy(sort: ReleaseSortField, dir: "asc" | "desc"): Prisma.ReleaseOrderByWithRelationInput[] {
  const primary: Prisma.ReleaseOrderByWithRelationInput = {
    createdAt: { createdAt: dir },
    version: { version: dir },
    builtAt: { builtAt: { sort: dir, nulls: "last" as const } },
    ref: { branch: { ref: dir } },
  }[sort];
  // A unique tie-breaker keeps pages stable.
  return [primary, { id: "asc" }];
}

/** One page of releases, with the rings that currently run each. */
export async function listReleasesPage(db: PrismaClient, input: ListReleasesPageInput) {
  const query = listReleasesPageInput.parse(input);
  const where: Prisma.ReleaseWhereInput = {};
  if (query.ref) where.branch = { ref: query.ref };
  if (query.q) {
    where.OR = [
      { version: { contains: escapeLike(query.q), mode: "insensitive" } },
      { checksum: { startsWith: escapeLike(query.q.toLowerCase()) } },
    ];
  }
  const [rows, total] = await Promise.all([
    db.release.findMany({
      where,
      orderBy: releaseOrderBy(query.sort, query.dir),
      skip: query.page * query.pageSize,
      take: query.pageSize,
      select: {
        ...releaseSelect,
        currentFor: { select: { name: true }, orderBy: { position: "asc" } },
        // What the emergency brake would stop.
        _count: { select: { rollouts: { where: { state: { in: [...ACTIVE_ROLLOUT_STATES] } } } } },
      },
    }),
    db.release.count({ where }),
  ]);
  // Where each release runs: machines (not retired) that booted its commit.
  const booted = await db.machine.groupBy({
    by: ["bootedChecksum"],
    where: { bootedChecksum: { in: rows.map((r) => r.checksum) }, retiredAt: null },
    _count: { _all: true },
  });
  const bootedBy = new Map(booted.map((b) => [b.bootedChecksum, b._count._all]));
  return {
    rows: rows.map(({ _count, ...r }) => ({ ...withSendability(r), activeRollouts: _count.rollouts, bootedMachines: bootedBy.get(r.checksum) ?? 0 })),
    total,
    page: query.page,
    pageSize: query.pageSize,
  };
}

/** Every branch, with how many releases and rings it has. */
export async function listBranches(db: PrismaClient) {
  const branches = await db.branch.findMany({
    orderBy: { ref: "asc" },
    select: { ref: true, createdAt: true, _count: { select: { releases: true, rings: true } } },
    take: 1000,
  });
  return branches.map(({ _count, ...b }) => ({ ...b, releases: _count.releases, rings: _count.rings }));
}
