// The `orchard` command: the console's domain functions on the configured
// database (the embedded one through the running console's socket, when a
// console is running). Exit codes: 0 done, 1 refused or failed, 2 bad arguments.
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { ZodError } from "zod";
import { cliActor } from "../audit/audit";
import { ConfigError, loadConfig } from "../config";
import { type Database, openDatabase } from "../db/client";
import { parseDuration } from "../duration";
import { createEnrollmentToken } from "../enrollment/enrollment-tokens";
import { AppError } from "../errors";
import { allowReenroll, listMachines } from "../machines/machines";
import { describeFirstIssue } from "../protocol/v1";
import { addRelease } from "../releases/releases";
import { createRing, setRingRelease } from "../rings/rings";
import { pinMachine, previewUnpin, rollbackMachine, unpinMachine } from "../rollouts/machine-actions";
import {
  abortRollout,
  approveRollout,
  brakeRelease,
  liftQuarantine,
  listRollouts,
  pauseRollout,
  previewRollout,
  resumeRollout,
  revertRollout,
  startRollout,
} from "../rollouts/rollouts";
import { roles } from "../users/schemas";
import { createUser } from "../users/users";
import { formatTable, readStdinSecret } from "./io";

let database: Database | null = null;

async function db(): Promise<Database> {
  if (database) return database;
  const config = loadConfig();
  database = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.dataDir, poolSize: 2 });
  return database;
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

function label(value: string, previous: Record<string, string> = {}) {
  const at = value.indexOf("=");
  if (at < 1) throw new InvalidArgumentError("expected KEY=VALUE");
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

export function buildProgram(out: (line: string) => void = (line) => console.log(line)): Command {
  const program = new Command("orchard")
    .description("Orchard console command line: users, enrollment tokens, rings, releases and machines.")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  program.configureOutput({ outputError: (text, write) => write(text) });

  const user = program.command("user").description("Console users");
  user
    .command("create")
    .description("Create a user; the password is read from stdin when piped, else generated and printed")
    .requiredOption("--email <email>", "the user's e-mail")
    .addOption(new Option("--role <role>", "what the user may do").choices(roles).makeOptionMandatory())
    .option("--name <name>", "display name")
    .action(async (opts: { email: string; role: (typeof roles)[number]; name?: string }) => {
      const piped = await readStdinSecret();
      const created = await createUser((await db()).prisma, cliActor, { ...opts, password: piped ?? undefined });
      out(`Created ${created.user.role} ${created.user.email}`);
      if (created.password) out(`password: ${created.password}`);
    });

  const token = program.command("enroll-token").description("Enrollment tokens for agents");
  token
    .command("create")
    .description("Create an enrollment token; prints it alone on the last line (shown only once)")
    .option("--ring <name>", "ring that machines enrolling with it join")
    .option("--uses <n>", "how many machines may enroll with it", positiveInt("--uses"))
    .option("--expires <duration>", "lifetime such as 24h or 7d", duration)
    .option("--name <name>", "what the token is for", "created on the command line")
    .option("--label <key=value>", "label given to machines that enroll with it (repeatable)", label)
    .action(
      async (opts: { ring?: string; uses?: number; expires?: number; name: string; label?: Record<string, string> }) => {
        const created = await createEnrollmentToken((await db()).prisma, cliActor, {
          name: opts.name,
          ring: opts.ring,
          maxUses: opts.uses,
          expiresInSeconds: opts.expires,
          labels: opts.label,
        });
        const r = created.record;
        out(
          `Enrollment token ${r.prefix}… ring=${r.ring?.name ?? "(first ring)"} uses=${r.maxUses ?? "unlimited"} expires=${r.expiresAt?.toISOString() ?? "never"}`,
        );
        out(created.token);
      },
    );

  const ring = program.command("ring").description("Rings of the fleet");
  ring
    .command("create")
    .description("Create a ring following a branch (a branch named for the first time is created)")
    .argument("<name>", "ring name, such as canary")
    .requiredOption("--branch <ref>", "ostree ref the ring follows")
    .option("--after <ring>", "place it right after this ring (default: last)")
    .action(async (name: string, opts: { branch: string; after?: string }) => {
      const created = await createRing((await db()).prisma, cliActor, { name, branch: opts.branch, after: opts.after });
      out(`Created ring ${created.name} (position ${created.position + 1}) following ${created.branch.ref}`);
    });
  ring
    .command("set-release")
    .description("Make a release of the ring's branch its current release")
    .argument("<ring>", "ring name")
    .argument("<version>", "release version")
    .option("--reason <text>", "why (kept in the audit log)")
    .action(async (ringName: string, version: string, opts: { reason?: string }) => {
      const updated = await setRingRelease((await db()).prisma, cliActor, { ring: ringName, version, reason: opts.reason });
      out(`Ring ${updated.name} now runs ${updated.currentRelease?.version} (${updated.currentRelease?.checksum})`);
    });

  const release = program.command("release").description("Releases: immutable commits of a branch");
  release
    .command("add")
    .description("Add a release (ref + commit checksum + version)")
    .requiredOption("--ref <ref>", "ostree ref, such as exampleos/x86_64/stable")
    .requiredOption("--checksum <hex>", "the commit checksum: 64 hex characters")
    .requiredOption("--version <version>", "version, such as 2026.11.1")
    .option("--notes <text>", "release notes")
    .action(async (opts: { ref: string; checksum: string; version: string; notes?: string }) => {
      const added = await addRelease((await db()).prisma, cliActor, opts);
      out(`Added release ${added.version} of ${added.branch.ref} (${added.checksum})`);
    });

  const machine = program.command("machine").description("Machines of the fleet");
  machine
    .command("list")
    .description("List machines")
    .option("--ring <name>", "only this ring")
    .option("--json", "machine-readable output")
    .action(async (opts: { ring?: string; json?: boolean }) => {
      const prisma = (await db()).prisma;
      const rows = [];
      for (let page = 0; ; page++) {
        const result = await listMachines(prisma, { ring: opts.ring, page, pageSize: 200, sort: "hostname" });
        rows.push(...result.rows);
        if (rows.length >= result.total || result.rows.length === 0) break;
      }
      if (opts.json) {
        out(JSON.stringify(rows, null, 2));
        return;
      }
      out(
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
            m.lastSeenAt?.toISOString() ?? "never",
          ]),
        ),
      );
      out(`${rows.length} machine${rows.length === 1 ? "" : "s"}`);
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
      const result = await pinMachine((await db()).prisma, cliActor, { machineId, version, allowDowngrade: opts.allowDowngrade, reason: opts.reason });
      out(opts.json ? JSON.stringify(result) : `Pinned ${machineId} to ${version}`);
    });
  machine
    .command("unpin")
    .description("Unpin a machine (and release a rollback hold): it follows its ring again")
    .argument("<machineId>", "the machine")
    .option("--allow-downgrade", "its ring runs an older release than the machine: let it go down to it")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (machineId: string, opts: { allowDowngrade?: boolean; reason?: string; json?: boolean }) => {
      const prisma = (await db()).prisma;
      const after = await previewUnpin(prisma, machineId);
      const result = await unpinMachine(prisma, cliActor, { machineId, allowDowngrade: opts.allowDowngrade, reason: opts.reason });
      if (opts.json) return out(JSON.stringify({ ...result, sent: after.desired, downgrade: after.downgrade }));
      out(`Unpinned ${machineId}${after.action === "none" ? "" : `: it is sent ${after.desired?.version ?? after.desired?.checksum}`}`);
      if (after.downgrade && !opts.allowDowngrade) {
        out(
          `Note: that is a downgrade (it runs ${after.downgrade.from}): its agent refuses it. Unpin with --allow-downgrade, or roll ring ${after.ring} forward to ${after.downgrade.from}.`,
        );
      }
    });
  machine
    .command("allow-reenroll")
    .description("A re-image: the machine may enroll again without its key's proof (also when retired), for 24 hours")
    .argument("<machineId>", "the machine")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (machineId: string, opts: { reason?: string; json?: boolean }) => {
      const result = await allowReenroll((await db()).prisma, cliActor, { machineId, reason: opts.reason });
      out(opts.json ? JSON.stringify(result) : `${machineId} may enroll again until ${result.reenrollAllowedUntil.toISOString()}`);
    });
  machine
    .command("rollback")
    .description("Boot the machine's previous deployment (no download) and hold it there until unpinned")
    .argument("<machineId>", "the machine")
    .option("--reason <text>", "why (kept in the audit log)")
    .option("--json", "machine-readable output")
    .action(async (machineId: string, opts: { reason?: string; json?: boolean }) => {
      const result = await rollbackMachine((await db()).prisma, cliActor, { machineId, reason: opts.reason });
      out(opts.json ? JSON.stringify(result) : `Rolling ${machineId} back to ${result.rollbackTo.version ?? result.rollbackTo.checksum}`);
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
      const result = await brakeRelease((await db()).prisma, cliActor, { version, ref: opts.ref, revert: opts.revert, reason: opts.reason });
      out(
        opts.json
          ? JSON.stringify(result)
          : `Release ${version} quarantined; ${result.rolloutsStopped} rollout(s) stopped, ${result.machinesCancelled} staged machine(s) cancelling${opts.revert ? `, ${result.machinesReverted} machine(s) reverted` : ""}`,
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
      const result = await liftQuarantine((await db()).prisma, cliActor, { version, ref: opts.ref, reason: opts.reason });
      out(opts.json ? JSON.stringify(result) : `Release ${version} is no longer quarantined; paused rollouts stay paused until resumed`);
    });

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
      const preview = await previewRollout((await db()).prisma, planOf(opts));
      if (opts.json) return out(JSON.stringify(preview, null, 2));
      out(`Release ${preview.release.version} (${preview.release.ref}, ${preview.release.checksum.slice(0, 12)})`);
      for (const ring of preview.rings) {
        out(`ring ${ring.ring}: ${ring.machines} machines${ring.rebase ? ` (rebase from ${ring.branch})` : ""}${ring.downgrade ? " (downgrade)" : ""}`);
        for (const wave of ring.waves) {
          const names = wave.machines.slice(0, 8).map((m) => m.machineId).join(", ");
          out(`  wave ${wave.number} (${wave.label}): ${wave.count} machine${wave.count === 1 ? "" : "s"}${names ? `: ${names}${wave.count > 8 ? ", …" : ""}` : ""}`);
        }
        if (ring.excludedCount > 0) out(`  left out (pinned or excluded): ${ring.excludedCount}`);
      }
    },
  );
  planOptions(rollout.command("start").description("Start a rollout; prints its id on the last line"))
    .option("--reason <text>", "why (kept in the audit log)")
    .action(async (opts: PlanFlags & { reason?: string }) => {
      const started = await startRollout((await db()).prisma, cliActor, { ...planOf(opts), reason: opts.reason });
      if (opts.json) return out(JSON.stringify(started, null, 2));
      out(`Started rollout of ${started.release.version} through ${started.rings.map((r) => r.ring.name).join(" → ")}`);
      out(started.id);
    });
  for (const [verb, fn, description] of [
    ["pause", pauseRollout, "Pause a rollout: no new machine is sent the release"],
    ["resume", resumeRollout, "Resume a paused rollout"],
    ["approve", approveRollout, "Approve the ring a rollout waits for"],
    ["abort", abortRollout, "End a rollout where it stands (updated machines stay)"],
  ] as const) {
    rollout
      .command(verb)
      .description(description)
      .argument("<id>", "rollout id")
      .option("--reason <text>", "why (kept in the audit log)")
      .option("--json", "machine-readable output")
      .action(async (rolloutId: string, opts: { reason?: string; json?: boolean }) => {
        const result = await fn((await db()).prisma, cliActor, { rolloutId, reason: opts.reason });
        out(opts.json ? JSON.stringify(result, null, 2) : `Rollout ${rolloutId} is ${result.state}${result.pauseReason ? ` (${result.pauseReason})` : ""}`);
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
      const result = await revertRollout((await db()).prisma, cliActor, { rolloutId, ring: opts.ring, reason: opts.reason });
      out(opts.json ? JSON.stringify(result, null, 2) : `Rollout ${rolloutId} is ${result.state}: ${result.revertedMachines} machine(s) sent back`);
    });
  rollout
    .command("list")
    .description("List rollouts, newest first")
    .option("--json", "machine-readable output")
    .action(async (opts: { json?: boolean }) => {
      const { rows } = await listRollouts((await db()).prisma, { pageSize: 200 });
      if (opts.json) return out(JSON.stringify(rows, null, 2));
      out(
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
            r.startedAt?.toISOString() ?? "-",
          ]),
        ),
      );
    });

  // Every command answers --help and fails with exit code 2 on bad arguments.
  for (const command of [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)]) {
    command.exitOverride();
    command.configureOutput({ outputError: (text, write) => write(text) });
  }
  return program;
}

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
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    if (error instanceof ZodError) {
      console.error(`orchard: ${describeFirstIssue(error)}`);
      return 2;
    }
    if (error instanceof AppError) {
      console.error(`orchard: ${error.message}`);
      return error.code === "INVALID" || error.code === "NOT_FOUND" ? 2 : 1;
    }
    console.error(`orchard: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    await database?.close();
    database = null;
  }
}
