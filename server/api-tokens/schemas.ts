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

// ---- Answers: each procedure's `.output()`, and the REST API's response schemas.

export const API_TOKEN_STATES = ["active", "revoked", "expired"] as const;

/** An API token as lists show it (never its secret). */
export const apiTokenSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    /** The token's first characters, to recognise it. */
    prefix: z.string(),
    role: roleSchema,
    /** Its rings; null: every ring. */
    rings: z.array(z.string()).nullable(),
    state: z.enum(API_TOKEN_STATES),
    expiresAt: z.date().nullable(),
    lastUsedAt: z.date().nullable(),
    /** The address of its last use. */
    lastUsedFrom: z.string().nullable(),
    revokedAt: z.date().nullable(),
    createdAt: z.date(),
    /** The e-mail of the admin who created it. */
    createdBy: z.string().nullable(),
  })
  .meta({ id: "ApiToken" });

export const apiTokenListOutput = z.array(apiTokenSchema);

export const createApiTokenOutput = z.object({
  /** The secret, shown this once: send it as `Authorization: Bearer …`. */
  token: z.string(),
  record: apiTokenSchema,
});
