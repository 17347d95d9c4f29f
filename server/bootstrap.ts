// First start of a console on an empty database: the first admin.
import { systemActor } from "./audit/audit";
import type { PrismaClient } from "./db/client";
import { countUsers, createUser } from "./users/users";

/**
 * Creates the first admin when there are no users; returns its credentials
 * once. Console processes starting together on one empty database race for
 * it: one creates it (and shows its password), the others find it made.
 */
export async function ensureFirstAdmin(db: PrismaClient, email: string, password?: string) {
  if ((await countUsers(db)) > 0) return null;
  try {
    const created = await createUser(db, systemActor, { email, role: "admin", password, name: "Administrator" });
    return { email: created.user.email, password: created.password ?? password ?? "" };
  } catch (error) {
    // The other's conflict (or its unique key, should both have passed the check).
    if ((await countUsers(db)) > 0) return null;
    throw error;
  }
}
