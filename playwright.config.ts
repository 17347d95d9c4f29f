// Browser tests: Debian's Chromium (never `playwright install`), one worker,
// and a real console with a demo fleet on a fresh data directory.
import { defineConfig, devices } from "@playwright/test";
import { CONSOLE_LOG, DATA_DIR } from "./test/e2e/paths";

// ORCHARD_E2E_PORT (and TMPDIR, for the data directory and the log) let two browser runs share a machine.
const PORT = Number(process.env.ORCHARD_E2E_PORT ?? 3300);
const baseURL = `http://127.0.0.1:${PORT}`;

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
      teardown: "secrets",
    },
    // After every browser test: grep the run's logs and API answers for secrets.
    { name: "secrets", testMatch: /secrets\.teardown\.ts/, use: { launchOptions: chromium } },
  ],
  webServer: {
    // A fresh data directory, and everything the console prints kept for the
    // secrets check (the run's output shows all but the debug lines).
    command: `node -e "require('node:fs').rmSync(process.env.ORCHARD_DATA_DIR, { recursive: true, force: true })" && npm start 2>&1 | tee ${CONSOLE_LOG} | grep --line-buffered -v '"level":20'`,
    url: `${baseURL}/healthz`,
    timeout: 240_000,
    reuseExistingServer: !process.env.CI,
    stdout: "pipe",
    stderr: "pipe",
    env: {
      PORT: String(PORT),
      HOST: "127.0.0.1",
      ORCHARD_URL: baseURL,
      ORCHARD_DATA_DIR: DATA_DIR,
      ORCHARD_ADMIN_PASSWORD: "e2e-admin-password",
      ORCHARD_DEMO_AGENTS: "12",
      ORCHARD_DEMO_INTERVAL: "5",
      // A version snapshot every 10 s, so that the dashboard's history has points to draw.
      ORCHARD_SNAPSHOT_INTERVAL_MS: "10000",
      // Every log line the console has, so that the secrets check sees them all.
      LOG_LEVEL: "debug",
      // The whole run signs in from one address, auth.spec.ts alone some 20 times in a minute.
      ORCHARD_SIGNIN_RATE_PER_ADDRESS: "120",
      // webhooks.spec.ts subscribes a receiver it runs on 127.0.0.1.
      ORCHARD_WEBHOOKS_ALLOW_PRIVATE: "1",
    },
  },
});
