// Sign-in through single sign-on. The identity provider vouches for a user
// (its issuer and the user's `sub`) and their groups; the groups claim maps to
// a grant (server/auth/sso-groups.ts). A user first seen is created with that
// grant and no password; on every later sign-in their role and rings follow
// the claim, and a change ends their other sessions as an admin's change of
// role does. Users are matched by issuer and subject, never by e-mail: an
// e-mail that another account holds is refused, not taken over.
import { type Actor, writeAudit } from "../audit/audit";
import { grantRings } from "../auth/principal";
import { grantOfGroups, type GroupGrants } from "../auth/sso-groups";
import type { PrismaClient } from "../db/client";
import { endUserSessions, startSession } from "../sessions/sessions";
import type { Role, SsoRefusal } from "../vocabulary";
import { emailSchema } from "./schemas";

/** What the identity provider said about the user, from a verified ID token and its userinfo endpoint. */
export interface SsoIdentity {
  issuer: string;
  subject: string;
  email: string | null;
  name: string | null;
  groups: string[];
}

export type SsoSignIn =
  | {
      signedIn: true;
      user: { id: string; email: string; name: string | null; role: Role; rings: string[] | null };
      sessionId: string;
      /** First seen: the user was created. */
      created: boolean;
      /** Sessions of the user ended because the claim changed their role or rings. */
      sessionsEnded: number;
    }
  | { signedIn: false; refused: SsoRefusal };

/** Who the audit log names for what single sign-on does on its own: users created or re-roled by the groups claim. */
export const ssoActor: Actor = { id: null, label: "sso", role: "admin", rings: null };

const REASON = "groups claim of the identity provider at sign-in";

const sameRings = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().every((ring, i) => ring === [...b].sort()[i]);

/** Signs a user in through single sign-on: creates or updates them from the claim and opens a session, or says why not (changing nothing). */
export async function signInWithSso(db: PrismaClient, identity: SsoIdentity, mapping: GroupGrants, now = new Date()): Promise<SsoSignIn> {
  const grant = grantOfGroups(mapping, identity.groups);
  if (!grant) return { signedIn: false, refused: "no-group" };
  const parsedEmail = emailSchema.safeParse(identity.email ?? "");
  if (!parsedEmail.success) return { signedIn: false, refused: "no-email" };
  const email = parsedEmail.data;
  const name = identity.name?.trim().slice(0, 100) || null;
  const allRings = grant.rings === null;
  const rings = grant.rings ? [...grant.rings] : [];
  const matchedGroups = identity.groups.filter((group) => mapping.has(group));
  // As the audit log writes a grant elsewhere: rings null for every ring.
  const shown = { role: grant.role, rings: grant.rings };

  return db.$transaction(async (tx) => {
    const select = { id: true, email: true, name: true, role: true, allRings: true, rings: true, disabledAt: true } as const;
    const existing = await tx.user.findUnique({
      where: { ssoIssuer_ssoSubject: { ssoIssuer: identity.issuer, ssoSubject: identity.subject } },
      select,
    });
    if (existing?.disabledAt) return { signedIn: false, refused: "disabled" } as const;
    const holder = await tx.user.findUnique({ where: { email }, select: { id: true } });
    if (holder && holder.id !== existing?.id) return { signedIn: false, refused: "email-taken" } as const;

    let user;
    let sessionsEnded = 0;
    if (!existing) {
      user = await tx.user.create({
        data: { email, name, role: grant.role, allRings, rings, ssoIssuer: identity.issuer, ssoSubject: identity.subject, lastSignInAt: now },
        select,
      });
      await writeAudit(tx, ssoActor, {
        action: "user.create",
        targetType: "user",
        targetId: email,
        reason: REASON,
        after: { email, ...shown, signsInWith: "sso", issuer: identity.issuer, groups: matchedGroups },
      });
    } else {
      const grantChanged = existing.role !== grant.role || existing.allRings !== allRings || !sameRings(existing.rings, rings);
      user = await tx.user.update({
        where: { id: existing.id },
        data: { email, name, role: grant.role, allRings, rings, lastSignInAt: now },
        select,
      });
      // A new role or new rings end every session of the user, as an admin's change does; this sign-in opens a new one below.
      if (grantChanged) sessionsEnded = await endUserSessions(tx, existing.id);
      if (grantChanged || existing.email !== email) {
        await writeAudit(tx, ssoActor, {
          action: "user.update",
          targetType: "user",
          targetId: email,
          reason: REASON,
          before: { email: existing.email, role: existing.role, rings: grantRings(existing) },
          after: { email, ...shown, groups: matchedGroups, sessionsEnded },
        });
      }
    }
    const sessionId = await startSession(tx, user.id, now);
    return {
      signedIn: true,
      user: { id: user.id, email: user.email, name: user.name, role: user.role, rings: grantRings(user) },
      sessionId,
      created: !existing,
      sessionsEnded,
    } as const;
  });
}
