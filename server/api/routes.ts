// The REST API's routes: each one a method and a path over one procedure of
// the console's tRPC router, so that the rule, the role, the ring scope and
// the input schema are the procedure's own. The OpenAPI document
// (openapi.ts) and the handler (handler.ts) are both read from this table.
//
// Path parameters and (for GET) query parameters are merged into the
// procedure's input; a request body (JSON) is merged last, under the path's
// parameters, which win.

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface ApiRoute {
  method: HttpMethod;
  /** Under /api/v1, with `{name}` parameters. */
  path: string;
  /** The tRPC procedure, such as `machines.pin`. */
  procedure: string;
  summary: string;
  tag: "machines" | "rings" | "releases" | "rollouts" | "enrollment-tokens" | "users" | "api-tokens" | "webhooks" | "audit" | "dashboard";
  /** It creates something: 201, and an Idempotency-Key makes a retry safe. */
  creates?: boolean;
}

export const API_ROUTES: readonly ApiRoute[] = [
  // Machines
  { method: "GET", path: "/machines", procedure: "machines.list", tag: "machines", summary: "List machines: the table's filters and sorting, page or cursor paging" },
  { method: "GET", path: "/machines/{machineId}", procedure: "machines.get", tag: "machines", summary: "One machine: deployments, health checks and their output, update error" },
  { method: "GET", path: "/machines/{machineId}/timeline", procedure: "machines.timeline", tag: "machines", summary: "A machine's timeline" },
  { method: "GET", path: "/machines/{machineId}/unpin-preview", procedure: "machines.unpinPreview", tag: "machines", summary: "What unpinning the machine would send it" },
  { method: "GET", path: "/machines/{machineId}/apps", procedure: "machines.apps", tag: "machines", summary: "A machine's installed Flatpak apps and runtimes: version, commit, update state, health, pin" },
  { method: "POST", path: "/machines/{machineId}/pin-app", procedure: "machines.pinApp", tag: "machines", summary: "Pin one app of a machine to a release of it" },
  { method: "POST", path: "/machines/{machineId}/unpin-app", procedure: "machines.unpinApp", tag: "machines", summary: "Let one app of a machine follow its ring again" },
  { method: "POST", path: "/machines/{machineId}/pin", procedure: "machines.pin", tag: "machines", summary: "Pin a machine to a release" },
  { method: "POST", path: "/machines/{machineId}/unpin", procedure: "machines.unpin", tag: "machines", summary: "Unpin a machine" },
  { method: "POST", path: "/machines/{machineId}/rollback", procedure: "machines.rollback", tag: "machines", summary: "Roll a machine back to its previous deployment" },
  { method: "PATCH", path: "/machines/{machineId}/labels", procedure: "machines.setLabels", tag: "machines", summary: "Set or remove a machine's labels" },
  { method: "POST", path: "/machines/{machineId}/retire", procedure: "machines.retire", tag: "machines", summary: "Retire a machine" },
  { method: "POST", path: "/machines/{machineId}/allow-reenroll", procedure: "machines.allowReenroll", tag: "machines", summary: "Let a re-imaged machine enroll again (24 hours)" },
  { method: "POST", path: "/machines/{machineId}/target-token", procedure: "machines.issueTargetToken", tag: "machines", summary: "Issue a DDI device's target token (revokes its previous ones; shown once)" },
  { method: "POST", path: "/machines/{machineId}/free-reboot-slot", procedure: "rings.forceReleaseLease", tag: "machines", summary: "Free the reboot slot a machine holds" },
  { method: "POST", path: "/machine-actions/move", procedure: "machines.move", tag: "machines", summary: "Move machines to a ring" },
  { method: "POST", path: "/machine-actions/pin", procedure: "machines.pinMany", tag: "machines", summary: "Pin many machines (all or none)" },
  { method: "POST", path: "/machine-actions/unpin", procedure: "machines.unpinMany", tag: "machines", summary: "Unpin many machines (all or none)" },
  { method: "POST", path: "/machine-actions/rollback", procedure: "machines.rollbackMany", tag: "machines", summary: "Roll many machines back (all or none)" },
  // Rings
  { method: "GET", path: "/rings", procedure: "rings.list", tag: "rings", summary: "List rings with their release and policy" },
  { method: "POST", path: "/rings", procedure: "rings.create", tag: "rings", summary: "Create a ring", creates: true },
  { method: "PUT", path: "/rings/{ring}/release", procedure: "rings.setRelease", tag: "rings", summary: "Set a ring's release" },
  { method: "GET", path: "/rings/{ring}/apps", procedure: "rings.apps", tag: "rings", summary: "A ring's app set: Flatpak apps, their remotes and the release each runs" },
  { method: "PUT", path: "/rings/{ring}/apps", procedure: "rings.setApp", tag: "rings", summary: "Add an app to a ring's app set or change it (body: ref, version, remote)" },
  { method: "DELETE", path: "/rings/{ring}/apps", procedure: "rings.removeApp", tag: "rings", summary: "Take an app out of a ring's app set (query: ref); its machines remove it if Orchard installed it" },
  { method: "PATCH", path: "/rings/{ring}", procedure: "rings.updatePolicy", tag: "rings", summary: "Change a ring's policy: interval, windows, blackout dates, reboot slots, failure domain, follow mode and its default rollout policy" },
  { method: "POST", path: "/rings/{ring}/reshuffle", procedure: "rings.reshuffle", tag: "rings", summary: "Draw a ring's cohorts anew" },
  { method: "POST", path: "/rings/{ring}/rename", procedure: "rings.rename", tag: "rings", summary: "Rename a ring (users' and API tokens' ring scopes follow)" },
  { method: "POST", path: "/ring-order", procedure: "rings.reorder", tag: "rings", summary: "Move a ring before or after another, or set the whole rollout order" },
  { method: "DELETE", path: "/rings/{ring}", procedure: "rings.remove", tag: "rings", summary: "Remove an empty ring (no machines, no rollout history)" },
  { method: "GET", path: "/reboot-leases", procedure: "rings.leases", tag: "rings", summary: "Who holds each reboot slot" },
  // Releases
  { method: "GET", path: "/releases", procedure: "releases.page", tag: "releases", summary: "List releases: filter, sort, page" },
  { method: "GET", path: "/releases/all", procedure: "releases.list", tag: "releases", summary: "Releases of a branch (or all), newest first" },
  { method: "GET", path: "/releases/one", procedure: "releases.get", tag: "releases", summary: "One release by id, or by version (and ref): signature, floor, the rings that run it or are getting it, its rollouts, what changed since the previous release" },
  { method: "GET", path: "/releases/changed-paths", procedure: "releases.changedPaths", tag: "releases", summary: "A page of the paths a release changed since the previous release of its branch (A, D, M, as ostree diff lists them)" },
  { method: "GET", path: "/releases/{releaseId}/artifacts", procedure: "releases.artifacts", tag: "releases", summary: "A release's artifacts: name, size, sha256, sha1, md5, type, who uploaded them (upload: PUT /releases/{releaseId}/artifacts/{name} with the raw bytes and X-Checksum-Sha256; download: GET or HEAD there, with Range)" },
  { method: "DELETE", path: "/releases/{releaseId}/artifacts/{name}", procedure: "releases.removeArtifact", tag: "releases", summary: "Remove a release's artifact (its file too)" },
  { method: "GET", path: "/branches", procedure: "releases.branches", tag: "releases", summary: "Every branch rings or releases use" },
  { method: "POST", path: "/releases", procedure: "releases.add", tag: "releases", summary: "Register a release", creates: true },
  { method: "GET", path: "/releases/brake-preview", procedure: "releases.brakePreview", tag: "releases", summary: "What the emergency brake would do now" },
  { method: "POST", path: "/releases/brake", procedure: "releases.brake", tag: "releases", summary: "The emergency brake: stop every rollout of a release and quarantine it" },
  { method: "POST", path: "/releases/lift-quarantine", procedure: "releases.liftQuarantine", tag: "releases", summary: "Lift a release's quarantine" },
  { method: "POST", path: "/releases/floor", procedure: "releases.setFloor", tag: "releases", summary: "Mark or unmark a floor: machines older than it boot it before anything newer" },
  { method: "POST", path: "/releases/block-path", procedure: "releases.blockPath", tag: "releases", summary: "Block the direct paths from releases to a newer one" },
  { method: "POST", path: "/releases/unblock-path", procedure: "releases.unblockPath", tag: "releases", summary: "Unblock paths blocked before" },
  { method: "GET", path: "/branches/graph", procedure: "releases.graph", tag: "releases", summary: "A branch's update graph: releases in order, floors, blocked paths, machines per ring" },
  // Release sources
  { method: "GET", path: "/sources", procedure: "sources.list", tag: "releases", summary: "List release sources: kind, URL, ref, key, interval, last sync, last error, next attempt" },
  { method: "GET", path: "/sources/{source}", procedure: "sources.get", tag: "releases", summary: "One release source" },
  { method: "POST", path: "/sources", procedure: "sources.add", tag: "releases", summary: "Add a release source to a branch (an ostree repository and ref, with its key)", creates: true },
  { method: "PATCH", path: "/sources/{source}", procedure: "sources.update", tag: "releases", summary: "Change a release source's config, interval, or enable or disable it" },
  { method: "DELETE", path: "/sources/{source}", procedure: "sources.remove", tag: "releases", summary: "Remove a release source (its releases stay)" },
  { method: "POST", path: "/sources/sync", procedure: "sources.sync", tag: "releases", summary: "Sync now: one source (body: source) or every enabled one" },
  // Rollouts
  { method: "GET", path: "/rollouts", procedure: "rollouts.list", tag: "rollouts", summary: "List rollouts" },
  { method: "POST", path: "/rollouts/preview", procedure: "rollouts.preview", tag: "rollouts", summary: "Dry run: which machines land in which wave of which ring" },
  { method: "POST", path: "/rollouts", procedure: "rollouts.start", tag: "rollouts", summary: "Start a rollout", creates: true },
  { method: "GET", path: "/rollouts/{rolloutId}", procedure: "rollouts.get", tag: "rollouts", summary: "One rollout with per-ring, per-wave progress and the actions allowed now" },
  { method: "GET", path: "/rollouts/{rolloutId}/machines", procedure: "rollouts.machines", tag: "rollouts", summary: "A rollout's machines and their steps" },
  { method: "GET", path: "/rollouts/{rolloutId}/comparison", procedure: "rollouts.comparison", tag: "rollouts", summary: "Health on the new release beside the old, per ring" },
  { method: "GET", path: "/rollouts/{rolloutId}/action-preview", procedure: "rollouts.actionPreview", tag: "rollouts", summary: "What pause, abort or revert would do now" },
  { method: "POST", path: "/rollouts/{rolloutId}/pause", procedure: "rollouts.pause", tag: "rollouts", summary: "Pause a rollout" },
  { method: "POST", path: "/rollouts/{rolloutId}/resume", procedure: "rollouts.resume", tag: "rollouts", summary: "Resume a paused rollout" },
  { method: "POST", path: "/rollouts/{rolloutId}/approve", procedure: "rollouts.approve", tag: "rollouts", summary: "Approve the ring that awaits approval" },
  { method: "POST", path: "/rollouts/{rolloutId}/abort", procedure: "rollouts.abort", tag: "rollouts", summary: "Abort a rollout" },
  { method: "POST", path: "/rollouts/{rolloutId}/revert", procedure: "rollouts.revert", tag: "rollouts", summary: "Revert a rollout, or one ring of it" },
  // Enrollment tokens
  { method: "GET", path: "/enrollment-tokens", procedure: "enrollmentTokens.list", tag: "enrollment-tokens", summary: "List enrollment tokens" },
  { method: "POST", path: "/enrollment-tokens", procedure: "enrollmentTokens.create", tag: "enrollment-tokens", summary: "Create an enrollment token (shown once)", creates: true },
  { method: "POST", path: "/enrollment-tokens/{id}/revoke", procedure: "enrollmentTokens.revoke", tag: "enrollment-tokens", summary: "Revoke an enrollment token" },
  // Users
  { method: "GET", path: "/me", procedure: "users.me", tag: "users", summary: "Who the token is: its name, role and rings" },
  { method: "GET", path: "/users", procedure: "users.list", tag: "users", summary: "List users" },
  { method: "GET", path: "/users/by-email/{email}", procedure: "users.get", tag: "users", summary: "One user, by e-mail" },
  { method: "GET", path: "/users/sign-in-methods", procedure: "users.signInMethods", tag: "users", summary: "How people sign in here, and whether users may be created (not with passwords switched off)" },
  { method: "POST", path: "/users", procedure: "users.create", tag: "users", summary: "Create a user", creates: true },
  { method: "PATCH", path: "/users/{userId}", procedure: "users.update", tag: "users", summary: "Change a user's role, rings, or disable them" },
  { method: "DELETE", path: "/users/{userId}", procedure: "users.remove", tag: "users", summary: "Remove a user" },
  // API tokens
  { method: "GET", path: "/api-tokens", procedure: "apiTokens.list", tag: "api-tokens", summary: "List API tokens" },
  { method: "POST", path: "/api-tokens", procedure: "apiTokens.create", tag: "api-tokens", summary: "Create an API token (shown once)", creates: true },
  { method: "POST", path: "/api-tokens/{id}/revoke", procedure: "apiTokens.revoke", tag: "api-tokens", summary: "Revoke an API token" },
  // Webhooks
  { method: "GET", path: "/webhooks", procedure: "webhooks.list", tag: "webhooks", summary: "List webhook subscriptions with their queue and last delivery" },
  { method: "POST", path: "/webhooks", procedure: "webhooks.create", tag: "webhooks", summary: "Subscribe a URL to events (its signing secret is shown once)", creates: true },
  { method: "PATCH", path: "/webhooks/{id}", procedure: "webhooks.update", tag: "webhooks", summary: "Change a subscription's URL, events, description, or enable or disable it" },
  { method: "DELETE", path: "/webhooks/{id}", procedure: "webhooks.remove", tag: "webhooks", summary: "Remove a subscription and its queue" },
  { method: "GET", path: "/webhooks/{id}/deliveries", procedure: "webhooks.deliveries", tag: "webhooks", summary: "A subscription's recent deliveries with the receiver's answers" },
  { method: "POST", path: "/webhooks/{id}/test", procedure: "webhooks.sendTest", tag: "webhooks", summary: "Send a subscription a test event", creates: true },
  { method: "POST", path: "/webhooks/{id}/rotate-secret", procedure: "webhooks.rotateSecret", tag: "webhooks", summary: "Give a subscription a new signing secret (shown once; the old one stops at once)", creates: true },
  // Audit and dashboard
  { method: "GET", path: "/audit", procedure: "audit.list", tag: "audit", summary: "The audit log, filtered and paged (CSV: /audit.csv with the same filters)" },
  { method: "GET", path: "/dashboard", procedure: "dashboard.summary", tag: "dashboard", summary: "The fleet's summary: counts, versions per ring, active rollouts, attention" },
  { method: "GET", path: "/dashboard/app-versions", procedure: "dashboard.appVersions", tag: "dashboard", summary: "App versions per ring: of each app a ring lists, machines per version" },
  { method: "GET", path: "/dashboard/version-history", procedure: "dashboard.versionHistory", tag: "dashboard", summary: "Versions over time" },
];

/** Procedures the REST API leaves out, and why (checked by a test against the router). */
export const NOT_IN_API: Record<string, string> = {
  "users.changePassword": "a person changes their own password in the console; a token has none",
  "users.account": "a person's own account page in the console (how they sign in); a token has none (GET /me says who it is)",
};

export const API_PREFIX = "/api/v1";
