// `npm start`: the Orchard console.
import { buildIfNeeded } from "./build";
import { type Config, ConfigError, loadConfig } from "./config";
import { type RunningConsole, startConsole } from "./console";
import { logger } from "./logger";

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  logger.level = config.LOG_LEVEL;
  if (config.ORCHARD_SERVE_PAGES && config.ORCHARD_AUTO_BUILD) await buildIfNeeded((line) => console.log(line));

  const running = await startConsole(config, { next: config.ORCHARD_SERVE_PAGES });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    await running.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));

  // The banner comes last: after the demo fleet's enrollments (a JSON line
  // each), so that they do not scroll the sign-in away.
  let enrolled = 0;
  if (running.demo) {
    if (running.demo.toEnroll > 0) {
      console.log(`Enrolling the demo fleet (${running.demo.toEnroll} simulated agents over ${config.ORCHARD_DEMO_INTERVAL} s); the address and sign-in follow.`);
    }
    enrolled = await running.demo.enrolled(config.ORCHARD_DEMO_INTERVAL * 1000 + 30_000);
  }
  if (stopping) return;
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  console.log(banner(config, running, enrolled));
}

/** What `npm start` prints last: where the console is, how to sign in, and the demo fleet. */
function banner(config: Config, running: RunningConsole, enrolled: number) {
  const where = running.db.kind === "embedded" ? `embedded database in ${config.dataDir}` : "PostgreSQL (DATABASE_URL)";
  const lines = [`Orchard console is ready: ${running.url}  (${where})`];
  if (running.firstAdmin) {
    lines.push(
      "First admin created. Sign in with (shown only this once):",
      `  e-mail:   ${running.firstAdmin.email}`,
      `  password: ${running.firstAdmin.password}`,
    );
  }
  if (running.demo) {
    const count = enrolled >= running.demo.agents ? `${running.demo.agents}` : `${enrolled} of ${running.demo.agents} (the rest still enrolling)`;
    lines.push(`Demo fleet: ${count} simulated agents enrolled (ORCHARD_DEMO_AGENTS=0 turns it off).`);
  }
  const rule = "-".repeat(Math.max(...lines.map((l) => l.length)));
  return ["", rule, ...lines, rule].join("\n");
}

main().catch((error) => {
  console.error(`Orchard failed to start: ${error instanceof Error ? error.message : String(error)}`);
  logger.debug({ err: error }, "start failed");
  process.exit(1);
});
