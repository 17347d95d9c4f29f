// The contract of release sources: one config schema per kind, joined in a
// discriminated union on `kind`, so that another kind (oci) plugs in as one
// more member and one more reader (readers.ts).
import { z } from "zod";
import { refSchema } from "../protocol/v1";
import { RELEASE_SOURCE_KINDS } from "../vocabulary";
import { checkOciFields, ociSourceFields } from "./oci";

export const sourceNameSchema = z
  .string()
  .min(1, "must not be empty")
  .max(64, "at most 64 characters")
  .regex(/^[a-z0-9][a-z0-9._-]*$/, "expected lower-case letters, digits, . _ - (such as exampleos-stable)");

/** An ed25519 public key as `ostree sign` takes it: the base64 of its 32 bytes. */
export const ed25519PublicKeySchema = z
  .string()
  .trim()
  .refine((text) => /^[A-Za-z0-9+/]{43}=$/.test(text) && Buffer.from(text, "base64").length === 32, {
    message: "expected an ed25519 public key: the base64 of its 32 bytes (44 characters), as ostree sign takes it",
  });

/** An armored OpenPGP public key block. */
export const gpgPublicKeySchema = z
  .string()
  .trim()
  .max(100_000, "at most 100000 characters")
  .refine((text) => text.startsWith("-----BEGIN PGP PUBLIC KEY BLOCK-----") && text.includes("-----END PGP PUBLIC KEY BLOCK-----"), {
    message: "expected an armored GPG public key (-----BEGIN PGP PUBLIC KEY BLOCK----- … -----END PGP PUBLIC KEY BLOCK-----)",
  });

/** How commits are checked: ostree requires a key (ed25519 as ostree sign, or GPG). */
export const ostreeKeySchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ed25519"), publicKey: ed25519PublicKeySchema }),
  z.object({ type: z.literal("gpg"), publicKey: gpgPublicKeySchema }),
]);
export type OstreeKey = z.infer<typeof ostreeKeySchema>;

export const repoUrlSchema = z
  .string()
  .trim()
  .max(2000, "at most 2000 characters")
  .refine(
    (text) => {
      try {
        const url = new URL(text);
        return (url.protocol === "http:" || url.protocol === "https:" || url.protocol === "file:") && !url.username && !url.password;
      } catch {
        return false;
      }
    },
    { message: "expected an http(s):// or file:// URL of an ostree repository (no credentials in it)" },
  );

/**
 * An ostree repository: OS refs (exampleos/x86_64/stable) and Flatpak refs
 * (app/org.example.App/x86_64/stable, runtime/…); `depth`: how many commits
 * of the ref's history a pass reads back at most.
 */
export const ostreeConfigSchema = z.object({
  kind: z.literal("ostree"),
  url: repoUrlSchema,
  ref: refSchema,
  key: ostreeKeySchema,
  depth: z.number().int().min(1).max(1000).default(50),
});
export type OstreeConfig = z.infer<typeof ostreeConfigSchema>;

/**
 * A container registry repository of bootc images (oci.ts): the registry's
 * URL, the repository, a tag or a tag pattern, optional credentials and an
 * optional cosign public key (without one, signatures are not checked).
 */
export const ociConfigSchema = ociSourceFields.extend({ kind: z.literal("oci") }).superRefine(checkOciFields);
export type OciConfig = z.infer<typeof ociConfigSchema>;

/** Every kind's config, with its reader in reader.ts. */
export const sourceConfigSchema = z.discriminatedUnion("kind", [ostreeConfigSchema, ociConfigSchema]);
export type SourceConfig = z.infer<typeof sourceConfigSchema>;

export const pollIntervalSchema = z.number().int().min(1, "at least 1 second").max(7 * 86_400, "at most 7 days");

export const addSourceInput = z.object({
  name: sourceNameSchema,
  /** The branch (ref) whose releases the source brings; created on first use. */
  branch: refSchema,
  config: sourceConfigSchema,
  pollIntervalSeconds: pollIntervalSchema.default(300),
  enabled: z.boolean().default(true),
});
export type AddSourceInput = z.input<typeof addSourceInput>;

export const updateSourceInput = z.object({
  source: sourceNameSchema,
  /** The whole config anew (its kind cannot change). */
  config: sourceConfigSchema.optional(),
  pollIntervalSeconds: pollIntervalSchema.optional(),
  enabled: z.boolean().optional(),
});
export type UpdateSourceInput = z.input<typeof updateSourceInput>;

export const sourceRefInput = z.object({ source: sourceNameSchema });

export const syncSourcesInput = z.object({
  /** One source; all of them (that are enabled) when absent. */
  source: sourceNameSchema.optional(),
});

export const listSourcesInput = z.object({ branch: refSchema.optional() });

// ---- Answers: each procedure's `.output()`, and the REST API's response schemas.

/** A source's config as it is shown: an OCI source's password never, only whether it has one (public keys are not secret). */
export const publicSourceConfigSchema = z.discriminatedUnion("kind", [
  ostreeConfigSchema,
  ociSourceFields.omit({ password: true }).extend({ kind: z.literal("oci"), hasPassword: z.boolean() }),
]);

/** A release source as it is shown: its public config, the key summarised, and how its passes go. */
export const releaseSourceSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(RELEASE_SOURCE_KINDS),
    /** The branch (ref) whose releases it brings. */
    branch: z.string(),
    config: publicSourceConfigSchema,
    /** The repository's or the registry's URL. */
    url: z.string().nullable(),
    ref: z.string().nullable(),
    /** The kind of key and its first characters. */
    key: z.object({ type: z.enum(["ed25519", "gpg", "cosign"]), summary: z.string() }).nullable(),
    pollIntervalSeconds: z.number().int(),
    enabled: z.boolean(),
    lastSyncAt: z.date().nullable(),
    /** The last pass that worked. */
    lastSuccessAt: z.date().nullable(),
    /** Why the last pass failed; null after one that worked. */
    lastError: z.string().nullable(),
    consecutiveFailures: z.number().int(),
    /** When the next pass is due. */
    nextAttemptAt: z.date(),
    /** A pass is under way (in some console process) until then. */
    leaseUntil: z.date().nullable(),
    /** A pass is under way now. */
    syncing: z.boolean(),
    /** Releases it brought. */
    releases: z.number().int(),
    createdBy: z.string(),
    createdAt: z.date(),
    updatedAt: z.date(),
  })
  .meta({ id: "ReleaseSource" });

export const sourceListOutput = z.array(releaseSourceSchema);

export const removeSourceOutput = z.object({ source: z.string(), removed: z.boolean(), /** Its releases stay. */ releasesKept: z.number().int() });

/** What each pass did: the releases it created, or why it failed, and when the next is due. */
export const syncSourcesOutput = z.array(
  z.object({
    source: z.string(),
    ok: z.boolean(),
    created: z.array(z.string()),
    /** The rollout a ring's follow mode started of one of them. */
    rolloutStarted: z.object({ rolloutId: z.string(), version: z.string() }).nullable(),
    error: z.string().nullable(),
    nextAttemptAt: z.date().nullable(),
  }),
);
