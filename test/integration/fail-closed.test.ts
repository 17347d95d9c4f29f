// Fail closed: a production console on a shared database refuses to start
// without a session secret, and the agent routes take nothing without a
// valid token.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../server/config";
import { startConsole } from "../../server/console";
import { call, checkinBody } from "../helpers/agent-http";
import { freshDatabaseUrl, startTestConsole } from "../helpers/console";

describe("fail closed", () => {
  it("refuses to start in production with DATABASE_URL and no ORCHARD_SECRET", async () => {
    const config = loadConfig({ NODE_ENV: "production", DATABASE_URL: await freshDatabaseUrl(), PORT: "0", ORCHARD_DEMO_AGENTS: "0", ORCHARD_DATA_DIR: "/tmp/orch-fail-closed" });
    await expect(startConsole(config, { next: false })).rejects.toThrow(/ORCHARD_SECRET is required/);
  });

  it("refuses to start in production with DATABASE_URL and no ORCHARD_ENCRYPTION_KEY, naming it", async () => {
    const config = loadConfig({
      NODE_ENV: "production",
      DATABASE_URL: await freshDatabaseUrl(),
      ORCHARD_SECRET: "s".repeat(40),
      PORT: "0",
      ORCHARD_DEMO_AGENTS: "0",
      ORCHARD_DATA_DIR: "/tmp/orch-fail-closed",
    });
    await expect(startConsole(config, { next: false })).rejects.toThrow(/^ORCHARD_ENCRYPTION_KEY is required in production with DATABASE_URL/);
  });

  it("answers every agent route 401 without a valid token", async () => {
    const app = await startTestConsole();
    try {
      for (const [method, route] of [["POST", "/enroll"], ["POST", "/checkin"], ["POST", "/events"], ["POST", "/reboot-lock"], ["DELETE", "/reboot-lock"]]) {
        for (const token of [undefined, "", "orch_m_forged", "orch_e_forged", "x".repeat(300)]) {
          const res = await call(app.url, method, route, { token, body: checkinBody(1) });
          expect(res.status, `${method} ${route} ${token?.slice(0, 10)}`).toBe(401);
        }
      }
    } finally {
      await app.stop();
    }
  });
});
