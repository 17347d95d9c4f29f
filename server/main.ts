// `npm start`: the Orchard console.
import { buildIfNeeded } from "./build";
import { ConfigError, loadConfig } from "./config";
import { startConsole } from "./console";
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
  const where = running.db.kind === "embedded" ? `embedded database in ${config.dataDir}` : "PostgreSQL (DATABASE_URL)";
  console.log(`\nOrchard console: ${running.url}  (${where})`);
  if (running.firstAdmin) {
    console.log("First admin created. Sign in with (shown only this once):");
    console.log(`  e-mail:   ${running.firstAdmin.email}`);
    console.log(`  password: ${running.firstAdmin.password}`);
  }
  if (config.sso) {
    console.log(`Single sign-on: ${config.sso.issuer}${config.localSignIn ? ", beside passwords" : " only (ORCHARD_LOCAL_SIGN_IN=off)"}.`);
  }
  if (config.ORCHARD_DEMO_AGENTS > 0) {
    console.log(`Demo fleet: ${config.ORCHARD_DEMO_AGENTS} simulated agents (ORCHARD_DEMO_AGENTS=0 turns it off).`);
  }

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
}

main().catch((error) => {
  console.error(`Orchard failed to start: ${error instanceof Error ? error.message : String(error)}`);
  logger.debug({ err: error }, "start failed");
  process.exit(1);
});
