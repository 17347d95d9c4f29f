// The state vocabularies of Orchard, decided once: roles, rollout states,
// ring phases, a machine's steps in a rollout, the update states machines
// report, with the predicates that the server, the app and the SQL lists
// use. Pure (no database, no Node): the app imports it as it is. The Prisma
// enums must hold the same values (vocabulary.test.ts checks them), and
// label maps elsewhere are typed by these unions, so adding a value is a
// compile error wherever it must be handled.

const oneOf =
  <T extends string>(values: readonly T[]) =>
  (value: string | null | undefined): value is T =>
    value != null && (values as readonly string[]).includes(value);

// ---------------------------------------------------------------- roles

/** What a console user may do; each role includes the ones before it. */
export const ROLES = ["viewer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** True when `role` includes everything `needed` may do. */
export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/**
 * What a user or an API token may do: a role, on every ring (`rings` null) or
 * on the named rings only. An admin is never scoped.
 */
export interface Grant {
  role: Role;
  rings: readonly string[] | null;
}

/** The rings of `rings` that lie outside the grant's scope (none for an unscoped grant). */
export function ringsOutside(grant: Grant, rings: readonly string[]): string[] {
  if (grant.rings === null) return [];
  const scope = grant.rings;
  return [...new Set(rings.filter((ring) => !scope.includes(ring)))];
}

/**
 * Whether the grant may act with role `needed` on something that touches
 * every ring of `rings` (a machine: its ring; a rollout: all of its rings).
 * `rings` null means the whole fleet (the brake, a new ring): only an
 * unscoped grant may.
 */
export function mayAct(grant: Grant, needed: Role, rings: readonly string[] | null): boolean {
  if (!roleAtLeast(grant.role, needed)) return false;
  if (rings === null) return grant.rings === null;
  return ringsOutside(grant, rings).length === 0;
}

/** Whether the grant may see something that touches `rings`: one of them in scope is enough. */
export function maySee(grant: Grant, rings: readonly string[]): boolean {
  return grant.rings === null || rings.some((ring) => grant.rings!.includes(ring));
}

// ---------------------------------------------------------------- single sign-on

/**
 * Why a sign-in through the identity provider was refused (the refusal page
 * words each): no mapped group in the claim, a user an admin disabled, an
 * e-mail that another account already has, no e-mail in the claim, or the
 * console could not complete it.
 */
export const SSO_REFUSALS = ["no-group", "disabled", "email-taken", "no-email", "unavailable"] as const;
export type SsoRefusal = (typeof SSO_REFUSALS)[number];
export const isSsoRefusal = oneOf(SSO_REFUSALS);

// ---------------------------------------------------------------- rollouts

export const ROLLOUT_STATES = ["draft", "running", "paused", "awaiting_approval", "completed", "aborted", "reverted"] as const;
export type RolloutState = (typeof ROLLOUT_STATES)[number];

/** Under way: the rollout holds its rings and the controller steps it. */
export const ACTIVE_ROLLOUT_STATES = ["running", "paused", "awaiting_approval"] as const satisfies readonly RolloutState[];
export type ActiveRolloutState = (typeof ACTIVE_ROLLOUT_STATES)[number];
export const isActiveRollout = oneOf<ActiveRolloutState>(ACTIVE_ROLLOUT_STATES);

/** Ended: nothing moves it any more. */
export const FINISHED_ROLLOUT_STATES = ["completed", "aborted", "reverted"] as const satisfies readonly RolloutState[];
export const isFinishedRollout = oneOf(FINISHED_ROLLOUT_STATES);

/** Who stopped a paused rollout. */
export const PAUSED_BY = ["operator", "gate", "brake"] as const;
export type PausedBy = (typeof PAUSED_BY)[number];

/** Where a rollout is in one of its rings. */
export const RING_PHASES = ["pending", "active", "awaiting_approval", "completed", "reverted"] as const;
export type RingPhase = (typeof RING_PHASES)[number];

/** The ring has started (a wave opened, it awaits approval, or it completed): a revert has something to undo. */
export const leftPending = (phase: RingPhase) => phase !== "pending";

// ---------------------------------------------------------------- a machine in a rollout

/**
 * A machine's step in a rollout. `held`: staged, waiting for a paused rollout
 * to resume; `cancelled`: the update was withdrawn (abort, brake, pin, move)
 * before the machine rebooted into it. Rolled back and dark are outcomes of
 * their own, never folded into failed.
 */
export const MACHINE_STEPS = [
  "pending",
  "assigned",
  "downloading",
  "staged",
  "held",
  "rebooting",
  "verifying",
  "succeeded",
  "failed",
  "rolled_back",
  "dark",
  "cancelled",
] as const;
export type MachineStep = (typeof MACHINE_STEPS)[number];

/** A machine that reached one of these is done with the rollout. */
export const TERMINAL_STEPS = ["succeeded", "failed", "rolled_back", "dark", "cancelled"] as const satisfies readonly MachineStep[];
export const isTerminalStep = oneOf(TERMINAL_STEPS);

/** Failures that count against a wave's health gate. */
export const FAILURE_STEPS = ["failed", "rolled_back", "dark"] as const satisfies readonly MachineStep[];
export const isFailureStep = oneOf(FAILURE_STEPS);

/** Left the gate's sample: never judged, or withdrawn before doing anything the gate could judge. */
export const UNJUDGED_STEPS = ["pending", "cancelled"] as const satisfies readonly MachineStep[];

/** On their way: the machine reported working on the release. */
export const UNDER_WAY_STEPS = ["downloading", "staged", "held", "rebooting", "verifying"] as const satisfies readonly MachineStep[];

/** Told to update, not started. */
export const WAITING_STEPS = ["pending", "assigned"] as const satisfies readonly MachineStep[];

export type StepCounts = Record<MachineStep, number>;

export function emptyStepCounts(): StepCounts {
  return Object.fromEntries(MACHINE_STEPS.map((s) => [s, 0])) as StepCounts;
}

export function sumOf(counts: StepCounts, steps: readonly MachineStep[]): number {
  return steps.reduce((sum, step) => sum + counts[step], 0);
}

// ---------------------------------------------------------------- what machines report

/** The agent's update states as the database and the console spell them (the protocol says `rolled-back`). */
export const UPDATE_STATES = ["idle", "downloading", "staged", "rebooting", "verifying", "succeeded", "failed", "rolled_back"] as const;
export type UpdateState = (typeof UPDATE_STATES)[number];

/** The console's spelling of a protocol update state. */
export function updateStateOf(reported: string): UpdateState {
  return reported === "rolled-back" ? "rolled_back" : (reported as UpdateState);
}

/**
 * An app's update states (protocol v1.2), as the database and the console
 * spell them: the machine's without `staged` and `rebooting` (an app update
 * needs no reboot).
 */
export const APP_UPDATE_STATES = ["idle", "downloading", "verifying", "succeeded", "failed", "rolled_back"] as const satisfies readonly UpdateState[];
export type AppUpdateState = (typeof APP_UPDATE_STATES)[number];
/** An app update under way. */
export const BUSY_APP_UPDATE_STATES = ["downloading", "verifying"] as const satisfies readonly AppUpdateState[];
export const isBusyAppUpdate = oneOf(BUSY_APP_UPDATE_STATES);

/** What a Flatpak ref names: an app (in a ring's app set) or a runtime (brought by an app). */
export const FLATPAK_REF_KINDS = ["app", "runtime"] as const;
export type FlatpakRefKind = (typeof FLATPAK_REF_KINDS)[number];
/** Whether a release's ref is a Flatpak app's (`app/ID/ARCH/BRANCH`): its rollouts are app rollouts. */
export function isAppRef(ref: string): boolean {
  return ref.startsWith("app/");
}

/** At most this many machines match a bulk action's filter, all changed in one transaction (the machines page says so past it). */
export const MAX_MATCHING = 10_000;

/** Mid-update: the machine works on a target (and may hold a reboot slot). */
export const BUSY_UPDATE_STATES = ["downloading", "staged", "rebooting", "verifying"] as const satisfies readonly UpdateState[];
export const isBusyUpdate = oneOf(BUSY_UPDATE_STATES);

/**
 * Not yet rebooted into its target: what the console may still hold or
 * cancel. A machine reporting `rebooting` may not have issued the reboot
 * yet (or it never happened): the agent honours a cancel until it does.
 */
export const CANCELLABLE_UPDATE_STATES = ["downloading", "staged", "rebooting"] as const satisfies readonly UpdateState[];
export const isCancellableUpdate = oneOf(CANCELLABLE_UPDATE_STATES);

/** Before the reboot slot: what a paused rollout holds. */
export const HOLDABLE_UPDATE_STATES = ["downloading", "staged"] as const satisfies readonly UpdateState[];
export const isHoldableUpdate = oneOf(HOLDABLE_UPDATE_STATES);

/**
 * How a machine is updated, as the database spells it: by our agent with one
 * of its backends (the agent protocol spells rpm_ostree `rpm-ostree`), or by
 * Zincati, Fedora CoreOS's own updater, which asks the console over FleetLock
 * and Cincinnati (server/zincati/) and reports no health, or by SWUpdate (or
 * another hawkBit DDI client), which polls the console's DDI controller API
 * (server/ddi/) and reports no health either: its confirmation after the
 * restart is what a rollout counts.
 */
export const MACHINE_BACKENDS = ["ostree", "rpm_ostree", "bootc", "sim", "zincati", "swupdate"] as const;
export type MachineBackend = (typeof MACHINE_BACKENDS)[number];

/** What the console calls each backend. */
export const BACKEND_LABELS: Record<MachineBackend, string> = {
  ostree: "ostree",
  rpm_ostree: "rpm-ostree",
  bootc: "bootc",
  sim: "simulated",
  zincati: "Zincati (FleetLock + Cincinnati)",
  swupdate: "SWUpdate (hawkBit DDI)",
};

/** Machines whose own updater speaks another protocol to the console (no Orchard agent on them). */
export const FOREIGN_UPDATER_BACKENDS = ["zincati", "swupdate"] as const satisfies readonly MachineBackend[];
const isForeignUpdater = oneOf(FOREIGN_UPDATER_BACKENDS);

/**
 * Whether the machine's updater reports health checks (Zincati and SWUpdate
 * do not: a rollout counts the node's boot of the release, the device's
 * confirmed install).
 */
export const reportsHealth = (backend: string) => !isForeignUpdater(backend);

/**
 * Whether the machine's updater holds a machine token and a key of its own
 * (our agent). A Zincati node is named by its node id, and the enrollment
 * token in its configured URL is its only credential; a DDI device is named
 * by its controller id and authenticates with a gateway token (an
 * enrollment token) or its own target token.
 */
export const holdsOwnCredentials = (backend: string) => !isForeignUpdater(backend);

/** What the console says of a foreign updater: its kind (a badge in the machine lists), its identity and its missing health checks (the machine page). */
export const FOREIGN_UPDATER_WORDS: Record<(typeof FOREIGN_UPDATER_BACKENDS)[number], { kind: string; identity: string; noHealth: string }> = {
  zincati: {
    kind: "Zincati",
    identity: "its node id, from Zincati: the enrollment token in its configured URLs is its only credential",
    noHealth:
      "Zincati reports no health checks: a rollout counts this node done once it reports the release booted, and dark if it has not by the rollout's dark deadline.",
  },
  swupdate: {
    kind: "SWUpdate · DDI",
    identity:
      "its DDI controller id, from SWUpdate: it authenticates with a gateway token (an enrollment token of its ring) or its own target token",
    noHealth:
      "SWUpdate reports no health checks: a rollout counts this device done once it confirms the install after its restart (closed, success), failed when it reports a failure, and dark if neither came by the rollout's dark deadline.",
  },
};

/** The machine page's words for a foreign updater, or null for our agent. */
export function foreignUpdaterWords(backend: string) {
  return isForeignUpdater(backend) ? FOREIGN_UPDATER_WORDS[backend] : null;
}

export const HEALTH_STATUSES = ["healthy", "degraded", "unhealthy", "unknown"] as const;
export type HealthStatus = (typeof HEALTH_STATUSES)[number];

// ---------------------------------------------------------------- webhooks

/**
 * What a webhook subscription may be told, as the `type` of each Standard
 * Webhooks message. Rollout events and the outcomes of its machines share the
 * rollout's ordering key: a receiver gets them in the order they happened.
 */
export const WEBHOOK_EVENT_KINDS = [
  "rollout.started",
  "rollout.wave_opened",
  "rollout.paused",
  "rollout.resumed",
  "rollout.completed",
  "rollout.aborted",
  "rollout.reverted",
  "release.braked",
  "machine.rolled_back",
  "machine.dark",
  "machine.failed",
  "machine.enrolled",
  "machine.retired",
] as const;
export type WebhookEventKind = (typeof WEBHOOK_EVENT_KINDS)[number];
export const isWebhookEventKind = oneOf<WebhookEventKind>(WEBHOOK_EVENT_KINDS);

/** The type of the message the "send a test event" action sends; never subscribed to, sent to one subscription. */
export const WEBHOOK_TEST_KIND = "webhook.test";

/** The machine steps that a webhook reports, with the event each one sends. */
export const WEBHOOK_STEP_EVENTS = {
  failed: "machine.failed",
  rolled_back: "machine.rolled_back",
  dark: "machine.dark",
} as const satisfies Partial<Record<MachineStep, WebhookEventKind>>;

/** Where one delivery of a message to a subscription stands: retried while pending, failed after 24 hours of failures. */
export const WEBHOOK_DELIVERY_STATES = ["pending", "delivered", "failed"] as const;
export type WebhookDeliveryState = (typeof WEBHOOK_DELIVERY_STATES)[number];

/** What came of one attempt at a delivery, as /metrics counts them: delivered, failed and to be retried, or failed for good (24 hours of failures). */
export const WEBHOOK_ATTEMPT_OUTCOMES = ["delivered", "retried", "failed"] as const;
export type WebhookAttemptOutcome = (typeof WEBHOOK_ATTEMPT_OUTCOMES)[number];

// ---------------------------------------------------------------- releases and their sources

/**
 * Where releases come from besides an operator's hand: an ostree repository
 * (OS and Flatpak refs) or an OCI registry repository (bootc images). Each
 * kind has its own reader (server/release-sources/) and config schema.
 */
export const RELEASE_SOURCE_KINDS = ["ostree", "oci"] as const;
export type ReleaseSourceKind = (typeof RELEASE_SOURCE_KINDS)[number];
export const isReleaseSourceKind = oneOf<ReleaseSourceKind>(RELEASE_SOURCE_KINDS);

/**
 * A release's signature as its source's key judged it: `valid`; `unsigned`
 * (no signature where the source has a key); `invalid` (signed, but not by
 * the key, or a signature that does not verify); `not_checked` (no key to
 * check with: a release made by hand, or a source kind that allows no key).
 */
export const SIGNATURE_STATES = ["valid", "unsigned", "invalid", "not_checked"] as const;
export type SignatureState = (typeof SIGNATURE_STATES)[number];
export const isSignatureState = oneOf<SignatureState>(SIGNATURE_STATES);

/** Signature states that may be sent to machines: a ring's release, a rollout, a pin. */
export const SENDABLE_SIGNATURE_STATES = ["valid", "not_checked"] as const satisfies readonly SignatureState[];
export const isSendableSignature = oneOf(SENDABLE_SIGNATURE_STATES);

// ---------------------------------------------------------------- SQL

/** A list of vocabulary values as SQL text, `('a', 'b')`: constants only, never input. */
export function sqlList(values: readonly string[]): string {
  for (const v of values) if (!/^[a-z_.-]+$/.test(v)) throw new Error(`not a vocabulary value: ${v}`);
  return `(${values.map((v) => `'${v}'`).join(", ")})`;
}
