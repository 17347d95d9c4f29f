#!/usr/bin/env node
// `orchard`: the console's command line (see `orchard --help`).
process.env.ORCHARD_LOG_FD = "2";
process.env.LOG_LEVEL ??= "warn";
const { register } = await import("tsx/esm/api");
register();
await import("../server/cli/main.ts");
