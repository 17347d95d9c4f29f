// Console users, their roles and their passwords.
import { type Actor, writeAudit } from "../audit/audit";
import { generatePassword, hashPassword, verifyPassword } from "../auth/passwords";
import type { Prisma, PrismaClient } from "../db/client";
import { AppError, conflict, invalid } from "../errors";
import { type CreateUserInput, createUserInput, type UpdateUserInput, updateUserInput } from "./schemas";

export const userSelect = {
  id: true,
  email: true,
  name: true,
  role: true,
  disabledAt: true,
  lastSignInAt: true,
  createdAt: true,
} satisfies Prisma.UserSelect;

export { roleAtLeast } from "../vocabulary";

/** Creates a user; returns the password too when it was generated. */
export async function createUser(db: PrismaClient, actor: Actor, input: CreateUserInput) {
  const data = createUserInput.parse(input);
  const password = data.password ?? generatePassword();
  const passwordHash = await hashPassword(password);
  const user = await db.$transaction(async (tx) => {
    if (await tx.user.findUnique({ where: { email: data.email }, select: { id: true } })) {
      throw conflict(`email: a user ${data.email} already exists`);
    }
    const user = await tx.user.create({
      data: { email: data.email, name: data.name, role: data.role, passwordHash },
      select: userSelect,
    });
    await writeAudit(tx, actor, {
      action: "user.create",
      targetType: "user",
      targetId: data.email,
      after: { email: data.email, role: data.role },
    });
    return user;
  });
  return { user, password: data.password ? null : password };
}

export async function listUsers(db: PrismaClient) {
  return db.user.findMany({ orderBy: { email: "asc" }, select: userSelect });
}

export async function updateUser(db: PrismaClient, actor: Actor, input: UpdateUserInput) {
  const data = updateUserInput.parse(input);
  return db.$transaction(async (tx) => {
    const before = await tx.user.findUnique({ where: { id: data.userId }, select: userSelect });
    if (!before) throw invalid("userId", "no such user");
    if (before.id === actor.id && (data.disabled || (data.role && data.role !== "admin"))) {
      throw new AppError("FORBIDDEN", "you cannot demote or disable yourself");
    }
    const disabledAt =
      data.disabled === undefined ? undefined : data.disabled ? (before.disabledAt ?? new Date()) : null;
    const after = await tx.user.update({
      where: { id: data.userId },
      data: { role: data.role, disabledAt },
      select: userSelect,
    });
    await writeAudit(tx, actor, {
      action: "user.update",
      targetType: "user",
      targetId: before.email,
      before: { role: before.role, disabled: before.disabledAt !== null },
      after: { role: after.role, disabled: after.disabledAt !== null },
    });
    return after;
  });
}

/** The user for a sign-in, or null when the e-mail or password is wrong or the user is disabled. */
export async function authenticateUser(db: PrismaClient, email: string, password: string) {
  const user = await db.user.findUnique({
    where: { email: email.trim().toLowerCase() },
    select: { id: true, email: true, name: true, role: true, disabledAt: true, passwordHash: true },
  });
  // Compare against a dummy hash for unknown users so timing does not tell.
  const ok = await verifyPassword(
    password,
    user?.passwordHash ?? "$2b$12$C6UzMDM.H6dfI/f/IKcEeO5Q7p5aQYk6b1l0F3C6lqGm1m3x5v1yK",
  );
  if (!user || !ok || user.disabledAt) return null;
  await db.user.update({ where: { id: user.id }, data: { lastSignInAt: new Date() } });
  return { id: user.id, email: user.email, name: user.name, role: user.role };
}

/** The signed-in user behind a session, re-read so that role changes and disabling apply at once. */
export async function getSessionUser(db: PrismaClient, userId: string) {
  const user = await db.user.findUnique({
    where: { id: userId },
    select: { id: true, email: true, role: true, disabledAt: true },
  });
  if (!user || user.disabledAt) return null;
  return { id: user.id, email: user.email, role: user.role };
}

export async function countUsers(db: PrismaClient) {
  return db.user.count();
}
