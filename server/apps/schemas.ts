// Apps per ring (protocol v1.2): the zod contract of a ring's app set and of
// a machine's installed apps, shared by the domain, tRPC, REST and the CLI.
import { z } from "zod";
import { flatpakRefSchema } from "../protocol/v1";
import { versionSchema } from "../releases/schemas";
import { ringNameSchema } from "../rings/schemas";
import { APP_UPDATE_STATES } from "../vocabulary";

/** A Flatpak app's ref (`app/ID/ARCH/BRANCH`): only apps are in an app set, runtimes follow from them. */
export const appRefSchema = flatpakRefSchema.refine((ref) => ref.startsWith("app/"), {
  message: "expected a Flatpak app ref: app/ID/ARCH/BRANCH (runtimes follow from their apps)",
});

export const remoteNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "expected 1 to 64 characters of [A-Za-z0-9._-], such as orchard-kiosk");

export const remoteUrlSchema = z
  .string()
  .min(1, "must not be empty")
  .max(2048, "at most 2048 characters")
  .refine((url) => {
    try {
      return ["https:", "http:", "file:"].includes(new URL(url).protocol);
    } catch {
      return false;
    }
  }, "expected an https://, http:// or file:// URL of a Flatpak repository");

/** Base64 of a GPG public key (what `flatpak remote-add --gpg-import` takes, as the protocol sends it). */
export const gpgKeySchema = z
  .string()
  .max(65_536, "at most 64 KiB")
  .regex(/^[A-Za-z0-9+/]+={0,2}$/, "expected base64 of a GPG public key");

export const remoteSchema = z.object({
  name: remoteNameSchema,
  url: remoteUrlSchema,
  /** Null or absent: the remote is added without verification. */
  gpgKey: gpgKeySchema.nullable().optional(),
});

/** Adds an app to a ring's app set, or changes one: its remote and the release (of the app's ref) the ring runs. */
export const setRingAppInput = z.object({
  ring: ringNameSchema,
  ref: appRefSchema,
  /** A release of the app's ref (registered by hand or found by an ostree source on the Flatpak repository). */
  version: versionSchema,
  /** Needed when the app is new to the ring; when absent, the app keeps its remote. */
  remote: remoteSchema.optional(),
  /** The version is older than the ring's: machines may go back to it. */
  allowDowngrade: z.boolean().optional(),
  reason: z.string().max(500, "at most 500 characters").optional(),
});
export type SetRingAppInput = z.input<typeof setRingAppInput>;

export const removeRingAppInput = z.object({
  ring: ringNameSchema,
  ref: appRefSchema,
  reason: z.string().max(500, "at most 500 characters").optional(),
});
export type RemoveRingAppInput = z.input<typeof removeRingAppInput>;

export const listRingAppsInput = z.object({ ring: ringNameSchema });

/** Pins one app of a machine to a release of it: the machine keeps it whatever its ring runs or rolls out. */
export const pinMachineAppInput = z.object({
  machineId: z.string().min(1, "must not be empty").max(255, "at most 255 characters"),
  ref: appRefSchema,
  version: versionSchema,
  reason: z.string().max(500, "at most 500 characters").optional(),
});
export type PinMachineAppInput = z.input<typeof pinMachineAppInput>;

export const unpinMachineAppInput = pinMachineAppInput.omit({ version: true });
export type UnpinMachineAppInput = z.input<typeof unpinMachineAppInput>;

// ---- Answers

export const ringAppSchema = z
  .object({
    ref: z.string(),
    remote: z.object({ name: z.string(), url: z.string(), gpgKey: z.string().nullable() }),
    release: z.object({ version: z.string(), checksum: z.string(), quarantined: z.boolean() }),
    allowDowngrade: z.boolean(),
    position: z.number().int(),
    updatedAt: z.date(),
  })
  .meta({ id: "RingApp" });

export const ringAppsOutput = z
  .object({
    ring: z.string(),
    /** The ring's answers carry `apps` (it has, or once had, an app set): [] removes the apps the agent installed. */
    managed: z.boolean(),
    apps: z.array(ringAppSchema),
  })
  .meta({ id: "RingApps" });

export const removeRingAppOutput = z.object({ ring: z.string(), ref: z.string(), removed: z.boolean() });

export const machineAppSchema = z
  .object({
    ref: z.string(),
    kind: z.enum(["app", "runtime"]),
    commit: z.string().nullable(),
    /** The release of the ref with this commit, when one is registered. */
    version: z.string().nullable(),
    origin: z.string().nullable(),
    managed: z.boolean(),
    updateState: z.enum(APP_UPDATE_STATES).nullable(),
    updateTarget: z.string().nullable(),
    updateError: z.string().nullable(),
    healthStatus: z.string().nullable(),
    healthChecks: z.array(z.object({ name: z.string(), status: z.string(), output: z.string().nullable().optional() })),
    /** The machine is pinned to this release of the app. */
    pinnedVersion: z.string().nullable(),
    updatedAt: z.date(),
  })
  .meta({ id: "MachineApp" });

export const machineAppsOutput = z.array(machineAppSchema);
