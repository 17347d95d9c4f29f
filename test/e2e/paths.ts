// Where the browser run's console keeps its data and its log (shared by the
// Playwright config and the tests that read them).
import os from "node:os";
import path from "node:path";

/** A fresh embedded database for every run: the web server command deletes it first. */
export const DATA_DIR = path.join(os.tmpdir(), "orchard-e2e");
/** Everything the console and its demo fleet print during the run. */
export const CONSOLE_LOG = path.join(os.tmpdir(), "orchard-e2e-console.log");
