import { z } from "zod";
import { labelsSchema } from "../protocol/v1";
import { ringNameSchema } from "../rings/schemas";

export const createEnrollmentTokenInput = z.object({
  name: z.string().trim().min(1, "must not be empty").max(100, "at most 100 characters"),
  ring: ringNameSchema.optional(),
  labels: labelsSchema.optional(),
  expiresInSeconds: z.number().int().min(60, "at least a minute").max(366 * 86_400, "at most a year").optional(),
  maxUses: z.number().int().min(1, "at least 1").max(1_000_000, "at most 1000000").optional(),
});
export type CreateEnrollmentTokenInput = z.infer<typeof createEnrollmentTokenInput>;

export const revokeEnrollmentTokenInput = z.object({ id: z.string().min(1) });

// ---- Answers: each procedure's `.output()`, and the REST API's response schemas.

/** An enrollment token as lists show it (never its secret). */
export const enrollmentTokenSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string(),
    /** The ring its machines join; null: none. */
    ring: z.object({ name: z.string() }).nullable(),
    /** Labels its machines get (a failure domain comes from here, never from the agent). */
    labels: z.record(z.string(), z.string()),
    expiresAt: z.date().nullable(),
    maxUses: z.number().int().nullable(),
    uses: z.number().int(),
    lastUsedAt: z.date().nullable(),
    revokedAt: z.date().nullable(),
    createdAt: z.date(),
    createdBy: z.object({ email: z.string() }).nullable(),
  })
  .meta({ id: "EnrollmentToken" });

export const enrollmentTokenListOutput = z.array(enrollmentTokenSchema);

export const createEnrollmentTokenOutput = z.object({
  /** The secret, shown this once: the agent's `enrollmentToken`. */
  token: z.string(),
  record: enrollmentTokenSchema,
});
