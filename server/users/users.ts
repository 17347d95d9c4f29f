// Console users, their roles and their passwords. A change to who a user is
// (role, disabled, password) or their removal ends all their sessions in the
// same transaction (see server/sessions/sessions.ts).
import { type Actor, writeAudit } from "../audit/audit";
import { generatePassword, hashPassword, verifyPassword } from "../auth/passwords";
import type { Prisma, PrismaClient } from "../db/client";
import { AppError, conflict, invalid } from "../errors";
import { grantRings } from "../auth/principal";
import { checkRingsExist } from "../auth/scope";
import { endUserSessions } from "../sessions/sessions";
import {
  type ChangeOwnPasswordInput,
  changeOwnPasswordInput,
  type CreateUserInput,
  createUserInput,
  type GetUserInput,
  getUserInput,
  type RemoveUserInput,
  removeUserInput,
  type UpdateUserInput,
  updateUserInput,
} from "./schemas";

export const userSelect = {
  id: true,
  email: true,
  name: true,
  role: true,
  allRings: true,
  rings: true,
  disabledAt: true,
  lastSignInAt: true,
  createdAt: true,
  ssoIssuer: true,
} satisfies Prisma.UserSelect;

export { roleAtLeast } from "../vocabulary";

/** A user as the console and the API show them: their rings (null: every ring), and how they sign in. */
function shownUser({ allRings, rings, ssoIssuer, ...user }: Prisma.UserGetPayload<{ select: typeof userSelect }>) {
  return { ...user, rings: grantRings({ allRings, rings }), signsInWith: signsInWith(ssoIssuer) };
}

/** With a password, or through single sign-on (a user first seen there has no password). */
const signsInWith = (ssoIssuer: string | null) => (ssoIssuer === null ? ("password" as const) : ("sso" as const));

/** How people sign in to this console, as the console is configured (ORCHARD_LOCAL_SIGN_IN, ORCHARD_OIDC_*). */
export interface SignInPolicy {
  /** Sign-in with an e-mail and a password. */
  passwords: boolean;
  /** What the sign-in page calls the identity provider of single sign-on; null without one. */
  sso: string | null;
}

/** Passwords only: a console with no single sign-on (and the tests' default). */
export const PASSWORDS_ONLY: SignInPolicy = { passwords: true, sso: null };

/** Why an admin may not create a user here, or null when they may. */
function whyNoNewUsers(policy: SignInPolicy): string | null {
  if (policy.passwords) return null;
  return (
    `sign-in with a password is switched off on this console (ORCHARD_LOCAL_SIGN_IN=off): people sign in through ${policy.sso ?? "single sign-on"}, ` +
    "and each one's user is created at their first sign-in, with the role and rings their groups give"
  );
}

/**
 * How people sign in here and whether an admin may create a user, for the
 * users page to show as the server decides it. Users of single sign-on are
 * never made ahead of their first sign-in: they are matched by the identity
 * provider's subject, never by e-mail, and their role comes from their groups
 * at every sign-in (server/users/sso.ts).
 */
export function readSignInMethods(policy: SignInPolicy) {
  const why = whyNoNewUsers(policy);
  return { passwords: policy.passwords, sso: policy.sso, newUsers: { allowed: why === null, why } };
}

/** Creates a user with a password; returns the password too when it was generated. Refused when passwords are switched off. */
export async function createUser(db: PrismaClient, actor: Actor, input: CreateUserInput, policy: SignInPolicy = PASSWORDS_ONLY) {
  const data = createUserInput.parse(input);
  const refused = whyNoNewUsers(policy);
  if (refused) throw conflict(refused, "password");
  const password = data.password ?? generatePassword();
  const passwordHash = await hashPassword(password);
  const user = await db.$transaction(async (tx) => {
    if (await tx.user.findUnique({ where: { email: data.email }, select: { id: true } })) {
      throw conflict(`a user ${data.email} already exists`, "email");
    }
    await checkRingsExist(tx, data.rings);
    const user = await tx.user.create({
      data: { email: data.email, name: data.name, role: data.role, allRings: !data.rings, rings: data.rings ?? [], passwordHash },
      select: userSelect,
    });
    await writeAudit(tx, actor, {
      action: "user.create",
      targetType: "user",
      targetId: data.email,
      after: { email: data.email, role: data.role, rings: data.rings ?? null },
    });
    return user;
  });
  return { user: shownUser(user), password: data.password ? null : password };
}

export async function listUsers(db: PrismaClient) {
  return (await db.user.findMany({ orderBy: { email: "asc" }, select: userSelect })).map(shownUser);
}

/** One user by e-mail (the unique key), as the list shows them; NOT_FOUND naming the field. */
export async function getUserByEmail(db: PrismaClient, input: GetUserInput) {
  const { email } = getUserInput.parse(input);
  const user = await db.user.findUnique({ where: { email }, select: userSelect });
  if (!user) throw new AppError("NOT_FOUND", `email: no user ${email}`, { field: "email" });
  return shownUser(user);
}

/**
 * Refuses a change that would leave no enabled admin (the command line can
 * try it; two admins demoting each other at once can too). The enabled
 * admins' rows are locked first, so that concurrent changes see each other.
 */
async function keepAnAdmin(tx: Prisma.TransactionClient, leaving: string) {
  const admins = await tx.$queryRaw<{ id: string }[]>`
    SELECT id FROM users WHERE role = 'admin' AND disabled_at IS NULL ORDER BY id FOR UPDATE`;
  if (admins.some((a) => a.id === leaving) && admins.length <= 1) {
    throw conflict("this is the last enabled admin: make another user an admin first");
  }
}

export async function updateUser(db: PrismaClient, actor: Actor, input: UpdateUserInput) {
  const data = updateUserInput.parse(input);
  return db.$transaction(async (tx) => {
    const before = await tx.user.findUnique({ where: { id: data.userId }, select: userSelect });
    if (!before) throw invalid("userId", "no such user");
    if (before.id === actor.id && (data.disabled || (data.role && data.role !== "admin"))) {
      throw new AppError("FORBIDDEN", "you cannot demote or disable yourself");
    }
    const role = data.role ?? before.role;
    // An admin is never scoped: becoming one means every ring.
    const rings = role === "admin" ? null : data.rings === undefined ? grantRings(before) : data.rings;
    if (role === "admin" && data.rings) throw invalid("rings", "an admin acts on every ring: leave rings out, or choose operator or viewer");
    await checkRingsExist(tx, rings);
    const scopeChanges = JSON.stringify(rings) !== JSON.stringify(grantRings(before));
    const roleChanges = (data.role !== undefined && data.role !== before.role) || scopeChanges;
    const disabling = data.disabled === true && before.disabledAt === null;
    if (before.role === "admin" && ((roleChanges && data.role !== "admin") || disabling)) await keepAnAdmin(tx, before.id);
    const disabledAt =
      data.disabled === undefined ? undefined : data.disabled ? (before.disabledAt ?? new Date()) : null;
    const after = await tx.user.update({
      where: { id: data.userId },
      data: { role: data.role, allRings: rings === null, rings: rings ?? [], disabledAt },
      select: userSelect,
    });
    // A new role or scope, or a disabled account, ends every session: nothing signed in before carries on.
    const sessionsEnded = roleChanges || disabling ? await endUserSessions(tx, before.id) : 0;
    await writeAudit(tx, actor, {
      action: "user.update",
      targetType: "user",
      targetId: before.email,
      before: { role: before.role, rings: grantRings(before), disabled: before.disabledAt !== null },
      after: { role: after.role, rings, disabled: after.disabledAt !== null, sessionsEnded },
    });
    return shownUser(after);
  });
}

/**
 * A signed-in user changes their own password, giving the current one. Every
 * session of theirs ends, this one included: they sign in again with the new
 * password.
 */
export async function changeOwnPassword(db: PrismaClient, actor: Actor, input: ChangeOwnPasswordInput) {
  const data = changeOwnPasswordInput.parse(input);
  if (!actor.id) throw new AppError("FORBIDDEN", "only a signed-in user has a password to change");
  const userId = actor.id;
  const current = await db.user.findUnique({ where: { id: userId }, select: { passwordHash: true } });
  if (!current) throw new AppError("UNAUTHORIZED", "sign in first");
  if (current.passwordHash === null) {
    throw new AppError("FORBIDDEN", "you sign in through single sign-on: your password is kept by your identity provider");
  }
  if (!(await verifyPassword(data.currentPassword, current.passwordHash))) {
    throw invalid("currentPassword", "that is not your current password");
  }
  if (await verifyPassword(data.newPassword, current.passwordHash)) {
    throw invalid("newPassword", "choose a password different from the current one");
  }
  const passwordHash = await hashPassword(data.newPassword);
  return db.$transaction(async (tx) => {
    // Unchanged since it was checked: a concurrent change of the same password wins, this one is refused.
    const { count } = await tx.user.updateMany({
      where: { id: userId, passwordHash: current.passwordHash },
      data: { passwordHash },
    });
    if (count === 0) throw conflict("your password was changed meanwhile: sign in again");
    const sessionsEnded = await endUserSessions(tx, userId);
    await writeAudit(tx, actor, {
      action: "user.change-password",
      targetType: "user",
      targetId: actor.label,
      after: { sessionsEnded },
    });
    return { sessionsEnded };
  });
}

/** An admin removes a user: never themselves, never the last enabled admin. Audited; their sessions end with them. */
export async function removeUser(db: PrismaClient, actor: Actor, input: RemoveUserInput) {
  const data = removeUserInput.parse(input);
  return db.$transaction(async (tx) => {
    const before = await tx.user.findUnique({ where: { id: data.userId }, select: userSelect });
    if (!before) throw invalid("userId", "no such user");
    if (before.id === actor.id) throw new AppError("FORBIDDEN", "you cannot remove yourself");
    if (before.role === "admin" && before.disabledAt === null) await keepAnAdmin(tx, before.id);
    const sessionsEnded = await endUserSessions(tx, before.id);
    await tx.user.delete({ where: { id: before.id } });
    await writeAudit(tx, actor, {
      action: "user.remove",
      targetType: "user",
      targetId: before.email,
      reason: data.reason ?? null,
      before: { email: before.email, role: before.role, disabled: before.disabledAt !== null, sessionsEnded },
    });
    return { email: before.email };
  });
}

/** The user for a sign-in, or null when the e-mail or password is wrong or the user is disabled. */
export async function authenticateUser(db: PrismaClient, email: string, password: string) {
  const user = await db.user.findUnique({
    where: { email: email.trim().toLowerCase() },
    select: { id: true, email: true, name: true, role: true, disabledAt: true, passwordHash: true },
  });
  // Compare against a dummy hash for unknown users (and users of single sign-on, who have no password) so timing does not tell.
  const ok = await verifyPassword(
    password,
    user?.passwordHash ?? "$2b$12$C6UzMDM.H6dfI/f/IKcEeO5Q7p5aQYk6b1l0F3C6lqGm1m3x5v1yK",
  );
  if (!user || user.passwordHash === null || !ok || user.disabledAt) return null;
  await db.user.update({ where: { id: user.id }, data: { lastSignInAt: new Date() } });
  return { id: user.id, email: user.email, name: user.name, role: user.role };
}

/** The signed-in user's own account: who they are, what they may do, and how they sign in. */
export async function readAccount(db: PrismaClient, actor: Actor) {
  if (!actor.id) throw new AppError("FORBIDDEN", "only a signed-in user has an account");
  const user = await db.user.findUnique({
    where: { id: actor.id },
    select: { email: true, name: true, role: true, allRings: true, rings: true, ssoIssuer: true },
  });
  if (!user) throw new AppError("UNAUTHORIZED", "sign in first");
  return {
    email: user.email,
    name: user.name,
    role: user.role,
    rings: grantRings(user),
    signsInWith: signsInWith(user.ssoIssuer),
  };
}

export async function countUsers(db: PrismaClient) {
  return db.user.count();
}
