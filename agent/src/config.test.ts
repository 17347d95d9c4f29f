import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_STATE_DIR, loadConfig, resolveMachineId } from "./config.ts";
import { tempDir } from "./testing/test-agent.ts";

async function configFile(json: unknown) {
  const file = path.join(await tempDir(), "agent.json");
  writeFileSync(file, typeof json === "string" ? json : JSON.stringify(json));
  return file;
}

describe("agent configuration", () => {
  it("has defaults, and a missing default file is no error", () => {
    const config = loadConfig({ file: "/etc/orchard/agent.json", env: {} });
    expect(config).toMatchObject({ stateDir: DEFAULT_STATE_DIR, reboot: "systemctl", labels: {}, logLevel: "info" });
    expect(config.backend).toBeUndefined();
    expect(config.sim.failRate).toBe(0);
    expect(config.ostree).toEqual({ sysroot: "/" });
    expect(config.health).toEqual({ checksDir: "/etc/orchard/check", failedUnits: "wanted", probes: [], timeoutSeconds: 30 });
  });

  it("has an apps section: the system installation by default, checks and probes per app ID", async () => {
    expect(loadConfig({ file: "/etc/orchard/agent.json", env: {} }).apps).toEqual({
      enabled: true,
      installation: "system",
      checksDir: "/etc/orchard/app-check",
      probes: {},
      graceSeconds: 60,
      timeoutSeconds: 30,
      commandTimeoutSeconds: 1800,
    });
    const file = await configFile({
      apps: { installation: "user", probes: { "org.example.Kiosk": [{ name: "kiosk", url: "http://127.0.0.1:8080/" }] }, graceSeconds: 5 },
    });
    expect(loadConfig({ file, env: {} }).apps).toMatchObject({
      installation: "user",
      graceSeconds: 5,
      probes: { "org.example.Kiosk": [{ name: "kiosk", url: "http://127.0.0.1:8080/", required: true }] },
    });
    const bad = await configFile({ apps: { probes: { kiosk: [] } } });
    expect(() => loadConfig({ file: bad, env: {} })).toThrow(`bad configuration: ${bad}: apps.probes.kiosk: expected an app ID such as org.example.Kiosk`);
    const badInstallation = await configFile({ apps: { installation: "../etc" } });
    expect(() => loadConfig({ file: badInstallation, env: {} })).toThrow(/apps.installation: expected "system", "user" or an installation name/);
  });

  it("lets the environment override the file, and flags override both", async () => {
    const file = await configFile({ server: "https://file.example", stateDir: "/from/file", sim: { failRate: 0.1 } });
    const env = { ORCHARD_SERVER: "https://env.example", ORCHARD_STATE_DIR: "/from/env" };
    const config = loadConfig({ file, env, flags: { stateDir: { value: "/from/flag", flag: "--state-dir" } } });
    expect(config).toMatchObject({ server: "https://env.example", stateDir: "/from/flag", sim: { failRate: 0.1 } });
  });

  it("finds the file through ORCHARD_AGENT_CONFIG", async () => {
    const file = await configFile({ hostname: "kiosk-1" });
    expect(loadConfig({ env: { ORCHARD_AGENT_CONFIG: file } }).hostname).toBe("kiosk-1");
  });

  it("names the bad field by where it came from", async () => {
    const file = await configFile({ sim: { failRate: 2 } });
    expect(() => loadConfig({ file, env: {} })).toThrow(`bad configuration: ${file}: sim.failRate: must be between 0 and 1`);
    expect(() => loadConfig({ file, env: { ORCHARD_SERVER: "ftp://x" } })).toThrow(
      "bad configuration: ORCHARD_SERVER: expected an http:// or https:// URL",
    );
    expect(() => loadConfig({ env: {}, flags: { machineId: { value: "no spaces", flag: "--machine-id" } } })).toThrow(
      "bad configuration: --machine-id: expected 1 to 128 characters of [A-Za-z0-9._-]",
    );
    expect(() => loadConfig({ file: "/nonexistent/agent.json", env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ file: file.replace("agent.json", "x"), env: {} })).toThrow(/cannot read it \(ENOENT\)/);
  });

  it("refuses unknown fields and files that are not JSON objects", async () => {
    const [typo, broken, list] = [await configFile({ sever: "typo" }), await configFile("{"), await configFile([])];
    expect(() => loadConfig({ file: typo, env: {} })).toThrow(/Unrecognized key: "sever"/);
    expect(() => loadConfig({ file: broken, env: {} })).toThrow(/not valid JSON/);
    expect(() => loadConfig({ file: list, env: {} })).toThrow(/expected a JSON object/);
  });

  it("takes the machine id from the configuration or /etc/machine-id", async () => {
    const dir = await tempDir();
    const idFile = path.join(dir, "machine-id");
    writeFileSync(idFile, "4c4c4544004d3510804bb4c04f4d4432\n");
    const config = loadConfig({ env: {} });
    expect(resolveMachineId(config, idFile)).toBe("4c4c4544004d3510804bb4c04f4d4432");
    expect(resolveMachineId({ ...config, machineId: "kiosk-1" }, idFile)).toBe("kiosk-1");
    expect(() => resolveMachineId(config, path.join(dir, "absent"))).toThrow(/set --machine-id or ORCHARD_MACHINE_ID/);
  });
});
