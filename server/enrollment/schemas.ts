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
