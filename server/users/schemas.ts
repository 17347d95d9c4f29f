// Users' zod schemas, shared by the domain, the tRPC procedures and the forms.
import { z } from "zod";

export const roles = ["viewer", "operator", "admin"] as const;
export const roleSchema = z.enum(roles, { error: "expected viewer, operator or admin" });

export const emailSchema = z.email("expected an e-mail address").max(254).transform((e) => e.toLowerCase());
export const passwordSchema = z
  .string()
  .min(12, "at least 12 characters")
  .max(200, "at most 200 characters");

export const createUserInput = z.object({
  email: emailSchema,
  role: roleSchema,
  name: z.string().max(100).optional(),
  /** Generated (and returned once) when unset. */
  password: passwordSchema.optional(),
});
export type CreateUserInput = z.input<typeof createUserInput>;

export const updateUserInput = z.object({
  userId: z.string().min(1),
  role: roleSchema.optional(),
  disabled: z.boolean().optional(),
});
export type UpdateUserInput = z.infer<typeof updateUserInput>;

export const changeOwnPasswordInput = z.object({
  currentPassword: z.string().min(1, "give your current password").max(200, "at most 200 characters"),
  newPassword: passwordSchema,
});
export type ChangeOwnPasswordInput = z.input<typeof changeOwnPasswordInput>;

export const removeUserInput = z.object({
  userId: z.string().min(1),
  reason: z.string().max(500).optional(),
});
export type RemoveUserInput = z.input<typeof removeUserInput>;
