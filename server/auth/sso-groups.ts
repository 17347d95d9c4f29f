// Single sign-on's groups → grant mapping (ORCHARD_OIDC_GROUPS): which
// groups of the identity provider's groups claim make a user an admin, an
// operator or a viewer, on every ring or on some. Pure: parsed once at start
// (a bad mapping stops the console with a message naming the variable), then
// applied to the claim of each sign-in.
//
// Written as `GROUP=ROLE` or `GROUP=ROLE:RING+RING`, entries separated by
// commas:
//   orchard-admins=admin,orchard-canary-ops=operator:canary+beta,orchard-viewers=viewer
// or, for group names that hold commas (LDAP distinguished names), as a JSON
// object of the same entries:
//   {"cn=ops,ou=groups,dc=example,dc=com": "operator:canary"}
// A group name may hold `=`: the entry is split at its last one.
import { ringNameSchema } from "../rings/schemas";
import { type Grant, ROLES, type Role, roleAtLeast } from "../vocabulary";

/** One group's grant: its role, on every ring (`rings` null) or on the named rings. */
export type GroupGrants = ReadonlyMap<string, Grant>;

export class GroupMappingError extends Error {}

function parseGrant(group: string, text: string): Grant {
  const [roleText, ringsText, ...rest] = text.trim().split(":");
  const role = roleText.trim();
  if (!(ROLES as readonly string[]).includes(role)) {
    throw new GroupMappingError(`group ${group}: role "${role}" is not one of ${ROLES.join(", ")}`);
  }
  if (rest.length > 0) throw new GroupMappingError(`group ${group}: expected ROLE or ROLE:RING+RING, got "${text}"`);
  if (ringsText === undefined) return { role: role as Role, rings: null };
  if (role === "admin") throw new GroupMappingError(`group ${group}: an admin acts on the whole fleet, never on some rings only`);
  const rings = ringsText.split("+").map((ring) => ring.trim());
  for (const ring of rings) {
    const checked = ringNameSchema.safeParse(ring);
    if (!checked.success) throw new GroupMappingError(`group ${group}: ring "${ring}": ${checked.error.issues[0].message}`);
  }
  return { role: role as Role, rings: [...new Set(rings)] };
}

/** The mapping written in ORCHARD_OIDC_GROUPS; throws GroupMappingError saying what is wrong. */
export function parseGroupMapping(text: string): GroupGrants {
  const entries: [string, string][] = [];
  const trimmed = text.trim();
  if (trimmed.startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new GroupMappingError("not valid JSON (write GROUP=ROLE[:RING+RING],… or a JSON object)");
    }
    if (parsed === null || Array.isArray(parsed) || typeof parsed !== "object") {
      throw new GroupMappingError("expected a JSON object of group names to ROLE[:RING+RING]");
    }
    for (const [group, grant] of Object.entries(parsed)) {
      if (typeof grant !== "string") throw new GroupMappingError(`group ${group}: expected a string such as "operator:canary"`);
      entries.push([group, grant]);
    }
  } else {
    for (const entry of trimmed.split(",")) {
      const at = entry.lastIndexOf("=");
      if (at < 1) throw new GroupMappingError(`"${entry.trim()}": expected GROUP=ROLE or GROUP=ROLE:RING+RING`);
      entries.push([entry.slice(0, at).trim(), entry.slice(at + 1)]);
    }
  }
  const grants = new Map<string, Grant>();
  for (const [group, grant] of entries) {
    if (group === "") throw new GroupMappingError("a group name is empty");
    if (grants.has(group)) throw new GroupMappingError(`group ${group} is mapped twice`);
    grants.set(group, parseGrant(group, grant));
  }
  if (grants.size === 0) throw new GroupMappingError("maps no group");
  return grants;
}

/**
 * The grant of a user in `groups`: the highest role that any mapped group
 * gives; its rings are the union of the rings of the groups that give that
 * role, or every ring when one of them is unscoped. Groups of lower roles add
 * nothing (a user holds one role on one set of rings: an operator of canary
 * who is also a viewer of everything stays an operator of canary). Null when
 * no group is mapped.
 */
export function grantOfGroups(mapping: GroupGrants, groups: readonly string[]): Grant | null {
  const matched = [...new Set(groups)].flatMap((group) => mapping.get(group) ?? []);
  if (matched.length === 0) return null;
  const role = matched.reduce<Role>((best, grant) => (roleAtLeast(grant.role, best) ? grant.role : best), "viewer");
  const top = matched.filter((grant) => grant.role === role);
  if (top.some((grant) => grant.rings === null)) return { role, rings: null };
  return { role, rings: [...new Set(top.flatMap((grant) => grant.rings ?? []))].sort() };
}

/** Every ring the mapping names (by name: a renamed or removed ring is not followed). */
export function ringsOfMapping(mapping: GroupGrants | undefined): string[] {
  return mapping ? [...new Set([...mapping.values()].flatMap((grant) => grant.rings ?? []))].sort() : [];
}

/** The groups of a claim as identity providers send them: an array of strings, or one string. */
export function groupsOfClaim(value: unknown): string[] {
  if (typeof value === "string") return [value];
  return Array.isArray(value) ? value.filter((group): group is string => typeof group === "string") : [];
}
