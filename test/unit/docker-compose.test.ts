// No Docker engine runs here: the compose file is checked by parsing it.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const root = path.resolve(import.meta.dirname, "../..");
const compose = parse(fs.readFileSync(path.join(root, "docker-compose.yml"), "utf8"));

describe("docker-compose.yml", () => {
  it("runs PostgreSQL 16 with a health check", () => {
    const pg = compose.services.postgres;
    expect(pg.image).toMatch(/^postgres:16/);
    expect(pg.healthcheck.test.join(" ")).toMatch(/pg_isready/);
  });

  it("builds the console from the Dockerfile and points it at that database once healthy", () => {
    const console = compose.services.console;
    expect(console.build).toBe(".");
    expect(fs.existsSync(path.join(root, "Dockerfile"))).toBe(true);
    expect(console.depends_on.postgres.condition).toBe("service_healthy");
    const url = new URL(console.environment.DATABASE_URL);
    expect(url.hostname).toBe("postgres");
    expect(url.pathname).toBe(`/${compose.services.postgres.environment.POSTGRES_DB}`);
    expect(url.username).toBe(compose.services.postgres.environment.POSTGRES_USER);
    expect(console.environment.ORCHARD_SECRET).toMatch(/ORCHARD_SECRET/);
    // The container's data folder does not outlive it: the key that seals webhook secrets comes from outside.
    expect(console.environment.ORCHARD_ENCRYPTION_KEY).toMatch(/ORCHARD_ENCRYPTION_KEY:\?/);
    expect(console.ports).toContain("3000:3000");
    expect(console.healthcheck.test.join(" ")).toMatch(/healthz/);
  });

  it("runs simulated agents against the console with the fleet simulator", () => {
    const agents = compose.services.agents;
    expect(agents.depends_on.console.condition).toBe("service_healthy");
    expect(agents.command).toContain("agent/src/fleet/main.ts");
    expect(agents.command[agents.command.indexOf("--server") + 1]).toBe("http://console:3000");
    expect(fs.existsSync(path.join(root, "agent/src/fleet/main.ts"))).toBe(true);
  });

  it("uses only variables the console knows", async () => {
    const { configSchema } = await import("../../server/config");
    for (const key of Object.keys(compose.services.console.environment)) {
      expect(Object.keys(configSchema.shape), key).toContain(key);
    }
  });
});
