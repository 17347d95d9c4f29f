// Users' zod schemas, shared by the domain, the tRPC procedures and the forms.
import { z } from "zod";
import { PRINCIPAL_KINDS } from "../auth/principal";
import { ringNameSchema } from "../rings/schemas";

export const roles = ["viewer", "operator", "admin"] as const;
export const roleSchema = z.enum(roles, { error: "expected viewer, operator or admin" });

export const emailSchema = z.email("expected an e-mail address").max(254).transform((e) => e.toLowerCase());
export const passwordSchema = z
  .string()
  .min(12, "at least 12 characters")
  .max(200, "at most 200 characters");

/** A role's rings: absent (or null) for every ring, else the rings named. */
export const ringScopeSchema = z
  .array(ringNameSchema)
  .min(1, "name at least one ring, or leave it out for every ring")
  .max(100, "at most 100 rings")
  .nullable()
  .optional();

/** An admin acts on the whole fleet: refused with rings, naming the field. */
export function adminUnscoped(value: { role?: string; rings?: readonly string[] | null }, ctx: z.RefinementCtx) {
  if (value.role === "admin" && value.rings) {
    ctx.addIssue({ code: "custom", path: ["rings"], message: "an admin acts on every ring: leave rings out, or choose operator or viewer" });
  }
}

export const createUserInput = z
  .object({
    email: emailSchema,
    role: roleSchema,
    /** The rings the role holds on; absent: every ring. */
    rings: ringScopeSchema,
    name: z.string().max(100).optional(),
    /** Generated (and returned once) when unset. */
    password: passwordSchema.optional(),
  })
  .superRefine(adminUnscoped);
export type CreateUserInput = z.input<typeof createUserInput>;

export const updateUserInput = z
  .object({
    userId: z.string().min(1),
    role: roleSchema.optional(),
    /** null: every ring; absent: unchanged. */
    rings: ringScopeSchema,
    disabled: z.boolean().optional(),
  })
  .superRefine(adminUnscoped);
export type UpdateUserInput = z.infer<typeof updateUserInput>;

export const changeOwnPasswordInput = z.object({
  currentPassword: z.string().min(1, "give your current password").max(200, "at most 200 characters"),
  newPassword: passwordSchema,
});
export type ChangeOwnPasswordInput = z.input<typeof changeOwnPasswordInput>;

/** One user, by e-mail (as the command line names them). */
export const getUserInput = z.object({ email: emailSchema });
export type GetUserInput = z.input<typeof getUserInput>;

export const removeUserInput = z.object({
  userId: z.string().min(1),
  reason: z.string().max(500).optional(),
});
export type RemoveUserInput = z.input<typeof removeUserInput>;

// ---- Answers: each procedure's `.output()`, and the REST API's response schemas.

/** Who calls: a console user, an API token, or the local command line, with the grant it holds. */
export const principalSchema = z
  .object({
    kind: z.enum(PRINCIPAL_KINDS),
    /** The user's or the token's id. */
    id: z.string(),
    /** The user's e-mail, the token's name, or the login of the person running the command line. */
    name: z.string(),
    role: roleSchema,
    /** The rings the role holds on; null: every ring. */
    rings: z.array(z.string()).readonly().nullable(),
  })
  .meta({ id: "Principal" });

export const signInMethods = ["password", "sso"] as const;

export const userSchema = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string().nullable(),
    role: roleSchema,
    /** Its rings; null: every ring. */
    rings: z.array(z.string()).nullable(),
    /** With a password, or through single sign-on. */
    signsInWith: z.enum(signInMethods),
    disabledAt: z.date().nullable(),
    lastSignInAt: z.date().nullable(),
    createdAt: z.date(),
  })
  .meta({ id: "User" });

export const userListOutput = z.array(userSchema);

export const createUserOutput = z.object({
  user: userSchema,
  /** The generated password, shown this once; null when the request gave one. */
  password: z.string().nullable(),
});

export const removeUserOutput = z.object({ email: z.string() });

/** How people sign in to this console, and whether an admin may create a user here (and why not). */
export const signInMethodsOutput = z
  .object({
    /** Sign-in with a password (ORCHARD_LOCAL_SIGN_IN). */
    passwords: z.boolean(),
    /** What the sign-in page calls the identity provider; null without single sign-on. */
    sso: z.string().nullable(),
    newUsers: z.object({ allowed: z.boolean(), /** Why not, when not. */ why: z.string().nullable() }),
  })
  .meta({ id: "SignInMethods" });
