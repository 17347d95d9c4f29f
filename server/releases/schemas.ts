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

export const releaseSortFields = ["createdAt", "version", "ref", "builtAt"] as const;
export type ReleaseSortField = (typeof releaseSortFields)[number];

/** One page of releases for the console's table: filter, sort and page on the server. */
export const listReleasesPageInput = z.object({
  ref: refSchema.optional(),
  /** Text search on the version and the checksum. */
  q: z.string().trim().max(128, "at most 128 characters").optional(),
  sort: z.enum(releaseSortFields).default("createdAt"),
  dir: z.enum(["asc", "desc"]).default("desc"),
  page: z.number().int().min(0).max(100_000).default(0),
  pageSize: z.number().int().min(1).max(200).default(50),
});
export type ListReleasesPageInput = z.input<typeof listReleasesPageInput>;

export const getReleaseInput = z.object({ version: versionSchema, ref: z.string().max(255).optional() });

const pathReason = z.string().trim().max(500, "at most 500 characters").optional();

/** Marks (or unmarks) a release as a floor of its branch. */
export const setFloorInput = z.object({
  version: versionSchema,
  ref: refSchema.optional(),
  floor: z.boolean(),
  reason: pathReason,
});
export type SetFloorInput = z.infer<typeof setFloorInput>;

/** Blocks (or unblocks) the direct paths from some releases of a branch to a newer one. */
export const blockPathInput = z.object({
  ref: refSchema.optional(),
  from: z.array(versionSchema).min(1, "name at least one release").max(200, "at most 200 releases"),
  to: versionSchema,
  reason: pathReason,
});
export type BlockPathInput = z.infer<typeof blockPathInput>;
export const unblockPathInput = blockPathInput.omit({ reason: true });
export type UnblockPathInput = z.infer<typeof unblockPathInput>;

/** A branch's update graph: its releases in order, floors, blocked paths, and who runs what. */
export const updateGraphInput = z.object({ ref: refSchema });
