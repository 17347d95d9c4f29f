// `tsx agent/src/fleet/main.ts --server URL --token T --agents N …`: runs a
// simulated fleet until SIGTERM or SIGINT, with a one-line summary on stderr
// every 5 s. Exit codes: 0 stopped, 1 failed, 2 bad arguments.
import { Command, CommanderError } from "commander";
import { createLogger, errorMessage } from "../log.ts";
import { storage } from "../store.ts";
import { type FleetStats, runFleet, shareSockets } from "./fleet.ts";
import { fleetGroups, parseFleetFlags, UsageError } from "./options.ts";
import { formatSummary } from "./summary.ts";

const SUMMARY_EVERY_SECONDS = 5;

function parseArguments(argv: string[]) {
  const program = new Command("orchard-fleet")
    .description("Runs many simulated Orchard agents against a console, over real HTTP.")
    .requiredOption("--server <url>", "the console's URL")
    .option("--token <token>", "enrollment token for agents not enrolled yet (or ORCHARD_FLEET_TOKEN)")
    .option("--agents <n>", "number of agents (or ORCHARD_FLEET_TOKENS=T1:5,T2:15 for groups with their own tokens)")
    .option("--state-dir <dir>", "where each agent keeps its state", ".orchard/fleet")
    .option("--name-prefix <prefix>", "machine ids are <prefix>-0000, <prefix>-0001, …", "sim")
    .option("--interval <seconds>", "agents start spread over this many seconds", "60")
    .option("--fail-rate <p>", "probability that a boot into a new deployment fails its health checks", "0")
    .option("--fail-release <version>", "a version whose boot always fails its health checks")
    .option("--fail-app-release <version|commit>", "an app release whose app check always fails")
    .option("--fail-app-rate <p>", "probability that an app release new to a machine fails its app check there", "0")
    .option("--app-install-seconds <s>", "time to install or update an app", "2")
    .option("--dark-rate <p>", "probability that a machine never comes back from a reboot", "0")
    .option("--degraded-rate <p>", "probability that a health check run shows a warning", "0")
    .option("--fallback-rate <p>", "probability that the boot loader falls back to the previous deployment", "0")
    .option("--stage-seconds <s>", "time to pull a deployment (each agent varies ±50 %)", "20")
    .option("--reboot-seconds <s>", "time a reboot takes (each agent varies ±50 %)", "10")
    .option("--health-grace <s>", "time after boot for the health checks to pass", "30")
    .option("--clock-skew <s>", "each agent's clock is off by up to this many seconds", "0")
    .option("--factory-ref <ref>", "the ref of the deployment a new sim machine boots")
    .option("--factory-checksum <hex>", "its checksum")
    .option("--factory-version <version>", "its version")
    .option("--log-level <level>", "agent log lines to show: debug, info, warn, error, silent", "error")
    .showHelpAfterError()
    .exitOverride();
  program.parse(argv);
  const flags = parseFleetFlags(program.opts());
  return { flags, groups: fleetGroups(flags, process.env) };
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArguments(argv);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof UsageError) {
      console.error(`orchard-fleet: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const { flags, groups } = parsed;
  storage.durable = false;
  shareSockets();
  const fleet = runFleet({
    server: flags.server,
    groups,
    stateDir: flags.stateDir,
    namePrefix: flags.namePrefix,
    intervalSeconds: flags.interval,
    clockSkewSeconds: flags.clockSkew,
    healthGraceSeconds: flags.healthGrace,
    sim: {
      factory: { ref: flags.factoryRef, checksum: flags.factoryChecksum, version: flags.factoryVersion },
      stageSeconds: flags.stageSeconds,
      rebootSeconds: flags.rebootSeconds,
      failRate: flags.failRate,
      failRelease: flags.failRelease ?? null,
      failAppRelease: flags.failAppRelease ?? null,
      failAppRate: flags.failAppRate,
      appInstallSeconds: flags.appInstallSeconds,
      darkRate: flags.darkRate,
      degradedRate: flags.degradedRate,
      fallbackRate: flags.fallbackRate,
    },
    log: createLogger(flags.logLevel),
  });

  let before: FleetStats | null = null;
  let beforeAt = Date.now();
  const printSummary = (suffix = "") => {
    const now = fleet.stats();
    const seconds = Math.max(0.001, (Date.now() - beforeAt) / 1000);
    process.stderr.write(`${formatSummary(now, before, seconds)}${suffix}\n`);
    before = now;
    beforeAt = Date.now();
    return now;
  };
  const summary = setInterval(printSummary, SUMMARY_EVERY_SECONDS * 1000);
  const stop = () => void fleet.stop();
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);

  await fleet.done;
  clearInterval(summary);
  const last = printSummary(" (stopped)");
  return last.byStatus.failed > 0 && last.byStatus.failed === last.agents ? 1 : 0;
}

main(process.argv)
  .then((code) => process.exit(code))
  .catch((error) => {
    console.error(`orchard-fleet: ${errorMessage(error)}`);
    process.exit(1);
  });
