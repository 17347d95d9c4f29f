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
import { listMachines } from "../machines/machines";
import { describeFirstIssue } from "../protocol/v1";
import { addRelease } from "../releases/releases";
import { createRing, setRingRelease } from "../rings/rings";
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

function duration(value: string) {
  const seconds = parseDuration(value);
  if (seconds === null) throw new InvalidArgumentError("expected a duration such as 90m, 24h or 7d");
  return seconds;
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

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("bin/orchard.js")) {
  const code = await runCli(process.argv.slice(2));
  process.exit(code);
}
