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
    const bad = { PORT: "http", ORCHARD_DEMO_AGENTS: "-1", DATABASE_URL: "mysql://x", ORCHARD_API_RATE_LIMIT: "lots", ORCHARD_API_RATE_PER_ADDRESS: "-5" };
    expect(() => loadConfig(bad)).toThrow(ConfigError);
    try {
      loadConfig(bad);
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toMatch(/PORT:/);
      expect(message).toMatch(/ORCHARD_DEMO_AGENTS:/);
      expect(message).toMatch(/DATABASE_URL: expected a postgresql:\/\/ URL/);
      expect(message).toMatch(/ORCHARD_API_RATE_LIMIT:/);
      expect(message).toMatch(/ORCHARD_API_RATE_PER_ADDRESS:/);
    }
  });

  it("treats empty variables as unset and derives the URL", () => {
    const config = loadConfig({ DATABASE_URL: "", PORT: "4000" });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.url).toBe("http://localhost:4000");
    expect(path.isAbsolute(config.dataDir)).toBe(true);
  });

  describe("single sign-on", () => {
    const SSO = {
      ORCHARD_OIDC_ISSUER: "https://id.example.com/realms/acme",
      ORCHARD_OIDC_CLIENT_ID: "orchard",
      ORCHARD_OIDC_CLIENT_SECRET: "s3cret",
      ORCHARD_OIDC_GROUPS: "orchard-admins=admin,orchard-canary-ops=operator:canary+beta",
    };
    const message = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (error) {
        return (error as Error).message;
      }
      return null;
    };

    it("is off unless configured, with local sign-in on", () => {
      expect(loadConfig({})).toMatchObject({ sso: null, localSignIn: true });
    });

    it("reads the issuer, the client and the group mapping", () => {
      const config = loadConfig({ ...SSO, ORCHARD_LOCAL_SIGN_IN: "off" });
      expect(config.localSignIn).toBe(false);
      expect(config.sso).toMatchObject({ issuer: SSO.ORCHARD_OIDC_ISSUER, clientId: "orchard", groupsClaim: "groups", scopes: "openid email profile" });
      expect(config.sso?.groups.get("orchard-canary-ops")).toEqual({ role: "operator", rings: ["canary", "beta"] });
    });

    it("names the variable of a bad group mapping and says what is wrong", () => {
      expect(message({ ...SSO, ORCHARD_OIDC_GROUPS: "orchard-admins=admin:canary" })).toMatch(
        /ORCHARD_OIDC_GROUPS: group orchard-admins: an admin acts on the whole fleet/,
      );
    });

    it("needs all four of issuer, client id, secret and groups", () => {
      const text = message({ ORCHARD_OIDC_ISSUER: SSO.ORCHARD_OIDC_ISSUER });
      expect(text).toMatch(/ORCHARD_OIDC_CLIENT_ID: required with ORCHARD_OIDC_ISSUER/);
      expect(text).toMatch(/ORCHARD_OIDC_CLIENT_SECRET: required/);
      expect(text).toMatch(/ORCHARD_OIDC_GROUPS: required/);
    });

    it("refuses to switch local sign-in off without single sign-on, and scopes without openid", () => {
      expect(message({ ORCHARD_LOCAL_SIGN_IN: "off" })).toMatch(/ORCHARD_LOCAL_SIGN_IN: off needs single sign-on/);
      expect(message({ ORCHARD_LOCAL_SIGN_IN: "no" })).toMatch(/ORCHARD_LOCAL_SIGN_IN: expected on or off/);
      expect(message({ ...SSO, ORCHARD_OIDC_SCOPES: "email profile" })).toMatch(/ORCHARD_OIDC_SCOPES: must include openid/);
    });
  });
});
