// The `orchard` command: the console's own procedures, on the configured
// database (the embedded one through the running console's socket, when a
// console is running), or on a remote console through its REST API with an
// API token (ORCHARD_URL and ORCHARD_TOKEN, or --server and --token): the
// same output and exit codes either way (server/cli/backend.ts). Exit codes:
// 0 done, 1 refused or failed, 2 bad arguments (or nothing there), 3 `rollout
// wait` timed out. Every command takes --json.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { problem } from "../api/problem";
import { ConfigError } from "../config";
import { parseDuration } from "../duration";
import { weekdays } from "../rollouts/windows";
import { roles } from "../users/schemas";
import { WEBHOOK_EVENT_KINDS } from "../vocabulary";
import { type Backend, chooseBackend, CliFailure, type OutputOf } from "./backend";
import { formatTable, readStdinSecret } from "./io";

let backend: Backend | null = null;

/** A file's sha256, read as a stream. */
async function sha256OfFile(file: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest("hex");
}

function positiveInt(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

/** A duration that may be zero (no soak). */
function durationOrZero(value: string) {
  return /^0[smhdw]?$/.test(value.trim()) ? 0 : duration(value);
}

function duration(value: string) {
  const seconds = parseDuration(value);
  if (seconds === null) throw new InvalidArgumentError("expected a duration such as 90m, 24h or 7d");
  return seconds;
}

function list(value: string) {
  const items = value.split(",").map((v) => v.trim()).filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError("expected a comma-separated list");
  return items;
}

function percents(value: string) {
  return list(value).map((v) => {
    const n = Number(v.replace(/%$/, ""));
    if (!Number.isInteger(n) || n < 1 || n > 100) throw new InvalidArgumentError("expected whole percentages such as 10,50,100");
    return n;
  });
}

function rate(value: string) {
  const n = value.endsWith("%") ? Number(value.slice(0, -1)) / 100 : Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError("expected a rate such as 5% or 0.05");
  return n;
}

interface PlanFlags {
  release: string;
  ref?: string;
  rings: string[];
  waves: number[];
  singleFirst: boolean;
  soak: number;
  maxFailure: number;
  minSample: number;
  darkAfter: number;
  approveBetween?: boolean;
  forceFirst: string[];
  exclude: string[];
  allowDowngrade?: boolean;
  json?: boolean;
}

/** A ring's follow mode in words. */
function followText(ring: { follow: boolean; followApproval: boolean }) {
  return ring.follow ? `follows its branch${ring.followApproval ? " (an operator approves before it, unless it is the first following ring)" : ""}` : "does not follow its branch";
}

/** A default rollout policy on one line: waves 10,50,100 · single first · soak 30m · ≤5% of ≥5 · dark 30m. */
function policyText(p: { waves: number[]; singleFirst: boolean; soakSeconds: number; maxFailureRate: number; minSample: number; darkAfterSeconds: number }) {
  return [
    `waves ${p.waves.join(",")}`,
    p.singleFirst ? "single first" : "no single first",
    `soak ${p.soakSeconds}s`,
    `max failure ${Math.round(p.maxFailureRate * 1000) / 10}% of ${p.minSample}+`,
    `dark after ${p.darkAfterSeconds}s`,
  ].join(" · ");
}

function label(value: string, previous: Record<string, string> = {}) {
  const at = value.indexOf("=");
  if (at < 1) throw new InvalidArgumentError("expected KEY=VALUE");
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

/** A window as `mon,tue@02:00+3h`: days, start (HH:MM) and length. */
function window(value: string, previous: { days: string[]; start: string; durationMinutes: number }[] = []) {
  const match = /^([a-z,]+)@(\d{2}:\d{2})\+(\S+)$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError("expected DAYS@HH:MM+DURATION, such as mon,tue@02:00+3h");
  const days = match[1].split(",").filter(Boolean);
  const bad = days.find((d) => !(weekdays as readonly string[]).includes(d));
  if (bad) throw new InvalidArgumentError(`${bad}: expected days among ${weekdays.join(", ")}`);
  const seconds = parseDuration(match[3]);
  if (seconds === null || seconds < 60) throw new InvalidArgumentError("expected a length such as 90m or 3h");
  return [...previous, { days, start: match[2], durationMinutes: Math.round(seconds / 60) }];
}

/** A timeline value in a few words: text as it is, anything else as JSON. */
const brief = (value: unknown) => (value === null || value === undefined ? "-" : typeof value === "string" ? value : JSON.stringify(value).slice(0, 80));
const iso = (value: Date | string | null | undefined) => (value ? (value instanceof Date ? value.toISOString() : value) : "never");
const json = (value: unknown) => JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2);

export function buildProgram(out: (line: string) => void = (line) => console.log(line)): Command {
  const program = new Command("orchard")
    .description(
      "Orchard console command line: users, tokens, webhooks, rings, releases, machines, rollouts and the audit log.\n" +
        "Runs on the configured database, or on a remote console with ORCHARD_URL and ORCHARD_TOKEN (or --server and --token).\n" +
        "Exit codes: 0 done, 1 refused or failed, 2 bad arguments or nothing there, 3 `rollout wait` timed out.",
    )
    .option("--server <url>", "a remote console's URL (default: $ORCHARD_URL)")
    .option("--token <token>", "an API token for the remote console (default: $ORCHARD_TOKEN)")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  program.configureOutput({ outputError: (text, write) => write(text) });
  const api = () => (backend ??= chooseBackend(program.opts<{ server?: string; token?: string }>()));
  /** Prints JSON with --json, else the text. */
  const say = (opts: { json?: boolean }, value: unknown, text: () => string | string[]) => {
    if (opts.json) return out(json(value));
    const lines = text();
    for (const line of Array.isArray(lines) ? lines : [lines]) out(line);
  };

  // ---- users ---------------------------------------------------------------------------------
  const user = program.command("user").description("Console users");
  user
    .command("create")
    .description("Create a user; the password is read from stdin when piped, else generated and printed")
    .requiredOption("--email <email>", "the user's e-mail")
    .addOption(new Option("--role <role>", "what the user may do").choices(roles).makeOptionMandatory())
    .option("--rings <names>", "the rings the role holds on, comma-separated (default: every ring)", list)
    .option("--name <name>", "display name")
    .option("--json", "machine-readable output")
    .action(async (opts: { email: string; role: (typeof roles)[number]; rings?: string[]; name?: string; json?: boolean }) => {
      const piped = await readStdinSecret();
      const created = await api().call("users.create", { email: opts.email, role: opts.role, rings: opts.rings, name: opts.name, password: piped ?? undefined });
      say(opts, created, () => [
        `Created ${created.user.role} ${created.user.email}${created.user.rings ? ` of ${created.user.rings.join(", ")}` : ""}`,
        ...(created.password ? [`password: ${created.password}`] : []),
      ]);
    });
  user
    .command("list")
    .description("List users")
    .option("--json", "machine-readable output")
    .action(async (opts: { json?: boolean }) => {
      const users = await api().call("users.list");
      say(opts, users, () =>
        formatTable(
          ["EMAIL", "ROLE", "RINGS", "DISABLED", "LAST SIGN-IN"],
          users.map((u) => [u.email, u.role, u.rings?.join(",") ?? "all", u.disabledAt ? "yes" : "no", iso(u.lastSignInAt)]),
        ),
      );
    });
  user
    .command("update")
    .description("Change a user's role or rings, or disable or enable them (their sessions end)")
    .argument("<email>", "the user")
    .addOption(new Option("--role <role>", "the new role").choices(roles))
    .option("--rings <names>", "the rings the role holds on, comma-separated", list)
    .option("--all-rings", "the role holds on every ring")
    .option("--disable", "the user can no longer sign in")
    .option("--enable", "the user can sign in again")
    .option("--json", "machine-readable output")
    .action(async (email: string, opts: { role?: (typeof roles)[number]; rings?: string[]; allRings?: boolean; disable?: boolean; enable?: boolean; json?: boolean }) => {
      const found = await api().call("users.get", { email });
      const rings = opts.allRings ? null : opts.rings;
      const disabled = opts.disable ? true : opts.enable ? false : undefined;
      const updated = await api().call("users.update", { userId: found.id, role: opts.role, rings, disabled });
      say(opts, updated, () => `${updated.email} is ${updated.role} of ${updated.rings?.join(", ") ?? "every ring"}${updated.disabledAt ? " (disabled)" : ""}`);
    });

  // ---- tokens --------------------------------------------------------------------------------
  const token = program.command("enroll-token").description("Enrollment tokens for agents");
  token
    .command("create")
    .description("Create an enrollment token; prints it alone on the last line (shown only once)")
    .option("--ring <name>", "ring that machines enrolling with it join")
    .option("--uses <n>", "how many machines may enroll with it", positiveInt("--uses"))
    .option("--expires <duration>", "lifetime such as 24h or 7d", duration)
    .option("--name <name>", "what the token is for", "created on the command line")
    .option("--label <key=value>", "label given to machines that enroll with it (repeatable)", label)
    .option("--json", "machine-readable output")
    .action(
      async (opts: { ring?: string; uses?: number; expires?: number; name: string; label?: Record<string, string>; json?: boolean }) => {
        const created = await api().call("enrollmentTokens.create", {
          name: opts.name,
          ring: opts.ring,
          maxUses: opts.uses,
          expiresInSeconds: opts.expires,
          labels: opts.label,
        });
        const r = created.record;
        say(opts, created, () => [
          `Enrollment token ${r.prefix}… ring=${r.ring?.name ?? "(first ring)"} uses=${r.maxUses ?? "unlimited"} expires=${iso(r.expiresAt)}`,
          created.token,
        ]);
      },
    );
  token
    .command("list")
    .description("List enrollment tokens, newest first")
    .option("--json", "machine-readable output")
    .action(async (opts: { json?: boolean }) => {
      const tokens = await api().call("enrollmentTokens.list");
      say(opts, tokens, () =>
        formatTable(
          ["ID", "NAME", "TOKEN", "RING", "USES", "EXPIRES", "REVOKED"],
          tokens.map((t) => [t.id, t.name, `${t.prefix}…`, t.ring?.name ?? "-", `${t.uses}/${t.maxUses ?? "∞"}`, iso(t.expiresAt), t.revokedAt ? "yes" : "no"]),
        ),
      );
    });
  token
    .command("revoke")
    .description("Revoke an enrollment token (machines that enrolled with it keep working)")
    .argument("<id>", "the token's id (enroll-token list)")
    .option("--json", "machine-readable output")
    .action(async (id: string, opts: { json?: boolean }) => {
      const revoked = await api().call("enrollmentTokens.revoke", { id });
      say(opts, revoked, () => `Revoked enrollment token ${revoked.name} (${revoked.prefix}…)`);
    });

  const apiToken = program.command("api-token").description("API tokens for pipelines and the remote command line");
  apiToken
    .command("create")
    .description("Create an API token; prints it alone on the last line (shown only once)")
    .argument("<name>", "what it is for, such as ci-release")
    .addOption(new Option("--role <role>", "what it may do").choices(roles).makeOptionMandatory())
    .option("--rings <names>", "the rings the role holds on, comma-separated (default: every ring)", list)
    .option("--expires <days>", "lifetime in days", positiveInt("--expires"))
    .option("--json", "machine-readable output")
    .action(async (name: string, opts: { role: (typeof roles)[number]; rings?: string[]; expires?: number; json?: boolean }) => {
      const created = await api().call("apiTokens.create", { name, role: opts.role, rings: opts.rings, expiresInDays: opts.expires });
      const r = created.record;
      say(opts, created, () => [`API token ${r.name} (${r.prefix}…) role=${r.role} rings=${r.rings?.join(",") ?? "all"} expires=${iso(r.expiresAt)}`, created.token]);
    });
  apiToken
    .command("list")
    .description("List API tokens, newest first")
    .option("--json", "machine-readable output")
    .action(async (opts: { json?: boolean }) => {
      const tokens = await api().call("apiTokens.list");
      say(opts, tokens, () =>
        formatTable(
          ["ID", "NAME", "TOKEN", "ROLE", "RINGS", "STATE", "EXPIRES", "LAST USED"],
          tokens.map((t) => [t.id, t.name, `${t.prefix}…`, t.role, t.rings?.join(",") ?? "all", t.state, iso(t.expiresAt), iso(t.lastUsedAt)]),
        ),
      );
    });
  apiToken
    .command("revoke")
    .description("Revoke an API token")
    .argument("<id>", "the token's id (api-token list)")
    .option("--json", "machine-readable output")
    .action(async (id: string, opts: { json?: boolean }) => {
      const revoked = await api().call("apiTokens.revoke", { id });
      say(opts, revoked, () => `Revoked API token ${revoked.name} (${revoked.prefix}…)`);
    });

  // ---- webhooks ------------------------------------------------------------------------------
  const webhook = program.command("webhook").description("Webhook subscriptions: URLs told of rollout, release and machine events");
  const events = (value: string) => (value.trim() === "all" ? [...WEBHOOK_EVENT_KINDS] : list(value));
  const eventsHelp = `event kinds, comma-separated, or all: ${WEBHOOK_EVENT_KINDS.join(", ")}`;
  const subscriptionLine = (s: { id: string; url: string; events: string[]; enabled: boolean }) =>
    `${s.id} ${s.url}${s.enabled ? "" : " (disabled)"}: ${s.events.join(", ")}`;
  webhook
    .command("list")
    .description("List subscriptions with their queue and last delivery")
    .option("--json", "machine-readable output")
    .action(async (opts: { json?: boolean }) => {
      const subscriptions = await api().call("webhooks.list");
      say(opts, subscriptions, () =>
        formatTable(
          ["ID", "URL", "EVENTS", "ENABLED", "PENDING", "FAILED", "LAST DELIVERY"],
          subscriptions.map((s) => [
            s.id,
            s.url,
            s.events.length === WEBHOOK_EVENT_KINDS.length ? "all" : s.events.join(","),
            s.enabled ? "yes" : "no",
            String(s.pending),
            String(s.failed),
            s.lastDelivery ? `${iso(s.lastDelivery.at)} ${s.lastDelivery.kind} ${s.lastDelivery.state}${s.lastDelivery.status === null ? "" : ` (${s.lastDelivery.status})`}` : "never",
          ]),
        ),
      );
    });
  webhook
    .command("create")
    .description("Subscribe a URL to events; prints the signing secret alone on the last line (shown only once)")
    .requiredOption("--url <url>", "where the console POSTs each event (http:// or https://)")
    .requiredOption("--events <kinds>", eventsHelp, events)
    .option("--description <text>", "what it is for")
    .option("--json", "machine-readable output")
    .action(async (opts: { url: string; events: string[]; description?: string; json?: boolean }) => {
      const created = await api().call("webhooks.create", { url: opts.url, events: opts.events as never, description: opts.description });
      say(opts, created, () => [`Subscribed ${subscriptionLine(created.subscription)}`, "Signing secret (Standard Webhooks; shown only once):", created.secret]);
    });
  webhook
    .command("update")
    .description("Change a subscription's URL, events or description, or enable or disable it")
    .argument("<id>", "the subscription (webhook list)")
    .option("--url <url>", "a new URL")
    .option("--events <kinds>", eventsHelp, events)
    .option("--description <text>", "a new description")
    .addOption(new Option("--enable", "deliver again: what was queued before it was disabled goes out, in order").conflicts("disable"))
    .option("--disable", "send it nothing and queue nothing for it; what is queued waits until it is enabled again")
    .option("--json", "machine-readable output")
    .action(async (id: string, opts: { url?: string; events?: string[]; description?: string; enable?: boolean; disable?: boolean; json?: boolean }) => {
      const enabled = opts.enable ? true : opts.disable ? false : undefined;
      const updated = await api().call("webhooks.update", { id, url: opts.url, events: opts.events as never, description: opts.description, enabled });
      say(opts, updated, () => `Updated ${subscriptionLine(updated)}`);
    });
  webhook
    .command("rotate-secret")
    .description("Give a subscription a new signing secret; prints it alone on the last line (shown only once). The old one stops at once")
    .argument("<id>", "the subscription (webhook list)")
    .option("--json", "machine-readable output")
    .action(async (id: string, opts: { json?: boolean }) => {
      const rotated = await api().call("webhooks.rotateSecret", { id });
      say(opts, rotated, () => [`New signing secret for ${subscriptionLine(rotated.subscription)} (shown only once):`, rotated.secret]);
    });
  webhook
    .command("delete")
    .description("Remove a subscription and its queue (what was not delivered yet is dropped)")
    .argument("<id>", "the subscription (webhook list)")
    .option("--json", "machine-readable output")
    .action(async (id: string, opts: { json?: boolean }) => {
      const removed = await api().call("webhooks.remove", { id });
      say(opts, removed, () => `Removed webhook ${removed.id}; ${removed.pendingDropped} undelivered message(s) dropped`);
    });
  webhook
    .command("test")
    .description("Send the subscription a webhook.test event (queued; see webhook deliveries)")
    .argument("<id>", "the subscription (webhook list)")
    .option("--json", "machine-readable output")
    .action(async (id: string, opts: { json?: boolean }) => {
      const queued = await api().call("webhooks.sendTest", { id });
      say(opts, queued, () => `Queued test event ${queued.eventId} for webhook ${id}`);
    });
  webhook
    .command("deliveries")
    .description("A subscription's newest deliveries: state, attempts and the receiver's last answer")
    .argument("<id>", "the subscription (webhook list)")
    .option("--limit <n>", "how many (at most 200)", positiveInt("--limit"), 20)
    .option("--json", "machine-readable output")
    .action(async (id: string, opts: { limit: number; json?: boolean }) => {
      const result = await api().call("webhooks.deliveries", { id, limit: Math.min(opts.limit, 200) });
      say(opts, result, () => [
        subscriptionLine(result.subscription),
        formatTable(
          ["CREATED", "MESSAGE", "EVENT", "STATE", "ATTEMPTS", "NEXT ATTEMPT", "LAST ANSWER"],
          result.deliveries.map((d) => {
            const last = d.tries[0];
            const answer = !last ? "-" : last.status !== null ? `${last.status} ${brief(last.response ?? "")}`.trim() : `error: ${brief(last.error)}`;
            return [iso(d.createdAt), d.eventId, d.kind, d.state, String(d.attempts), d.state === "pending" ? iso(d.nextAttemptAt) : "-", answer.replace(/\s+/g, " ").slice(0, 80)];
          }),
        ),
      ]);
    });

  // ---- rings ---------------------------------------------------------------------------------
  const ring = program.command("ring").description("Rings of the fleet");
  ring
    .command("create")
    .description("Create a ring following a branch (a branch named for the first time is created)")
    .argument("<name>", "ring name, such as canary")
    .requiredOption("--branch <ref>", "ostree ref the ring follows")
    .option("--after <ring>", "place it right after this ring (default: last)")
    .option("--json", "machine-readable output")
    .action(async (name: string, opts: { branch: string; after?: string; json?: boolean }) => {
      const created = await api().call("rings.create", { name, branch: opts.branch, after: opts.after });
      say(opts, created, () => `Created ring ${created.name} (position ${created.position + 1}) following ${created.branch.ref}`);
    });
  ring
    .command("list")
    .description("List rings in order, with their release and policy")
    .option("--json", "machine-readable output")
    .action(async (opts: { json?: boolean }) => {
      const rings = await api().call("rings.list");
      say(opts, rings, () =>
        formatTable(
          ["RING", "BRANCH", "RELEASE", "MACHINES", "INTERVAL", "REBOOT SLOTS", "FAILURE DOMAIN", "WINDOWS", "BLACKOUT DATES", "FOLLOW", "ROLLOUT POLICY"],
          rings.map((r) => [
            r.name,
            r.branch.ref,
            r.currentRelease?.version ?? "-",
            String(r.machines),
            `${r.checkInIntervalSeconds}s`,
            String(r.rebootSlots),
            r.failureDomainLabel ?? "-",
            (r.maintenanceWindows as { days: string[]; start: string; durationMinutes: number }[]).map((w) => `${w.days.join(",")}@${w.start}+${w.durationMinutes}m`).join(" ") || "any time",
            (r.blackoutDates as string[]).join(",") || "-",
            r.follow ? (r.followApproval ? "yes (approval)" : "yes") : "no",
            policyText(r.rolloutPolicy),
          ]),
        ),
      );
    });
  ring
    .command("set-release")
    .description("Make a release of the ring's branch its current release")
    .argument("<ring>", "ring name")
    .argument("<version>", "release version")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (ringName: string, version: string, opts: { reason?: string; json?: boolean }) => {
      const updated = await api().call("rings.setRelease", { ring: ringName, version, reason: opts.reason });
      say(opts, updated, () => `Ring ${updated.name} now runs ${updated.currentRelease?.version} (${updated.currentRelease?.checksum})`);
    });
  ring
    .command("policy")
    .alias("update")
    .description("Change a ring's policy: check-in interval, reboot slots, windows, blackout dates, failure domain, follow mode and its default rollout policy")
    .argument("<ring>", "ring name")
    .option("--interval <duration>", "how often its agents check in, such as 5m", duration)
    .option("--reboot-slots <n>", "machines (per failure domain) that may reboot at once", positiveInt("--reboot-slots"))
    .option("--reboot-lease <duration>", "how long a reboot slot is held before it expires", duration)
    .option("--time-zone <zone>", "the zone its windows and dates are in, such as Europe/Berlin")
    .option("--window <days@HH:MM+length>", "a maintenance window such as mon,tue@02:00+3h (repeatable; replaces them all)", window)
    .option("--any-time", "no maintenance windows: machines may reboot at any time")
    .option("--blackout <dates>", "dates with no reboots, comma-separated (replaces them all)", list)
    .option("--no-blackout", "no blackout dates")
    .option("--failure-domain <label>", "reboot slots count per value of this machine label (such as site)")
    .option("--no-failure-domain", "reboot slots count per ring")
    .option("--follow", "follow mode: a new release its branch's source brings, signed by the source's key, starts a rollout by itself")
    .option("--no-follow", "no follow mode (the default): rollouts start by hand")
    .option("--follow-approval", "a follow rollout waits for an operator's approval before this ring (the default; never before the first following ring)")
    .option("--no-follow-approval", "a follow rollout goes on to this ring by itself")
    .option("--waves <percents>", "default rollout policy: wave sizes as percentages of the ring", percents)
    .option("--single-first", "default rollout policy: a first wave of a single machine")
    .option("--no-single-first", "default rollout policy: no first wave of a single machine")
    .option("--soak <duration>", "default rollout policy: time a finished wave must stay healthy before the next opens (0: none)", durationOrZero)
    .option("--max-failure <percent>", "default rollout policy: highest failure rate a wave may show", rate)
    .option("--min-sample <n>", "default rollout policy: finished machines needed before the rate is trusted", positiveInt("--min-sample"))
    .option("--dark-after <duration>", "default rollout policy: an updated machine not healthy on the release by then is dark", duration)
    .option("--json", "machine-readable output")
    .action(
      async (
        ringName: string,
        opts: {
          follow?: boolean;
          followApproval?: boolean;
          waves?: number[];
          singleFirst?: boolean;
          soak?: number;
          maxFailure?: number;
          minSample?: number;
          darkAfter?: number;
          interval?: number;
          rebootSlots?: number;
          rebootLease?: number;
          timeZone?: string;
          window?: { days: string[]; start: string; durationMinutes: number }[];
          anyTime?: boolean;
          blackout?: string[] | false;
          failureDomain?: string | false;
          json?: boolean;
        },
      ) => {
        const updated = await api().call("rings.updatePolicy", {
          ring: ringName,
          checkInIntervalSeconds: opts.interval,
          rebootSlots: opts.rebootSlots,
          rebootLeaseSeconds: opts.rebootLease,
          timeZone: opts.timeZone,
          maintenanceWindows: opts.anyTime ? [] : (opts.window as never),
          blackoutDates: opts.blackout === false ? [] : opts.blackout,
          failureDomainLabel: opts.failureDomain === false ? null : opts.failureDomain,
          follow: opts.follow,
          followApproval: opts.followApproval,
          rolloutPolicy: {
            waves: opts.waves,
            singleFirst: opts.singleFirst,
            soakSeconds: opts.soak,
            maxFailureRate: opts.maxFailure,
            minSample: opts.minSample,
            darkAfterSeconds: opts.darkAfter,
          },
        });
        say(opts, updated, () => [
          `Ring ${updated.name}: check-in every ${updated.checkInIntervalSeconds}s, ${updated.rebootSlots} reboot slot(s)${updated.failureDomainLabel ? ` per ${updated.failureDomainLabel}` : ""}`,
          `${followText(updated)}; default rollout policy: ${policyText(updated.rolloutPolicy)}`,
        ]);
      },
    );
  // A ring's app set (protocol v1.2): `orchard ring app set|rm|list`.
  const ringApp = ring.command("app").description("A ring's app set: the Flatpak apps its machines keep, from which remote, at which release");
  ringApp
    .command("list")
    .description("List the ring's apps with their remote and release")
    .argument("<ring>", "ring name")
    .option("--json", "machine-readable output")
    .action(async (ringName: string, opts: { json?: boolean }) => {
      const result = await api().call("rings.apps", { ring: ringName });
      say(opts, result, () =>
        result.apps.length === 0
          ? `Ring ${result.ring} has no apps${result.managed ? " (its machines remove the apps Orchard installed)" : " (its machines' apps are left alone)"}`
          : formatTable(
              ["REF", "RELEASE", "COMMIT", "REMOTE", "URL", "KEY"],
              result.apps.map((a) => [
                a.ref,
                `${a.release.version}${a.release.quarantined ? " (quarantined)" : ""}${a.allowDowngrade ? " (allowed down)" : ""}`,
                a.release.checksum.slice(0, 12),
                a.remote.name,
                a.remote.url,
                a.remote.gpgKey ? "gpg" : "none",
              ]),
            ),
      );
    });
  ringApp
    .command("set")
    .description("Add an app to the ring's app set, or change its release or remote")
    .argument("<ring>", "ring name")
    .argument("<ref>", "the app's Flatpak ref: app/ID/ARCH/BRANCH")
    .argument("<version>", "a release of that ref")
    .option("--remote <name>", "the Flatpak remote's name on the machines (needed for an app new to the ring)")
    .option("--url <url>", "the remote's URL (needed with --remote)")
    .option("--gpg-key-file <file>", "the remote's GPG public key (a binary or armoured key file); without it the remote is not verified")
    .option("--allow-downgrade", "the release is older than the ring's: let machines go back to it")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(
      async (
        ringName: string,
        ref: string,
        version: string,
        opts: { remote?: string; url?: string; gpgKeyFile?: string; allowDowngrade?: boolean; reason?: string; json?: boolean },
      ) => {
        if ((opts.remote === undefined) !== (opts.url === undefined)) throw new InvalidArgumentError("give --remote and --url together");
        const gpgKey = opts.gpgKeyFile ? fs.readFileSync(opts.gpgKeyFile).toString("base64") : null;
        const remote = opts.remote && opts.url ? { name: opts.remote, url: opts.url, gpgKey } : undefined;
        const app = await api().call("rings.setApp", { ring: ringName, ref, version, remote, allowDowngrade: opts.allowDowngrade, reason: opts.reason });
        say(opts, app, () => `Ring ${ringName} runs ${app.ref} ${app.release.version} (${app.release.checksum}) from ${app.remote.name} ${app.remote.url}`);
      },
    );
  ringApp
    .command("rm")
    .alias("remove")
    .description("Take an app out of the ring's app set: its machines remove it if Orchard installed it")
    .argument("<ring>", "ring name")
    .argument("<ref>", "the app's Flatpak ref")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (ringName: string, ref: string, opts: { reason?: string; json?: boolean }) => {
      const result = await api().call("rings.removeApp", { ring: ringName, ref, reason: opts.reason });
      say(opts, result, () => `Ring ${ringName} no longer has ${ref}`);
    });
  ring
    .command("reshuffle")
    .description("Draw the ring's cohorts anew (which machines go in which wave)")
    .argument("<ring>", "ring name")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (ringName: string, opts: { reason?: string; json?: boolean }) => {
      const result = await api().call("rings.reshuffle", { ring: ringName, reason: opts.reason });
      say(opts, result, () => `Ring ${ringName}: cohorts drawn anew`);
    });

  ring
    .command("rename")
    .description("Rename a ring: users' and API tokens' ring scopes follow (ORCHARD_OIDC_GROUPS does not: change it yourself)")
    .argument("<ring>", "the ring's name now")
    .argument("<name>", "its new name")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (ringName: string, name: string, opts: { reason?: string; json?: boolean }) => {
      const result = await api().call("rings.rename", { ring: ringName, name, reason: opts.reason });
      say(opts, result, () => [
        `Ring ${result.previousName} is now ${result.ring} (${result.usersRescoped} user scope(s), ${result.apiTokensRescoped} API token scope(s) rewritten)`,
        ...result.warnings.map((w) => `warning: ${w}`),
      ]);
    });
  ring
    .command("reorder")
    .description("Change the rollout order: move a ring before or after another, or give every ring in order")
    .argument("<rings...>", "the ring to move (with --before or --after), or every ring in the new order")
    .option("--before <ring>", "move it right before this ring")
    .option("--after <ring>", "move it right after this ring")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (names: string[], opts: { before?: string; after?: string; reason?: string; json?: boolean }) => {
      const move = opts.before !== undefined || opts.after !== undefined;
      if (move && names.length !== 1) throw new InvalidArgumentError("with --before or --after, name the one ring to move");
      const result = await api().call(
        "rings.reorder",
        move ? { ring: names[0], before: opts.before, after: opts.after, reason: opts.reason } : { order: names, reason: opts.reason },
      );
      say(opts, result, () => `${result.changed ? "Rollout order" : "Rollout order unchanged"}: ${result.order.join(" → ")}`);
    });
  ring
    .command("remove")
    .description("Remove an empty ring (no machines, no rollout history); its unused enrollment tokens are revoked")
    .argument("<ring>", "ring name")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (ringName: string, opts: { reason?: string; json?: boolean }) => {
      const result = await api().call("rings.remove", { ring: ringName, reason: opts.reason });
      say(opts, result, () => [
        `Removed ring ${result.ring} (${result.enrollmentTokensRevoked} enrollment token(s) revoked, ${result.usersRescoped} user scope(s), ${result.apiTokensRescoped} API token scope(s) rewritten)`,
        ...result.warnings.map((w) => `warning: ${w}`),
      ]);
    });

  // ---- releases ------------------------------------------------------------------------------
  /** What changed since the previous release, in lines. */
  const changeLines = (r: OutputOf<"releases.get">): string[] => {
    const c = r.changes;
    if (!c) return [`changes: ${r.changesAbsent ?? "none"}`];
    const lines = [`changes since ${c.base.version}:`];
    if (c.files) {
      lines.push(`  files: ${c.files.added} added, ${c.files.removed} removed, ${c.files.modified} modified${c.files.pathsTruncated ? ` (paths listed: the first ${c.files.pathsKept})` : ""}`);
    }
    if (c.error) lines.push(`  not compared: ${c.error}`);
    const keys = (record: Record<string, unknown>) => Object.keys(record).join(", ") || "none";
    if (c.metadata) {
      lines.push(`  metadata: added ${keys(c.metadata.added)}; removed ${keys(c.metadata.removed)}; changed ${Object.entries(c.metadata.changed).map(([k, v]) => `${k} ${JSON.stringify(v.from)} → ${JSON.stringify(v.to)}`).join(", ") || "none"}`);
    }
    if (c.image) {
      const i = c.image;
      lines.push(`  layers: ${i.layersAdded.length} added, ${i.layersRemoved.length} removed, ${i.layersKept.length} kept; size ${i.sizeDelta >= 0 ? "+" : ""}${i.sizeDelta} bytes`);
      lines.push(`  labels: added ${keys(i.labelsAdded)}; removed ${keys(i.labelsRemoved)}; changed ${Object.entries(i.labelsChanged).map(([k, v]) => `${k} ${v.from} → ${v.to}`).join(", ") || "none"}`);
    }
    return lines;
  };
  const release = program.command("release").description("Releases: immutable commits of a branch");
  release
    .command("add")
    .description("Add a release (ref + commit checksum + version)")
    .requiredOption("--ref <ref>", "ostree ref, such as exampleos/x86_64/stable")
    .requiredOption("--checksum <hex>", "the commit checksum: 64 hex characters")
    .requiredOption("--version <version>", "version, such as 2026.11.1")
    .option("--notes <text>", "release notes")
    .option("--json", "machine-readable output")
    .action(async (opts: { ref: string; checksum: string; version: string; notes?: string; json?: boolean }) => {
      const added = await api().call("releases.add", { ref: opts.ref, checksum: opts.checksum, version: opts.version, notes: opts.notes });
      say(opts, added, () => `Added release ${added.version} of ${added.branch.ref} (${added.checksum})`);
    });
  release
    .command("list")
    .description("List releases, newest first")
    .option("--ref <ref>", "only this branch")
    .option("--json", "machine-readable output")
    .action(async (opts: { ref?: string; json?: boolean }) => {
      const releases = await api().call("releases.list", { ref: opts.ref });
      say(opts, releases, () =>
        formatTable(
          ["VERSION", "BRANCH", "CHECKSUM", "SIGNATURE", "QUARANTINED", "BUILT", "ADDED"],
          releases.map((r) => [r.version, r.branch.ref, r.checksum, r.signatureState, r.quarantinedAt ? "yes" : "no", r.builtAt ? iso(r.builtAt) : "-", iso(r.createdAt)]),
        ),
      );
    });

  release
    .command("show")
    .description("One release: checksum, signature, floor, the rings that run it or are getting it, its rollouts, what changed since the previous one")
    .argument("<version>", "release version")
    .option("--ref <ref>", "the release's branch, when several have this version")
    .option("--paths", "list every changed path kept (A added, D removed, M modified)")
    .option("--json", "machine-readable output")
    .action(async (version: string, opts: { ref?: string; paths?: boolean; json?: boolean }) => {
      const r = await api().call("releases.get", { version, ref: opts.ref });
      const paths: OutputOf<"releases.changedPaths">["rows"] = [];
      if (opts.paths && r.changes?.files) {
        for (let page = 0; ; page++) {
          const got = await api().call("releases.changedPaths", { id: r.id, page, pageSize: 1000 });
          paths.push(...got.rows);
          if (got.rows.length < got.pageSize) break;
        }
      }
      say(opts, opts.paths ? { ...r, paths } : r, () => [
        `Release ${r.version} of ${r.branch.ref}: ${r.checksum}`,
        `signature: ${r.signatureState}${r.signatureReason ? ` (${r.signatureReason})` : ""}${r.source ? `; from source ${r.source.name}` : "; added by hand"}${r.builtAt ? `; built ${iso(r.builtAt)}` : ""}`,
        ...(r.floor ? [`floor${r.floorReason ? `: ${r.floorReason}` : ""}`] : []),
        ...(r.sendable ? [] : [`not sendable: ${r.unsendableReason}`]),
        ...(r.quarantinedAt ? [`quarantined since ${iso(r.quarantinedAt)}: ${r.quarantineReason ?? ""}`] : []),
        `rings running it: ${r.currentFor.map((x) => x.name).join(", ") || "none"}`,
        `rings getting it: ${r.rollingTo.map((x) => `${x.name} (rollout ${x.rolloutId})`).join(", ") || "none"}`,
        `rollouts: ${r.rollouts.map((x) => `${x.id} (${x.state})`).join(", ") || "none"}`,
        ...changeLines(r),
        ...paths.map((p) => `${p.change}    ${p.path}`),
        ...(r.notes ? ["", r.notes] : []),
      ]);
    });

  // Artifacts: the files a release carries (server/artifacts/).
  const artifact = release.command("artifact").description("A release's files (a .swu, a .raucb, anything), with their sha256, sha1 and md5");
  const releaseIdOf = async (version: string, ref?: string) => (await api().call("releases.get", { version, ref })).id;
  artifact
    .command("add")
    .description("Upload a file as an artifact of a release: its sha256 is computed here and the console stores it only if what arrived matches")
    .argument("<release>", "release version")
    .argument("<file>", "the file")
    .option("--ref <ref>", "the release's branch, when several have this version")
    .option("--name <name>", "its name in the release (default: the file's name)")
    .option("--type <media-type>", "its content type", "application/octet-stream")
    .option("--json", "machine-readable output")
    .action(async (version: string, file: string, opts: { ref?: string; name?: string; type: string; json?: boolean }) => {
      let sha256: string;
      try {
        sha256 = await sha256OfFile(file);
      } catch (error) {
        throw new CliFailure(problem(400, "INVALID", `file: cannot read ${file}: ${(error as Error).message}`, { field: "file" }));
      }
      const releaseId = await releaseIdOf(version, opts.ref);
      const added = await api().uploadArtifact({ releaseId, name: opts.name ?? path.basename(file), file, sha256, contentType: opts.type });
      say(opts, added, () => `Added ${added.name} to release ${version}: ${added.size} bytes, sha256 ${added.sha256}`);
    });
  artifact
    .command("list")
    .description("A release's artifacts")
    .argument("<release>", "release version")
    .option("--ref <ref>", "the release's branch, when several have this version")
    .option("--json", "machine-readable output")
    .action(async (version: string, opts: { ref?: string; json?: boolean }) => {
      const rows = await api().call("releases.artifacts", { releaseId: await releaseIdOf(version, opts.ref) });
      say(opts, rows, () =>
        rows.length === 0
          ? `Release ${version} has no artifacts.`
          : formatTable(["NAME", "SIZE", "SHA256", "TYPE", "UPLOADED BY", "UPLOADED"], rows.map((a) => [a.name, String(a.size), a.sha256, a.contentType, a.uploadedBy, iso(a.createdAt)])),
      );
    });
  artifact
    .command("rm")
    .description("Remove an artifact from a release (its file too; audited)")
    .argument("<release>", "release version")
    .argument("<name>", "the artifact's name")
    .option("--ref <ref>", "the release's branch, when several have this version")
    .option("--reason <text>", "why, for the audit log")
    .option("--json", "machine-readable output")
    .action(async (version: string, name: string, opts: { ref?: string; reason?: string; json?: boolean }) => {
      const done = await api().call("releases.removeArtifact", { releaseId: await releaseIdOf(version, opts.ref), name, reason: opts.reason });
      say(opts, done, () => `Removed ${done.removed.name} from release ${version}`);
    });

  release
    .command("sync")
    .description("Read the release sources now (one, or every enabled one); exits 1 when a pass fails")
    .option("--source <name>", "only this source")
    .option("--json", "machine-readable output")
    .action(async (opts: { source?: string; json?: boolean }) => syncNow(opts.source, opts));

  // ---- release sources -----------------------------------------------------------------------
  type SyncResults = OutputOf<"sources.sync">;
  const syncNow = async (source: string | undefined, opts: { json?: boolean }) => {
    const results: SyncResults = await api().call("sources.sync", { source });
    say(opts, results, () =>
      results.length === 0
        ? "No enabled release sources."
        : results.map((r) =>
            r.ok
              ? `${r.source}: ${r.created.length ? `${r.created.length} new release${r.created.length > 1 ? "s" : ""}: ${r.created.join(", ")}` : "nothing new"}${
                  r.rolloutStarted ? `; follow mode started rollout ${r.rolloutStarted.rolloutId} of ${r.rolloutStarted.version}` : ""
                }`
              : `${r.source}: failed: ${r.error} (next attempt ${r.nextAttemptAt ? iso(r.nextAttemptAt) : "-"})`,
          ),
    );
    const failed = results.filter((r) => !r.ok);
    if (failed.length) throw new CliFailure(problem(502, "UNAVAILABLE", `${failed.map((r) => r.source).join(", ")} failed`));
  };
  type KeyFlags = { ed25519Key?: string; ed25519KeyFile?: string; gpgKeyFile?: string };
  const keyOf = (opts: KeyFlags) => {
    const given = [opts.ed25519Key, opts.ed25519KeyFile, opts.gpgKeyFile].filter((v) => v !== undefined);
    if (given.length > 1) throw new InvalidArgumentError("give one key: --ed25519-key, --ed25519-key-file or --gpg-key-file");
    const read = (file: string) => {
      try {
        return fs.readFileSync(file, "utf8");
      } catch (error) {
        throw new InvalidArgumentError(`cannot read ${file}: ${(error as Error).message}`);
      }
    };
    if (opts.ed25519Key !== undefined) return { type: "ed25519" as const, publicKey: opts.ed25519Key.trim() };
    if (opts.ed25519KeyFile !== undefined) return { type: "ed25519" as const, publicKey: read(opts.ed25519KeyFile).trim().split("\n")[0] };
    if (opts.gpgKeyFile !== undefined) return { type: "gpg" as const, publicKey: read(opts.gpgKeyFile) };
    return undefined;
  };
  const keyOptions = (command: Command) =>
    command
      .option("--ed25519-key <base64>", "the ed25519 public key commits are signed with (base64 of 32 bytes, as ostree sign takes it)")
      .option("--ed25519-key-file <file>", "a file holding that key (its first line)")
      .option("--gpg-key-file <file>", "an armored GPG public key that commits are signed with");
  type SourceView = OutputOf<"sources.list">[number];
  const sourceLines = (s: SourceView) => [
    `${s.name} (${s.kind}) → ${s.branch}: ${s.url ?? ""} ${s.ref ?? ""}`,
    `  key: ${s.key ? `${s.key.type} ${s.key.summary}` : "none"}; every ${s.pollIntervalSeconds} s; ${s.enabled ? "enabled" : "disabled"}; ${s.releases} releases`,
    `  last sync: ${s.lastSyncAt ? iso(s.lastSyncAt) : "never"}; next attempt: ${iso(s.nextAttemptAt)}${s.lastError ? `; last error (${s.consecutiveFailures} in a row): ${s.lastError}` : ""}`,
  ];
  const source = program.command("source").description("Release sources: where a branch's releases are read from (ostree repositories, container registries)");
  type OciFlags = { registry?: string; repository?: string; tag?: string; tagPattern?: string; username?: string; passwordFile?: string; cosignKeyFile?: string; platform?: string };
  const readFile = (file: string) => {
    try {
      return fs.readFileSync(file, "utf8");
    } catch (error) {
      throw new InvalidArgumentError(`cannot read ${file}: ${(error as Error).message}`);
    }
  };
  keyOptions(
    source
      .command("add")
      .description(
        "Add a branch's release source: an ostree repository (--url, a key is required) or a registry repository of bootc images (--registry, --repository, --tag or --tag-pattern)",
      )
      .argument("<name>", "a name for the source, such as exampleos-stable")
      .requiredOption("--branch <ref>", "the branch whose releases it brings, such as exampleos/x86_64/stable, app/org.example.App/x86_64/stable, or the image machines switch to")
      .option("--url <url>", "an ostree repository: http(s):// or file://")
      .option("--ref <ref>", "the ref to read in the ostree repository (default: the branch)"),
  )
    .option("--registry <url>", "a container registry: https://quay.io, http://127.0.0.1:5000")
    .option("--repository <name>", "the repository on the registry, such as example/os")
    .option("--tag <tag>", "the tag to follow")
    .option("--tag-pattern <glob>", "the tags to read, such as 41.* (* any characters, ? one)")
    .option("--username <name>", "the registry user (with --password-file)")
    .option("--password-file <file>", "a file holding the registry password or token")
    .option("--cosign-key-file <file>", "a cosign public key (PEM): every image's signature is checked")
    .option("--platform <os/arch>", "the image taken from a multi-platform tag (default linux/amd64)")
    .option("--depth <n>", "how many commits of its history a pass reads back at most (default 50)", positiveInt("--depth"))
    .option("--interval <duration>", "how often it is read, such as 5m (default 5m)", duration)
    .option("--disabled", "add it without reading it yet")
    .option("--json", "machine-readable output")
    .action(async (name: string, opts: KeyFlags & OciFlags & { branch: string; url?: string; ref?: string; depth?: number; interval?: number; disabled?: boolean; json?: boolean }) => {
      if ((opts.url === undefined) === (opts.registry === undefined)) throw new InvalidArgumentError("give --url (an ostree repository) or --registry (a container registry)");
      const key = keyOf(opts);
      if (opts.url !== undefined && !key) throw new InvalidArgumentError("an ostree source needs a key: --ed25519-key, --ed25519-key-file or --gpg-key-file");
      if (opts.registry !== undefined && key) throw new InvalidArgumentError("a registry source checks cosign signatures: --cosign-key-file, not an ostree key");
      if (opts.registry !== undefined && !opts.repository) throw new InvalidArgumentError("a registry source needs --repository");
      const config =
        opts.url !== undefined
          ? { kind: "ostree" as const, url: opts.url, ref: opts.ref ?? opts.branch, key: key!, ...(opts.depth ? { depth: opts.depth } : {}) }
          : {
              kind: "oci" as const,
              registry: opts.registry!,
              repository: opts.repository!,
              ...(opts.tag !== undefined ? { tag: opts.tag } : {}),
              ...(opts.tagPattern !== undefined ? { tagPattern: opts.tagPattern } : {}),
              ...(opts.username !== undefined ? { username: opts.username } : {}),
              ...(opts.passwordFile !== undefined ? { password: readFile(opts.passwordFile).trim() } : {}),
              ...(opts.cosignKeyFile !== undefined ? { publicKey: readFile(opts.cosignKeyFile) } : {}),
              ...(opts.platform !== undefined ? { platform: opts.platform } : {}),
            };
      const added = await api().call("sources.add", {
        name,
        branch: opts.branch,
        config,
        ...(opts.interval ? { pollIntervalSeconds: opts.interval } : {}),
        enabled: !opts.disabled,
      });
      say(opts, added, () => [`Added source ${added.name}`, ...sourceLines(added)]);
    });
  source
    .command("list")
    .description("List release sources: kind, URL, ref, key, interval, last sync, last error, next attempt")
    .option("--branch <ref>", "only this branch's")
    .option("--json", "machine-readable output")
    .action(async (opts: { branch?: string; json?: boolean }) => {
      const sources = await api().call("sources.list", { branch: opts.branch });
      say(opts, sources, () =>
        formatTable(
          ["NAME", "KIND", "BRANCH", "URL", "REF", "KEY", "EVERY", "LAST SYNC", "NEXT", "ERROR"],
          sources.map((s) => [
            s.name,
            s.kind,
            s.branch,
            s.url ?? "",
            s.ref ?? "",
            s.key?.type ?? "none",
            `${s.pollIntervalSeconds}s${s.enabled ? "" : " (off)"}`,
            s.lastSyncAt ? iso(s.lastSyncAt) : "never",
            iso(s.nextAttemptAt),
            s.lastError ? `${s.lastError} (×${s.consecutiveFailures})` : "",
          ]),
        ),
      );
    });
  keyOptions(
    source
      .command("update")
      .description("Change a source: its URL, ref, key, depth, interval; enable or disable it")
      .argument("<name>", "the source")
      .option("--url <url>", "the repository: http(s):// or file://")
      .option("--ref <ref>", "the ref to read in the repository"),
  )
    .option("--depth <n>", "how many commits of its history a pass reads back at most", positiveInt("--depth"))
    .option("--interval <duration>", "how often it is read, such as 5m", duration)
    .option("--enable", "read it again")
    .option("--disable", "stop reading it")
    .option("--json", "machine-readable output")
    .action(async (name: string, opts: KeyFlags & { url?: string; ref?: string; depth?: number; interval?: number; enable?: boolean; disable?: boolean; json?: boolean }) => {
      if (opts.enable && opts.disable) throw new InvalidArgumentError("--enable or --disable, not both");
      const key = keyOf(opts);
      let config: OutputOf<"sources.get">["config"] | undefined;
      if (key || opts.url || opts.ref || opts.depth) {
        const current = await api().call("sources.get", { source: name });
        config = { ...current.config, ...(opts.url ? { url: opts.url } : {}), ...(opts.ref ? { ref: opts.ref } : {}), ...(opts.depth ? { depth: opts.depth } : {}), ...(key ? { key } : {}) };
      }
      const updated = await api().call("sources.update", {
        source: name,
        ...(config ? { config } : {}),
        ...(opts.interval ? { pollIntervalSeconds: opts.interval } : {}),
        ...(opts.enable ? { enabled: true } : opts.disable ? { enabled: false } : {}),
      });
      say(opts, updated, () => [`Updated source ${updated.name}`, ...sourceLines(updated)]);
    });
  source
    .command("remove")
    .description("Remove a source (the releases it brought stay)")
    .argument("<name>", "the source")
    .option("--json", "machine-readable output")
    .action(async (name: string, opts: { json?: boolean }) => {
      const removed = await api().call("sources.remove", { source: name });
      say(opts, removed, () => `Removed source ${removed.source} (${removed.releasesKept} releases kept)`);
    });
  source
    .command("sync")
    .description("Read a source now (or every enabled one); exits 1 when a pass fails")
    .argument("[name]", "the source (default: every enabled one)")
    .option("--json", "machine-readable output")
    .action(async (name: string | undefined, opts: { json?: boolean }) => syncNow(name, opts));

  // ---- machines ------------------------------------------------------------------------------
  const machine = program.command("machine").description("Machines of the fleet");
  machine
    .command("list")
    .description("List machines (the console table's filters)")
    .option("--ring <name>", "only this ring")
    .option("--health <status>", "only this health: healthy, degraded, unhealthy, unknown")
    .option("--update-state <state>", "only this update state")
    .option("--version <version>", "only machines booted on this version")
    .option("--label <key=value>", "only machines with this label")
    .option("--search <text>", "host name or machine id contains")
    .option("--json", "machine-readable output")
    .action(async (opts: { ring?: string; health?: string; updateState?: string; version?: string; label?: string; search?: string; json?: boolean }) => {
      const rows: OutputOf<"machines.list">["rows"] = [];
      let cursor: string | undefined;
      for (;;) {
        const result = await api().call("machines.list", {
          ring: opts.ring,
          health: opts.health as never,
          updateState: opts.updateState as never,
          version: opts.version,
          label: opts.label,
          q: opts.search,
          pageSize: 200,
          sort: "hostname",
          cursor,
        });
        rows.push(...result.rows);
        if (!result.nextCursor) break;
        cursor = result.nextCursor;
      }
      say(opts, rows, () => [
        formatTable(
          ["MACHINE ID", "HOSTNAME", "RING", "HEALTH", "UPDATE", "VERSION", "ONLINE", "LAST SEEN"],
          rows.map((m) => [
            m.machineId,
            m.hostname,
            m.ring ?? "-",
            m.healthStatus,
            m.updateState.replace("_", "-"),
            m.bootedVersion ?? "-",
            m.online ? "yes" : "no",
            iso(m.lastSeenAt),
          ]),
        ),
        `${rows.length} machine${rows.length === 1 ? "" : "s"}`,
      ]);
    });
  machine
    .command("show")
    .description("One machine: deployments, health checks and their output, update error, what it is told, and its timeline")
    .argument("<machineId>", "the machine")
    .option("--events <n>", "timeline entries to show", positiveInt("--events"), 20)
    .option("--json", "machine-readable output")
    .action(async (machineId: string, opts: { events: number; json?: boolean }) => {
      const m = await api().call("machines.get", { machineId });
      const timeline = await api().call("machines.timeline", { machineId, limit: Math.min(opts.events, 500) });
      say(opts, { ...m, timeline: timeline.items }, () => {
        const lines = [
          `${m.machineId} (${m.hostname}) ring ${m.ring?.name ?? "-"}, ${m.online ? "online" : "offline"}, last seen ${iso(m.lastSeenAt)}`,
          `health ${m.healthStatus}, update ${m.updateState.replace("_", "-")}${m.updateError ? `: ${m.updateError}` : ""}`,
          `told: ${m.answer.title}${m.answer.detail ? ` — ${m.answer.detail}` : ""}`,
          "deployments:",
        ];
        for (const d of m.deployments as { checksum: string; version?: string; ref?: string; booted?: boolean; staged?: boolean; pinned?: boolean }[]) {
          lines.push(`  ${d.booted ? "*" : " "} ${d.version ?? "-"} ${d.ref ?? ""} ${d.checksum.slice(0, 12)}${d.staged ? " (staged)" : ""}${d.pinned ? " (pinned)" : ""}`);
        }
        lines.push("health checks:");
        for (const c of (m.healthChecks ?? []) as { name: string; status: string; required?: boolean; output?: string }[]) {
          lines.push(`  ${c.name}: ${c.status}${c.required ? " (required)" : ""}`);
          for (const line of (c.output ?? "").split("\n").filter(Boolean).slice(0, 10)) lines.push(`    ${line}`);
        }
        lines.push("timeline (newest first):");
        for (const item of timeline.items) {
          const who = "actor" in item && item.actor ? ` by ${item.actor}` : "";
          const change = item.source === "state" ? `: ${brief(item.before)} → ${brief(item.after)}` : "";
          const detail = "detail" in item && item.detail ? `: ${String(item.detail)}` : change;
          lines.push(`  ${iso(item.at)} ${item.source} ${item.kind}${who}${detail}`);
        }
        return lines;
      });
    });
  machine
    .command("pin")
    .description("Pin a machine to a release: it leaves every rollout until unpinned")
    .argument("<machineId>", "the machine")
    .argument("<version>", "release version")
    .option("--allow-downgrade", "the release is older than what the machine runs (roll forward to known-good)")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (machineId: string, version: string, opts: { allowDowngrade?: boolean; reason?: string; json?: boolean }) => {
      const result = await api().call("machines.pin", { machineId, version, allowDowngrade: opts.allowDowngrade, reason: opts.reason });
      say(opts, result, () => `Pinned ${machineId} to ${version}`);
    });
  machine
    .command("apps")
    .description("A machine's installed Flatpak apps and runtimes: version, commit, update state, health")
    .argument("<machineId>", "the machine")
    .option("--json", "machine-readable output")
    .action(async (machineId: string, opts: { json?: boolean }) => {
      const apps = await api().call("machines.apps", { machineId });
      say(opts, apps, () =>
        formatTable(
          ["REF", "VERSION", "COMMIT", "UPDATE", "HEALTH", "ORIGIN", "MANAGED", "PINNED"],
          apps.map((a) => [
            a.ref,
            a.version ?? "-",
            a.commit?.slice(0, 12) ?? "-",
            a.updateState ? `${a.updateState}${a.updateError ? `: ${a.updateError}` : ""}` : "-",
            a.healthStatus ?? "-",
            a.origin ?? "-",
            a.managed ? "yes" : "no",
            a.pinnedVersion ?? "-",
          ]),
        ),
      );
    });
  machine
    .command("pin-app")
    .description("Pin one app of a machine to a release of it: it keeps that release whatever its ring runs or rolls out")
    .argument("<machineId>", "the machine")
    .argument("<ref>", "the app's Flatpak ref")
    .argument("<version>", "a release of that ref")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (machineId: string, ref: string, version: string, opts: { reason?: string; json?: boolean }) => {
      const result = await api().call("machines.pinApp", { machineId, ref, version, reason: opts.reason });
      say(opts, result, () => `Pinned ${ref} on ${machineId} to ${version}`);
    });
  machine
    .command("unpin-app")
    .description("Let one app of a machine follow its ring again")
    .argument("<machineId>", "the machine")
    .argument("<ref>", "the app's Flatpak ref")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (machineId: string, ref: string, opts: { reason?: string; json?: boolean }) => {
      const result = await api().call("machines.unpinApp", { machineId, ref, reason: opts.reason });
      say(opts, result, () => `Unpinned ${ref} on ${machineId}: it follows its ring again`);
    });
  machine
    .command("unpin")
    .description("Unpin a machine (and release a rollback hold): it follows its ring again")
    .argument("<machineId>", "the machine")
    .option("--allow-downgrade", "its ring runs an older release than the machine: let it go down to it")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (machineId: string, opts: { allowDowngrade?: boolean; reason?: string; json?: boolean }) => {
      const after = await api().call("machines.unpinPreview", { machineId });
      const result = await api().call("machines.unpin", { machineId, allowDowngrade: opts.allowDowngrade, reason: opts.reason });
      say(opts, { ...result, sent: after.desired, downgrade: after.downgrade }, () => [
        `Unpinned ${machineId}${after.action === "none" ? "" : `: it is sent ${after.desired?.version ?? after.desired?.checksum}`}`,
        ...(after.downgrade && !opts.allowDowngrade
          ? [
              `Note: that is a downgrade (it runs ${after.downgrade.from}): its agent refuses it. Unpin with --allow-downgrade, or roll ring ${after.ring} forward to ${after.downgrade.from}.`,
            ]
          : []),
      ]);
    });
  machine
    .command("allow-reenroll")
    .description("A re-image: the machine may enroll again without its key's proof (also when retired), for 24 hours")
    .argument("<machineId>", "the machine")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (machineId: string, opts: { reason?: string; json?: boolean }) => {
      const result = await api().call("machines.allowReenroll", { machineId, reason: opts.reason });
      say(opts, result, () => `${machineId} may enroll again until ${iso(result.reenrollAllowedUntil)}`);
    });
  machine
    .command("target-token")
    .description("Issue a DDI device's target token (SWUpdate's -k): its previous tokens stop working; shown once")
    .argument("<machineId>", "the device (its controller id)")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (machineId: string, opts: { reason?: string; json?: boolean }) => {
      const result = await api().call("machines.issueTargetToken", { machineId, reason: opts.reason });
      say(opts, result, () => [`Target token for ${machineId} (shown once; keep it on the device):`, result.targetToken].join("\n"));
    });
  machine
    .command("rollback")
    .description("Boot the machine's previous deployment (no download) and hold it there until unpinned")
    .argument("<machineId>", "the machine")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (machineId: string, opts: { reason?: string; json?: boolean }) => {
      const result = await api().call("machines.rollback", { machineId, reason: opts.reason });
      say(opts, result, () => `Rolling ${machineId} back to ${result.rollbackTo.version ?? result.rollbackTo.checksum}`);
    });
  machine
    .command("label")
    .description("Set or remove a machine's labels: KEY=VALUE sets, KEY- removes")
    .argument("<machineId>", "the machine")
    .argument("<changes...>", "such as site=fra-1 rack- (rack removed)")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (machineId: string, changes: string[], opts: { reason?: string; json?: boolean }) => {
      const set: Record<string, string> = {};
      const remove: string[] = [];
      for (const change of changes) {
        if (change.endsWith("-") && !change.includes("=")) remove.push(change.slice(0, -1));
        else Object.assign(set, label(change));
      }
      const result = await api().call("machines.setLabels", { machineId, set, remove, reason: opts.reason });
      say(opts, result, () => `${machineId}: ${Object.entries(result.labels).map(([k, v]) => `${k}=${v}`).join(" ") || "no labels"}`);
    });
  machine
    .command("retire")
    .description("Retire a machine: its token stops working and it leaves every list")
    .argument("<machineId>", "the machine")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (machineId: string, opts: { reason?: string; json?: boolean }) => {
      const result = await api().call("machines.retire", { machineId, reason: opts.reason });
      say(opts, result, () => `Retired ${machineId}`);
    });
  machine
    .command("move")
    .description("Move machines to a ring")
    .argument("<ring>", "the ring they join")
    .argument("<machineIds...>", "the machines")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (ringName: string, machineIds: string[], opts: { reason?: string; json?: boolean }) => {
      const result = await api().call("machines.move", { ring: ringName, machineIds, reason: opts.reason });
      say(opts, result, () => `Moved ${machineIds.length} machine${machineIds.length === 1 ? "" : "s"} to ring ${ringName}`);
    });
  machine
    .command("free-reboot-slot")
    .description("Free the reboot slot a machine holds (it must ask again)")
    .argument("<machineId>", "the machine")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (machineId: string, opts: { reason?: string; json?: boolean }) => {
      const result = await api().call("rings.forceReleaseLease", { machineId, reason: opts.reason });
      say(opts, result, () => `Freed the reboot slot of ${machineId}`);
    });

  release
    .command("brake")
    .description("Emergency brake: pause every rollout of the release at once and quarantine it")
    .argument("<version>", "release version")
    .option("--ref <ref>", "the release's branch, when several have this version")
    .option("--revert", "also send every machine its rollouts touched back to its previous deployment")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (version: string, opts: { ref?: string; revert?: boolean; reason?: string; json?: boolean }) => {
      const result = await api().call("releases.brake", { version, ref: opts.ref, revert: opts.revert, reason: opts.reason });
      say(
        opts,
        result,
        () =>
          `Release ${version} quarantined; ${result.rolloutsStopped} rollout(s) stopped, ${result.machinesCancelled} staged machine(s) cancelling${opts.revert ? `, ${result.machinesReverted} machine(s) reverted` : ""}`,
      );
    });
  release
    .command("lift-quarantine")
    .description("Lift a release's quarantine: it is in reach again; nothing restarts by itself")
    .argument("<version>", "release version")
    .option("--ref <ref>", "the release's branch, when several have this version")
    .requiredOption("--reason <text>", "why the release is safe again (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (version: string, opts: { ref?: string; reason: string; json?: boolean }) => {
      const result = await api().call("releases.liftQuarantine", { version, ref: opts.ref, reason: opts.reason });
      say(opts, result, () => `Release ${version} is no longer quarantined; paused rollouts stay paused until resumed`);
    });

  release
    .command("floor")
    .description("Mark a floor: every machine older than it boots it before anything newer (--off unmarks)")
    .argument("<version>", "release version")
    .option("--ref <ref>", "the release's branch, when several have this version")
    .option("--off", "unmark the floor")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (version: string, opts: { ref?: string; off?: boolean; reason?: string; json?: boolean }) => {
      const result = await api().call("releases.setFloor", { version, ref: opts.ref, floor: !opts.off, reason: opts.reason });
      say(opts, result, () => `${result.version} of ${result.ref} is ${result.floor ? "now a floor" : "no longer a floor"}`);
    });
  release
    .command("block")
    .description("Block the direct paths from releases to a newer one: machines on them take another way, or none")
    .requiredOption("--from <versions>", "releases the path starts from, comma-separated", list)
    .requiredOption("--to <version>", "the newer release")
    .option("--ref <ref>", "the branch, when several have these versions")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (opts: { from: string[]; to: string; ref?: string; reason?: string; json?: boolean }) => {
      const result = await api().call("releases.blockPath", { from: opts.from, to: opts.to, ref: opts.ref, reason: opts.reason });
      say(opts, result, () => `Blocked ${result.from.join(", ")} → ${result.to} on ${result.ref}`);
    });
  release
    .command("unblock")
    .description("Unblock paths blocked before")
    .requiredOption("--from <versions>", "releases the path starts from, comma-separated", list)
    .requiredOption("--to <version>", "the newer release")
    .option("--ref <ref>", "the branch, when several have these versions")
    .option("--json", "machine-readable output")
    .action(async (opts: { from: string[]; to: string; ref?: string; json?: boolean }) => {
      const result = await api().call("releases.unblockPath", { from: opts.from, to: opts.to, ref: opts.ref });
      say(opts, result, () => `Unblocked ${result.from.join(", ")} → ${result.to} on ${result.ref}`);
    });
  release
    .command("graph")
    .description("A branch's update graph: releases oldest first, floors, blocked paths, machines of each ring on each")
    .requiredOption("--ref <ref>", "the branch")
    .option("--json", "machine-readable output")
    .action(async (opts: { ref: string; json?: boolean }) => {
      const graph = await api().call("releases.graph", { ref: opts.ref });
      const rings = graph.rings.map((r) => r.name);
      say(opts, graph, () => [
        formatTable(
          ["VERSION", "FLOOR", "QUARANTINED", ...rings.map((r) => r.toUpperCase())],
          graph.releases.map((r) => [r.version, r.floor ? "floor" : "", r.quarantined ? "yes" : "", ...rings.map((ring) => String(r.machines[ring] ?? 0))]),
        ),
        ...(graph.blocked.length > 0 ? ["", "Blocked paths:", ...graph.blocked.map((b) => `  ${b.from} → ${b.to}${b.reason ? ` (${b.reason})` : ""}`)] : []),
      ]);
    });

  // ---- rollouts ------------------------------------------------------------------------------
  const rollout = program.command("rollout").description("Staged rollouts of a release through rings");
  const planOptions = (command: Command) =>
    command
      .requiredOption("--release <version>", "the release to roll out")
      .option("--ref <ref>", "the release's branch, when several have this version")
      .requiredOption("--rings <names>", "rings in order, comma-separated (canary,beta,stable)", list)
      .option("--waves <percents>", "wave sizes as percentages of each ring", percents, [10, 50, 100])
      .option("--no-single-first", "no first wave of a single machine")
      .option("--soak <duration>", "time a finished wave must stay healthy before the next opens (0: none)", durationOrZero, 1800)
      .option("--max-failure <percent>", "highest failure rate a wave may show", rate, 0.05)
      .option("--min-sample <n>", "finished machines needed before the rate is trusted", positiveInt("--min-sample"), 5)
      .option("--dark-after <duration>", "an updated machine not healthy on the release by then is dark", duration, 1800)
      .option("--approve-between", "an operator approves before each ring after the first")
      .option("--force-first <machineIds>", "machines forced into the first wave, comma-separated", list, [])
      .option("--exclude <machineIds>", "machines left out, comma-separated", list, [])
      .option("--allow-downgrade", "the release is older than what the rings run (roll forward to known-good)")
      .option("--json", "machine-readable output");
  const planOf = (opts: PlanFlags) => ({
    version: opts.release,
    ref: opts.ref,
    rings: opts.rings,
    waves: opts.waves,
    singleFirst: opts.singleFirst,
    soakSeconds: opts.soak,
    maxFailureRate: opts.maxFailure,
    minSample: opts.minSample,
    darkAfterSeconds: opts.darkAfter,
    approveBetween: Boolean(opts.approveBetween),
    forceFirst: { machineIds: opts.forceFirst, labels: {} },
    exclude: { machineIds: opts.exclude, labels: {} },
    allowDowngrade: Boolean(opts.allowDowngrade),
  });
  planOptions(rollout.command("preview").description("Dry run: which machines land in which wave of which ring")).action(
    async (opts: PlanFlags) => {
      const preview = await api().call("rollouts.preview", planOf(opts));
      say(opts, preview, () => {
        const lines = [`Release ${preview.release.version} (${preview.release.ref}, ${preview.release.checksum.slice(0, 12)})`];
        for (const ring of preview.rings) {
          lines.push(`ring ${ring.ring}: ${ring.machines} machines${ring.rebase ? ` (rebase from ${ring.branch})` : ""}${ring.downgrade ? " (downgrade)" : ""}`);
          for (const wave of ring.waves) {
            const names = wave.machines.slice(0, 8).map((m) => m.machineId).join(", ");
            lines.push(`  wave ${wave.number} (${wave.label}): ${wave.count} machine${wave.count === 1 ? "" : "s"}${names ? `: ${names}${wave.count > 8 ? ", …" : ""}` : ""}`);
          }
          if (ring.excludedCount > 0) lines.push(`  left out (pinned or excluded): ${ring.excludedCount}`);
        }
        return lines;
      });
    },
  );
  planOptions(rollout.command("start").description("Start a rollout; prints its id on the last line"))
    .option("--reason <text>", "why (kept in the audit log)")
    .action(async (opts: PlanFlags & { reason?: string }) => {
      const started = await api().call("rollouts.start", { ...planOf(opts), reason: opts.reason });
      say(opts, started, () => [`Started rollout of ${started.release.version} through ${started.rings.map((r) => r.ring.name).join(" → ")}`, started.id]);
    });
  for (const [verb, procedure, description] of [
    ["pause", "rollouts.pause", "Pause a rollout: no new machine is sent the release"],
    ["resume", "rollouts.resume", "Resume a paused rollout"],
    ["approve", "rollouts.approve", "Approve the ring a rollout waits for"],
    ["abort", "rollouts.abort", "End a rollout where it stands (updated machines stay)"],
  ] as const) {
    rollout
      .command(verb)
      .description(description)
      .argument("<id>", "rollout id")
      .option("--reason <text>", "why (kept in the audit log)")
      .option("--json", "machine-readable output")
      .action(async (rolloutId: string, opts: { reason?: string; json?: boolean }) => {
        const result = await api().call(procedure, { rolloutId, reason: opts.reason });
        say(opts, result, () => `Rollout ${rolloutId} is ${result.state}${result.pauseReason ? ` (${result.pauseReason})` : ""}`);
      });
  }
  rollout
    .command("revert")
    .description("Send every machine the rollout touched back to its previous deployment; the rings go back too")
    .argument("<id>", "rollout id")
    .option("--ring <name>", "only this ring")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (rolloutId: string, opts: { ring?: string; reason?: string; json?: boolean }) => {
      const result = await api().call("rollouts.revert", { rolloutId, ring: opts.ring, reason: opts.reason });
      say(opts, result, () => `Rollout ${rolloutId} is ${result.state}: ${result.revertedMachines} machine(s) sent back`);
    });
  rollout
    .command("list")
    .description("List rollouts, newest first")
    .option("--json", "machine-readable output")
    .action(async (opts: { json?: boolean }) => {
      const { rows } = await api().call("rollouts.list", { pageSize: 200 });
      say(opts, rows, () =>
        formatTable(
          ["ID", "RELEASE", "STATE", "RINGS", "SUCCEEDED", "FAILED", "ROLLED BACK", "DARK", "HELD", "CANCELLED", "STARTED"],
          rows.map((r) => [
            r.id,
            r.release.version,
            r.state,
            r.rings.map((x) => `${x.ring.name}:${x.phase}`).join(" "),
            String(r.progress.steps.succeeded),
            String(r.progress.steps.failed),
            String(r.progress.steps.rolled_back),
            String(r.progress.steps.dark),
            String(r.progress.steps.held),
            String(r.progress.steps.cancelled),
            iso(r.startedAt) === "never" ? "-" : iso(r.startedAt),
          ]),
        ),
      );
    });
  rollout
    .command("show")
    .description("One rollout: per-ring, per-wave progress, what may be done now, and what goes on next")
    .argument("<id>", "rollout id")
    .option("--json", "machine-readable output")
    .action(async (rolloutId: string, opts: { json?: boolean }) => {
      const r = await api().call("rollouts.get", { rolloutId });
      say(opts, r, () => {
        const lines = [`Rollout ${r.id} of ${r.release.version}: ${r.state}${r.pauseReason ? ` (${r.pauseReason})` : ""}`];
        for (const ring of r.rings) {
          lines.push(`ring ${ring.ring.name}: ${ring.phase}${ring.currentWave ? `, wave ${ring.currentWave} of ${ring.waves.length}` : ""}, ${ring.steps.succeeded}/${ring.total} succeeded`);
        }
        if (r.next) lines.push(`next: ${r.next}`);
        const allowed = Object.entries(r.actions).filter(([k, v]) => k !== "revertRing" && (v as { allowed: boolean }).allowed).map(([k]) => k);
        lines.push(`may now: ${allowed.join(", ") || "nothing"}`);
        return lines;
      });
    });
  rollout
    .command("wait")
    .description("Wait for a rollout to end: exit 0 when it completes, 1 with the reason when it pauses, aborts or is reverted, 3 on --timeout")
    .argument("<id>", "rollout id")
    .option("--timeout <duration>", "give up after this long, such as 2h")
    .option("--every <duration>", "how often to look", "10s")
    .option("--json", "machine-readable output (the rollout as it ended)")
    .action(async (rolloutId: string, opts: { timeout?: string; every: string; json?: boolean }) => {
      const timeout = opts.timeout === undefined ? null : duration(opts.timeout);
      const every = Math.max(1, parseDuration(opts.every) ?? Number.NaN);
      if (!Number.isFinite(every)) throw new InvalidArgumentError("--every: expected a duration such as 10s");
      const deadline = timeout === null ? Number.POSITIVE_INFINITY : Date.now() + timeout * 1000;
      let last = "";
      for (;;) {
        const r = await api().call("rollouts.get", { rolloutId });
        const where = r.rings.map((ring) => `${ring.ring.name}:${ring.phase}${ring.currentWave ? `@${ring.currentWave}/${ring.waves.length}` : ""}`).join(" ");
        const line = `${r.state} ${where}`;
        if (line !== last && !opts.json) out(`${new Date().toISOString()} ${line}`);
        last = line;
        if (r.state === "completed") {
          if (opts.json) out(json(r));
          return;
        }
        if (r.state === "paused" || r.state === "aborted" || r.state === "reverted") {
          if (opts.json) out(json(r));
          const reason = r.pauseReason ? `: ${r.pauseReason}` : "";
          throw new CliFailure(problem(409, "CONFLICT", `rollout ${rolloutId} is ${r.state}${reason}`));
        }
        if (Date.now() + every * 1000 > deadline) throw new WaitTimeout(`rollout ${rolloutId} is still ${r.state} after ${opts.timeout}`);
        await new Promise((resolve) => setTimeout(resolve, every * 1000));
      }
    });

  // ---- audit ---------------------------------------------------------------------------------
  const audit = program.command("audit").description("The audit log");
  const auditFilters = (command: Command) =>
    command
      .option("--actor <label>", "only this actor (an e-mail, token:NAME or cli:LOGIN)")
      .option("--action <action>", "only this action, such as rollout.start")
      .option("--target-type <type>", "only this kind of target")
      .option("--target-id <id>", "only this target")
      .option("--from <time>", "from this time (ISO 8601)")
      .option("--to <time>", "until this time (ISO 8601)");
  type AuditFlags = { actor?: string; action?: string; targetType?: string; targetId?: string; from?: string; to?: string };
  const filterOf = (opts: AuditFlags) =>
    Object.fromEntries(Object.entries({ actor: opts.actor, action: opts.action, targetType: opts.targetType, targetId: opts.targetId, from: opts.from, to: opts.to }).filter(([, v]) => v !== undefined)) as Record<string, string>;
  auditFilters(audit.command("list").description("The newest entries"))
    .option("--limit <n>", "how many", positiveInt("--limit"), 50)
    .option("--json", "machine-readable output")
    .action(async (opts: AuditFlags & { limit: number; json?: boolean }) => {
      const page = await api().call("audit.list", { ...filterOf(opts), pageSize: Math.min(opts.limit, 200) });
      say(opts, page.rows, () =>
        formatTable(
          ["AT", "ACTOR", "ACTION", "TARGET", "REASON"],
          page.rows.map((r) => [iso(r.at), r.actorLabel, r.action, `${r.targetType}:${r.targetId}`, r.reason ?? ""]),
        ),
      );
    });
  auditFilters(audit.command("export").description("The filtered audit log as CSV on stdout, oldest first")).action(async (opts: AuditFlags) => {
    let text = "";
    for await (const chunk of api().auditCsv(filterOf(opts))) text += chunk;
    out(text.replace(/\r\n$/, ""));
  });

  // Every command answers --help and fails with exit code 2 on bad arguments.
  for (const command of [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)]) {
    command.exitOverride();
    command.configureOutput({ outputError: (text, write) => write(text) });
  }
  return program;
}

class WaitTimeout extends Error {}

/** Runs the command line; resolves to the exit code. */
export async function runCli(argv: string[], out?: (line: string) => void): Promise<number> {
  const program = buildProgram(out);
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help") return 0;
      return 2;
    }
    if (error instanceof InvalidArgumentError) {
      console.error(`orchard: ${error.message}`);
      return 2;
    }
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    if (error instanceof WaitTimeout) {
      console.error(`orchard: ${error.message}`);
      return 3;
    }
    if (error instanceof CliFailure) {
      console.error(`orchard: ${error.message}`);
      return error.exitCode;
    }
    console.error(`orchard: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await backend?.close();
    backend = null;
  }
}
