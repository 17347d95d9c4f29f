// Browser tests: Debian's Chromium (never `playwright install`), one worker,
// and a real console with a demo fleet on a fresh data directory.
import os from "node:os";
import path from "node:path";
import { defineConfig, devices } from "@playwright/test";

const PORT = 3300;
const baseURL = `http://127.0.0.1:${PORT}`;
/** A fresh embedded database for every run: the web server command deletes it first. */
const dataDir = path.join(os.tmpdir(), "orchard-e2e");

const chromium = {
  executablePath: "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
  ],
};

export default defineConfig({
  testDir: "test/e2e",
  outputDir: "test-results",
  workers: 1,
  fullyParallel: false,
  forbidOnly: Boolean(process.env.CI),
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 20_000 },
  reporter: process.env.CI ? [["list"], ["html", { open: "never", outputFolder: "playwright-report" }]] : "list",
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "on",
    launchOptions: chromium,
  },
  projects: [
    {
      name: "chromium",
      use: { ...devices["Desktop Chrome"], viewport: { width: 1366, height: 900 }, launchOptions: chromium },
    },
  ],
  webServer: {
    command: `node -e "require('node:fs').rmSync(process.env.ORCHARD_DATA_DIR, { recursive: true, force: true })" && npm start`,
    url: `${baseURL}/healthz`,
    timeout: 240_000,
    reuseExistingServer: !process.env.CI,
    stdout: "pipe",
    stderr: "pipe",
    env: {
      PORT: String(PORT),
      HOST: "127.0.0.1",
      ORCHARD_URL: baseURL,
      ORCHARD_DATA_DIR: dataDir,
      ORCHARD_ADMIN_PASSWORD: "e2e-admin-password",
      ORCHARD_DEMO_AGENTS: "12",
      ORCHARD_DEMO_INTERVAL: "5",
      // A version snapshot every 10 s, so that the dashboard's history has points to draw.
      ORCHARD_SNAPSHOT_INTERVAL_MS: "10000",
      LOG_LEVEL: "warn",
    },
  },
});
