// API tokens' zod schemas, shared by the domain, the tRPC procedures, the REST
// API and the console's form.
import { z } from "zod";
import { adminUnscoped, ringScopeSchema, roleSchema } from "../users/schemas";

export const createApiTokenInput = z
  .object({
    name: z
      .string()
      .trim()
      .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, "expected 1 to 64 characters of [a-z0-9._-], such as ci-release"),
    role: roleSchema,
    rings: ringScopeSchema,
    expiresInDays: z.number().int().min(1, "at least a day").max(3660, "at most ten years").optional(),
  })
  .superRefine(adminUnscoped);
export type CreateApiTokenInput = z.input<typeof createApiTokenInput>;

export const revokeApiTokenInput = z.object({ id: z.string().min(1).max(100) });
