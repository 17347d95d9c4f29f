// Ring scopes: a user or an API token may hold its role on some rings only.
// Every procedure says what its input touches (`Meta.rings`); before it runs,
// the rings of that input are read here and checked against the caller's
// grant, so that the rule is decided in one place for tRPC, the REST API and
// the remote CLI alike. Lists filter by the scope themselves (they are given
// the caller's rings).
import type { Database, Prisma, PrismaClient } from "../db/client";
import { AppError, invalid } from "../errors";
import { type Grant, maySee, mayAct, type Role, ringsOutside } from "../vocabulary";

/**
 * What a procedure's input touches:
 * - `fleet`: the whole fleet (a new ring, the brake): unscoped callers only;
 * - `ring` / `rings`: the ring(s) named by `input.ring` / `input.rings`;
 * - `machine` / `machines`: the ring of `input.machineId` / of each of `input.machineIds`;
 * - `rollout`: every ring of `input.rolloutId`;
 * - `branch`: every ring on the branch of `input.branch` (a ref), or of the release source `input.source`
 *   (no source, no branch: every source, the whole fleet); a branch no ring follows is the whole fleet's;
 * - `scoped`: nothing in particular; the procedure filters what it reads by the caller's rings;
 * - `none`: nothing a ring scope limits (releases, one's own account).
 */
export const RING_TARGETS = ["fleet", "ring", "rings", "machine", "machines", "rollout", "branch", "scoped", "none"] as const;
export type RingTarget = (typeof RING_TARGETS)[number];

type Input = Record<string, unknown> | undefined;

const asStrings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : typeof value === "string" ? [value] : [];

/** The input field each target reads, for the error's `field`. */
const FIELD: Partial<Record<RingTarget, string>> = {
  ring: "ring",
  rings: "rings",
  machine: "machineId",
  machines: "machineIds",
  rollout: "rolloutId",
  branch: "branch",
};

/** The rings an input touches, per target; null for the whole fleet. */
async function ringsOfTarget(db: Database, target: RingTarget, input: Input): Promise<string[] | null> {
  switch (target) {
    case "fleet":
      return null;
    case "ring":
    case "rings":
      return asStrings(input?.[FIELD[target]!]);
    case "machine":
    case "machines": {
      const ids = asStrings(input?.[FIELD[target]!]);
      if (ids.length === 0) return [];
      const rows = await db.prisma.ring.findMany({ where: { machines: { some: { machineId: { in: ids } } } }, select: { name: true } });
      return rows.map((r) => r.name);
    }
    case "rollout": {
      const [id] = asStrings(input?.rolloutId);
      if (!id) return [];
      const rows = await db.prisma.rolloutRing.findMany({ where: { rolloutId: id }, select: { ring: { select: { name: true } } } });
      return rows.map((r) => r.ring.name);
    }
    case "branch": {
      // Both when both are given: a source's name cannot stand in for another branch.
      const wheres = [
        ...asStrings(input?.branch).map((ref) => ({ branch: { ref } })),
        ...asStrings(input?.source).map((name) => ({ branch: { sources: { some: { name } } } })),
      ];
      if (wheres.length === 0) return null;
      const names: string[] = [];
      for (const where of wheres) {
        const rows = await db.prisma.ring.findMany({ where, select: { name: true } });
        if (rows.length === 0) return null;
        names.push(...rows.map((r) => r.name));
      }
      return names;
    }
    case "scoped":
    case "none":
      return [];
  }
}

function scopeWords(grant: Grant) {
  return grant.rings && grant.rings.length > 0 ? `your rings are ${grant.rings.join(", ")}` : "you have no rings";
}

/**
 * Refuses (FORBIDDEN, naming the field) a call whose input touches a ring
 * outside the caller's scope. Reads need one of the thing's rings in scope
 * (a rollout over canary and stable is visible to an operator of canary);
 * changes need all of them.
 */
export async function checkRingScope(
  db: Database,
  grant: Grant,
  needed: Role,
  targets: readonly RingTarget[],
  input: unknown,
  kind: "read" | "change",
): Promise<void> {
  if (grant.rings === null) return;
  for (const target of targets) {
    const rings = await ringsOfTarget(db, target, input as Input);
    const field = FIELD[target];
    if (rings === null) {
      if (!mayAct(grant, needed, null)) {
        throw new AppError("FORBIDDEN", `this concerns the whole fleet, and ${scopeWords(grant)}`, { field: undefined });
      }
      continue;
    }
    if (rings.length === 0) continue;
    if (kind === "read" ? !maySee(grant, rings) : !mayAct(grant, needed, rings)) {
      const outside = ringsOutside(grant, rings);
      throw new AppError("FORBIDDEN", `${field}: ring${outside.length > 1 ? "s" : ""} ${outside.join(", ")} outside your scope (${scopeWords(grant)})`, {
        field,
      });
    }
  }
}

/** Refuses a scope naming rings that do not exist, naming the field. */
export async function checkRingsExist(db: Prisma.TransactionClient, rings: readonly string[] | null | undefined, field = "rings") {
  if (!rings) return;
  const found = await db.ring.findMany({ where: { name: { in: [...rings] } }, select: { name: true } });
  const missing = rings.filter((ring) => !found.some((f) => f.name === ring));
  if (missing.length) throw invalid(field, `no ring named ${missing.join(", ")}`);
}

/** The ids of the rings a scope names; null for an unscoped caller. */
export async function scopeRingIds(db: PrismaClient, scope: readonly string[] | null): Promise<string[] | null> {
  if (scope === null) return null;
  const rows = await db.ring.findMany({ where: { name: { in: [...scope] } }, select: { id: true } });
  return rows.map((r) => r.id);
}

/** A Prisma filter on a ring's name: the requested one, within the scope. */
export function ringNameWhere(scope: readonly string[] | null, requested?: string | null): { name: string } | { name: { in: string[] } } | undefined {
  if (scope === null) return requested ? { name: requested } : undefined;
  if (requested) return scope.includes(requested) ? { name: requested } : { name: { in: [] } };
  return { name: { in: [...scope] } };
}
