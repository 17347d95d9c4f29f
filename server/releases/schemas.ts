import { z } from "zod";
import { checksumSchema, refSchema } from "../protocol/v1";

export const versionSchema = z
  .string()
  .min(1, "must not be empty")
  .max(128, "at most 128 characters")
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+~-]*$/, "expected a version such as 2026.11.1");

export const addReleaseInput = z.object({
  ref: refSchema,
  checksum: checksumSchema,
  version: versionSchema,
  notes: z.string().max(10_000, "at most 10000 characters").optional(),
});
export type AddReleaseInput = z.infer<typeof addReleaseInput>;

export const listReleasesInput = z.object({
  ref: refSchema.optional(),
});
