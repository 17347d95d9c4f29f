// Failure domains: the machine label a ring counts its reboot slots by (a
// site, a rack). Such a label is the operator's to give, through an
// enrollment token or the console, never the agent's: a machine could
// otherwise pick the domain that has a free slot. Decided here for the
// enrollment (which drops them from what an agent sends) and for the console
// (which says so beside the label).
import type { Prisma } from "../db/client";

/** Every label some ring counts its reboot slots by, with the names of those rings in rollout order. */
export async function failureDomains(db: Prisma.TransactionClient): Promise<Map<string, string[]>> {
  const rings = await db.ring.findMany({
    where: { failureDomainLabel: { not: null } },
    orderBy: [{ position: "asc" }, { name: "asc" }],
    select: { name: true, failureDomainLabel: true },
  });
  const domains = new Map<string, string[]>();
  for (const ring of rings) domains.set(ring.failureDomainLabel!, [...(domains.get(ring.failureDomainLabel!) ?? []), ring.name]);
  return domains;
}

/** The labels an agent sent that it may set for itself: all but the failure domains. */
export function agentSettableLabels(labels: Record<string, string> | undefined, domains: Map<string, string[]>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels ?? {}).filter(([key]) => !domains.has(key)));
}

export interface ReservedLabel {
  key: string;
  /** Why the agent cannot set it, and who can, in an operator's words. */
  why: string;
}

/**
 * The labels a machine's agent cannot set, for the console: each failure
 * domain, naming the machine's own ring when it counts by it, and otherwise
 * only rings within `scope` (null: every ring).
 */
export function reservedLabelsOf(domains: Map<string, string[]>, ring: string | null, scope: readonly string[] | null): ReservedLabel[] {
  const who = "only an enrollment token or an operator sets it, never the machine's agent";
  return [...domains].map(([key, rings]) => {
    if (ring && rings.includes(ring)) return { key, why: `Ring ${ring} counts its reboot slots per ${key}: ${who}.` };
    const visible = scope === null ? rings : rings.filter((name) => scope.includes(name));
    const whose = visible.length === 0 ? "another ring" : `ring${visible.length > 1 ? "s" : ""} ${visible.join(", ")}`;
    return { key, why: `A failure domain (${whose} count${visible.length > 1 ? "" : "s"} reboot slots per ${key}): ${who}.` };
  });
}
