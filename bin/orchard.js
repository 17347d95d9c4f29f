#!/usr/bin/env node
// `orchard`: the console's command line (see `orchard --help`).
process.env.ORCHARD_LOG_FD = "2";
process.env.LOG_LEVEL ??= "warn";
const { register } = await import("tsx/esm/api");
register();
// Run explicitly: through npx or an npm link this file is reached by a
// symlink, so "am I the main module" checks would not recognise it.
const { runCli } = await import("../server/cli/main.ts");
process.exit(await runCli(process.argv.slice(2)));
