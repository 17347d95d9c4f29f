// `orchard-agent`: enroll this machine, run the agent, or show its state.
// Exit codes (the only ones; also in the README and the systemd unit): 0
// done (or stopped by SIGTERM/SIGINT), 1 failed, 2 bad configuration or
// arguments, 3 stopped for good (the console retired or refused this
// machine, or the machine is gone): restarting will not help.
import { hostname as systemHostname } from "node:os";
import path from "node:path";
import { Command, CommanderError, Option } from "commander";
import { backendSchema } from "../../server/protocol/v1.ts";
import { Agent, type AgentExit } from "./agent.ts";
import { type AgentConfig, ConfigError, type ConfigSources, loadConfig, resolveMachineId } from "./config.ts";
import { type Enrollment, enrollMachine } from "./enroll.ts";
import { createLogger, errorMessage } from "./log.ts";
import { openMachine } from "./machine.ts";
import { formatStatus, statusJson } from "./status.ts";
import { agentStateSchema, openAgentStore, readJsonFile, STATE_FILE } from "./store.ts";
import { AGENT_VERSION } from "./version.ts";

const EXIT = { ok: 0, failed: 1, usage: 2, gone: 3 } as const;
const EXIT_OF: Record<AgentExit, number> = {
  stopped: EXIT.ok,
  retired: EXIT.gone,
  refused: EXIT.gone,
  halted: EXIT.gone,
};

type Flags = NonNullable<ConfigSources["flags"]>;

function flag(value: unknown, name: string) {
  return { value, flag: name };
}

function configFrom(globals: { config?: string }, flags: Flags): AgentConfig {
  return loadConfig({ file: globals.config, flags });
}

/** Commander's way to gather a repeated option. */
function collect(value: string, all: string[] = []) {
  return [...all, value];
}

function parseLabel(text: string, labels: Record<string, string>) {
  const at = text.indexOf("=");
  if (at <= 0) throw new ConfigError(`bad configuration: --label: expected key=value, got "${text}"`);
  return { ...labels, [text.slice(0, at)]: text.slice(at + 1) };
}

type EnrollOptions = Record<string, string | undefined> & { label?: string[] };

async function enrollCommand(options: EnrollOptions, globals: { config?: string }) {
  const labels = options.label?.reduce<Record<string, string>>((all, text) => parseLabel(text, all), {});
  const config = configFrom(globals, {
    server: flag(options.server, "--server"),
    enrollmentToken: flag(options.token, "--token"),
    stateDir: flag(options.stateDir, "--state-dir"),
    machineId: flag(options.machineId, "--machine-id"),
    hostname: flag(options.hostname, "--hostname"),
    backend: flag(options.backend, "--backend"),
    labels: flag(labels, "--label"),
  });
  if (!config.server) throw new ConfigError("bad configuration: server: required (--server, ORCHARD_SERVER or the config file)");
  if (!config.enrollmentToken) {
    throw new ConfigError("bad configuration: enrollmentToken: required (--token, ORCHARD_ENROLLMENT_TOKEN or the config file)");
  }
  const enrollment: Enrollment = {
    server: config.server,
    token: config.enrollmentToken,
    machineId: resolveMachineId(config),
    hostname: config.hostname ?? systemHostname(),
    labels: config.labels,
  };
  const { backend } = await openMachine(config);
  const existing = await openAgentStore(config.stateDir);
  const { ring } = await enrollMachine(config.stateDir, existing, enrollment, backend, {
    timeoutSeconds: config.requestTimeoutSeconds,
  });
  console.log(
    `Enrolled ${enrollment.machineId} with ${config.server}${ring ? ` in ring ${ring}` : ""}. Start the agent with: orchard-agent run`,
  );
  return EXIT.ok;
}

async function runCommand(options: { stateDir?: string }, globals: { config?: string }) {
  const config = configFrom(globals, { stateDir: flag(options.stateDir, "--state-dir") });
  const log = createLogger(config.logLevel);
  const enrollment: Enrollment | undefined =
    config.server && config.enrollmentToken
      ? {
          server: config.server,
          token: config.enrollmentToken,
          machineId: resolveMachineId(config),
          hostname: config.hostname ?? systemHostname(),
          labels: config.labels,
        }
      : undefined;
  if (!enrollment && !(await readJsonFile(path.join(config.stateDir, STATE_FILE), agentStateSchema))) {
    throw new ConfigError(
      `bad configuration: ${config.stateDir} holds no enrollment; run \`orchard-agent enroll\` first, or configure server and enrollmentToken`,
    );
  }
  const agent = new Agent({
    stateDir: config.stateDir,
    ...(await openMachine(config)),
    log,
    enrollment,
    timing: { requestTimeoutSeconds: config.requestTimeoutSeconds, healthGraceSeconds: config.healthGraceSeconds },
  });
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    log.info(`${signal}: stopping`);
    controller.abort();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  const exit = await agent.run(controller.signal);
  return EXIT_OF[exit];
}

async function statusCommand(options: { stateDir?: string; json?: boolean }, globals: { config?: string }) {
  const config = configFrom(globals, { stateDir: flag(options.stateDir, "--state-dir") });
  // Read-only: the agent may be running on this state dir.
  const state = await readJsonFile(path.join(config.stateDir, STATE_FILE), agentStateSchema);
  if (!state) {
    console.error(`not enrolled: no state in ${config.stateDir}`);
    return EXIT.failed;
  }
  console.log(options.json ? JSON.stringify(statusJson(state), null, 2) : formatStatus(state));
  return EXIT.ok;
}

function buildProgram(setExit: (code: number) => void) {
  const program = new Command("orchard-agent")
    .description("The Orchard agent: keeps this machine on the deployment its console asks for.")
    .version(AGENT_VERSION)
    .option("--config <file>", "configuration file (default: ORCHARD_AGENT_CONFIG or /etc/orchard/agent.json)")
    .showHelpAfterError()
    .exitOverride();
  const globals = () => program.opts<{ config?: string }>();

  program
    .command("enroll")
    .description("enroll this machine with a console and write its machine token to the state dir")
    .option("--server <url>", "the console's URL")
    .option("--token <token>", "an enrollment token created in the console")
    .option("--state-dir <dir>", "state directory (default /var/lib/orchard-agent)")
    .option("--machine-id <id>", "machine id (default /etc/machine-id)")
    .option("--hostname <name>", "host name to report (default the system's)")
    .addOption(new Option("--backend <kind>", "how the machine is updated").choices(backendSchema.options))
    .option("--label <key=value>", "a label for the machine (repeatable)", collect)
    .action(async (options) => setExit(await enrollCommand(options, globals())));

  program
    .command("run")
    .description("run the agent until SIGTERM (enrolls first when an enrollment token is configured)")
    .option("--state-dir <dir>", "state directory (default /var/lib/orchard-agent)")
    .action(async (options) => setExit(await runCommand(options, globals())));

  program
    .command("status")
    .description("show the agent's state on disk (the last check-in, the update, the queue)")
    .option("--state-dir <dir>", "state directory (default /var/lib/orchard-agent)")
    .option("--json", "print JSON")
    .action(async (options) => setExit(await statusCommand(options, globals())));

  return program;
}

async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (error instanceof ConfigError) {
      console.error(`orchard-agent: ${error.message}`);
      return EXIT.usage;
    }
    console.error(`orchard-agent: ${errorMessage(error)}`);
    return EXIT.failed;
  }
}

// A command that waits on nothing can never end: Node would exit with 13
// (an unsettled top-level await). That is a bug; say so, and exit as failed.
process.once("beforeExit", () => {
  console.error("orchard-agent: internal error: the command stopped waiting on anything before it finished");
  process.exit(EXIT.failed);
});
process.exit(await main(process.argv));
