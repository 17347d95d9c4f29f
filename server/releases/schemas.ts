import { z } from "zod";
import { checksumSchema, refSchema } from "../protocol/v1";
import { RELEASE_SOURCE_KINDS, ROLLOUT_STATES, SIGNATURE_STATES } from "../vocabulary";

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

/** One release: by its id, or by its version (and ref, when several branches have it). */
export const getReleaseInput = z
  .object({
    version: versionSchema.optional(),
    ref: z.string().max(255).optional(),
    id: z.string().min(1).max(64).optional(),
  })
  .superRefine((value, ctx) => {
    if (!value.version && !value.id) ctx.addIssue({ code: "custom", path: ["version"], message: "name a release: its version (and ref), or its id" });
  });
export type GetReleaseInput = z.infer<typeof getReleaseInput>;

export const PATH_CHANGES = ["A", "D", "M"] as const;

/** A page of the paths a release changed since the previous release of its branch. */
export const changedPathsInput = z
  .object({
    version: versionSchema.optional(),
    ref: z.string().max(255).optional(),
    id: z.string().min(1).max(64).optional(),
    /** Paths that contain this text. */
    q: z.string().trim().max(500, "at most 500 characters").optional(),
    /** Only added (A), removed (D) or modified (M) paths. */
    change: z.enum(PATH_CHANGES).optional(),
    page: z.number().int().min(0).max(100_000).default(0),
    pageSize: z.number().int().min(1).max(1000).default(100),
  })
  .superRefine((value, ctx) => {
    if (!value.version && !value.id) ctx.addIssue({ code: "custom", path: ["version"], message: "name a release: its version (and ref), or its id" });
  });
export type ChangedPathsInput = z.input<typeof changedPathsInput>;

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

// ---- Answers: each procedure's `.output()`, and the REST API's response schemas.

/** A release: a version of a branch's commit, where it came from, its signature, and its quarantine. */
export const releaseSchema = z
  .object({
    id: z.string(),
    version: z.string(),
    checksum: z.string(),
    notes: z.string().nullable(),
    createdAt: z.date(),
    branch: z.object({ ref: z.string() }),
    /** Set by the emergency brake: no machine is sent to it. */
    quarantinedAt: z.date().nullable(),
    quarantineReason: z.string().nullable(),
    /** When its source built it (the commit's or image's time); null for one added by hand. */
    builtAt: z.date().nullable(),
    /** The commit's subject. */
    subject: z.string().nullable(),
    /** Its signature as its source's key judged it. */
    signatureState: z.enum(SIGNATURE_STATES),
    signatureReason: z.string().nullable(),
    /** The release source it came from; null for one added by hand. */
    source: z.object({ name: z.string() }).nullable(),
  })
  .meta({ id: "Release" });

/** What the one rule (server/releases/sendable.ts) says of sending a release to machines. */
const sendableFields = {
  sendable: z.boolean(),
  /** Why it may not be sent, when it may not. */
  unsendableReason: z.string().nullable(),
};

export const releaseListOutput = z.array(releaseSchema.extend(sendableFields));

export const releasePageOutput = z.object({
  rows: z.array(
    releaseSchema.extend({
      ...sendableFields,
      /** The rings whose current release it is. */
      currentFor: z.array(z.object({ name: z.string() })),
      /** Machines that booted it. */
      bootedMachines: z.number().int(),
      /** Its rollouts under way. */
      activeRollouts: z.number().int(),
    }),
  ),
  total: z.number().int(),
  page: z.number().int(),
  pageSize: z.number().int(),
});

const layerSchema = z.object({ digest: z.string(), size: z.number(), mediaType: z.string() });

/** What changed in a release since the previous release of its branch (server/release-sources/changes.ts). */
export const releaseChangesSchema = z
  .object({
    /** The release it was compared with; id null when that release was removed since. */
    base: z.object({ id: z.string().nullable(), version: z.string() }),
    kind: z.enum(RELEASE_SOURCE_KINDS),
    /** ostree: paths added, removed and modified, as `ostree diff` counts them; null for images or when the diff failed. */
    files: z
      .object({
        added: z.number().int(),
        removed: z.number().int(),
        modified: z.number().int(),
        /** Paths kept: the list stops at 10000 (pathsTruncated), the counts do not. */
        pathsKept: z.number().int(),
        pathsTruncated: z.boolean(),
      })
      .nullable(),
    /** ostree: commit metadata keys added, removed and changed. */
    metadata: z
      .object({
        added: z.record(z.string(), z.unknown()),
        removed: z.record(z.string(), z.unknown()),
        changed: z.record(z.string(), z.object({ from: z.unknown(), to: z.unknown() })),
      })
      .nullable(),
    /** Images: layers added, removed and kept, labels added, removed and changed, the size delta (bytes, compressed). */
    image: z
      .object({
        layersAdded: z.array(layerSchema),
        layersRemoved: z.array(layerSchema),
        layersKept: z.array(layerSchema),
        labelsAdded: z.record(z.string(), z.string()),
        labelsRemoved: z.record(z.string(), z.string()),
        labelsChanged: z.record(z.string(), z.object({ from: z.string(), to: z.string() })),
        sizeDelta: z.number(),
      })
      .nullable(),
    /** Why the files or layers could not be compared, when they could not. */
    error: z.string().nullable(),
    computedAt: z.date(),
  })
  .meta({ id: "ReleaseChanges" });

export const releaseDetailOutput = releaseSchema.extend({
  ...sendableFields,
  /** The commit's body. */
  body: z.string().nullable(),
  /** What the source says of it (the commit's metadata, the image's labels), as it said it. */
  metadata: z.unknown(),
  /** A floor of its branch: machines older than it boot it before anything newer. */
  floor: z.boolean(),
  floorReason: z.string().nullable(),
  /** The previous release of its branch. */
  previous: z.object({ id: z.string(), version: z.string() }).nullable(),
  currentFor: z.array(z.object({ name: z.string() })),
  /** Rings a rollout under way is bringing it to. */
  rollingTo: z.array(z.object({ name: z.string(), rolloutId: z.string() })),
  rollouts: z.array(z.object({ id: z.string(), state: z.enum(ROLLOUT_STATES), createdAt: z.date(), finishedAt: z.date().nullable() })),
  /** What changed since the previous release of its branch; null when nothing was compared (changesAbsent says why). */
  changes: releaseChangesSchema.nullable(),
  /** Why there are no changes to show, in words an operator reads. */
  changesAbsent: z.string().nullable(),
});

export const changedPathsOutput = z.object({
  rows: z.array(z.object({ path: z.string(), change: z.enum(PATH_CHANGES) })),
  /** Paths that match the filter (among those kept). */
  total: z.number().int(),
  page: z.number().int(),
  pageSize: z.number().int(),
});

export const branchesOutput = z.array(
  z.object({ ref: z.string(), createdAt: z.date(), /** Rings that follow it. */ rings: z.number().int(), /** Its releases. */ releases: z.number().int() }),
);

export const setFloorOutput = z.object({ ref: z.string(), version: z.string(), floor: z.boolean(), /** Why it is a floor. */ reason: z.string().nullable() });

export const blockPathOutput = z.object({ ref: z.string(), from: z.array(z.string()), to: z.string(), /** Paths newly blocked. */ blocked: z.number().int() });

export const unblockPathOutput = z.object({ ref: z.string(), from: z.array(z.string()), to: z.string(), /** Paths unblocked. */ unblocked: z.number().int() });

/** A branch's update graph: its releases oldest first with floors, its blocked paths, and its rings' machines on each release. */
export const updateGraphOutput = z.object({
  ref: z.string(),
  rings: z.array(z.object({ name: z.string(), currentRelease: z.string().nullable() })),
  releases: z.array(
    z.object({
      id: z.string(),
      version: z.string(),
      checksum: z.string(),
      floor: z.boolean(),
      floorReason: z.string().nullable(),
      quarantined: z.boolean(),
      createdAt: z.date(),
      /** Machines running it, by ring name. */
      machines: z.record(z.string(), z.number().int()),
    }),
  ),
  blocked: z.array(z.object({ from: z.string(), to: z.string(), reason: z.string().nullable(), createdAt: z.date() })),
});
