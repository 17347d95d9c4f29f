// The contract of release artifacts: the files a release carries (a .swu, a
// .raucb, anything), for the procedures, the REST upload and the console.
import { z } from "zod";

/** A file name within its release: letters, digits, `.`, `_`, `+`, `-`; not starting with a dot. */
export const artifactNameSchema = z
  .string()
  .min(1, "must not be empty")
  .max(200, "at most 200 characters")
  .regex(/^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$/, "expected a file name such as image-2026.11.1.swu (letters, digits, . _ + -; not starting with a dot)");

export const sha256Schema = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, "expected 64 hexadecimal characters (the file's sha256)")
  .transform((value) => value.toLowerCase());

export const contentTypeSchema = z
  .string()
  .max(200, "at most 200 characters")
  .regex(/^[\w.+-]+\/[\w.+-]+$/, "expected a media type such as application/octet-stream");

export const releaseIdSchema = z
  .string()
  .min(1, "must not be empty")
  .max(64, "at most 64 characters")
  .regex(/^[\w-]+$/, "expected a release's id (see GET /api/v1/releases/one)");

/** What an uploader declares besides the bytes. */
export const storeArtifactInput = z.object({
  releaseId: releaseIdSchema,
  name: artifactNameSchema,
  sha256: sha256Schema,
  contentType: contentTypeSchema.default("application/octet-stream"),
});
export type StoreArtifactInput = z.input<typeof storeArtifactInput>;

export const listArtifactsInput = z.object({ releaseId: releaseIdSchema });
export const findArtifactInput = z.object({ releaseId: releaseIdSchema, name: artifactNameSchema });
export const removeArtifactInput = z.object({
  releaseId: releaseIdSchema,
  name: artifactNameSchema,
  reason: z.string().max(1000, "at most 1000 characters").optional(),
});
export type RemoveArtifactInput = z.infer<typeof removeArtifactInput>;

export const artifactSchema = z.object({
  id: z.string(),
  releaseId: z.string(),
  name: z.string(),
  /** Bytes. */
  size: z.number().int(),
  sha256: z.string(),
  sha1: z.string(),
  md5: z.string(),
  contentType: z.string(),
  uploadedBy: z.string(),
  createdAt: z.date(),
});
export type Artifact = z.infer<typeof artifactSchema>;
export const artifactListOutput = z.array(artifactSchema);
export const removeArtifactOutput = z.object({ removed: artifactSchema });
