import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, configSchema, loadConfig } from "./config";

const example = fs.readFileSync(path.resolve(import.meta.dirname, "../.env.example"), "utf8");
const exampleEntries = Object.fromEntries(
  example
    .split("\n")
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
);

describe("configuration", () => {
  it(".env.example lists every variable with its default", () => {
    expect(Object.keys(exampleEntries).sort()).toEqual(Object.keys(configSchema.shape).sort());
    const defaults = configSchema.parse({});
    for (const [key, value] of Object.entries(exampleEntries)) {
      if (value === "") expect(defaults[key as keyof typeof defaults], key).toBeUndefined();
      else expect(String(defaults[key as keyof typeof defaults]), key).toBe(value);
    }
  });

  it("names every bad variable", () => {
    expect(() => loadConfig({ PORT: "http", ORCHARD_DEMO_AGENTS: "-1", DATABASE_URL: "mysql://x" })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: "http", ORCHARD_DEMO_AGENTS: "-1", DATABASE_URL: "mysql://x" });
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toMatch(/PORT:/);
      expect(message).toMatch(/ORCHARD_DEMO_AGENTS:/);
      expect(message).toMatch(/DATABASE_URL: expected a postgresql:\/\/ URL/);
    }
  });

  it("treats empty variables as unset and derives the URL", () => {
    const config = loadConfig({ DATABASE_URL: "", PORT: "4000" });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.url).toBe("http://localhost:4000");
    expect(path.isAbsolute(config.dataDir)).toBe(true);
  });
});
