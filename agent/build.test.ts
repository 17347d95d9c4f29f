// The one-file build runs on its own: from a folder with no node_modules,
// it enrolls, runs, stops on SIGTERM, and shows its status.
import path from "node:path";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildAgent } from "./build.ts";
import { eventually, FakeConsole } from "./src/testing/fake-console.ts";
import { spawnAgentCommand, tempDir } from "./src/testing/test-agent.ts";
import { AGENT_VERSION } from "./src/version.ts";

let bundle: string;
let fake: FakeConsole;

beforeAll(async () => {
  bundle = await buildAgent(path.join(await tempDir(), "orchard-agent.js"));
}, 60_000);

beforeEach(async () => {
  fake = await FakeConsole.start();
});

afterEach(() => fake.close());

function start(args: string[], env: Record<string, string>) {
  return spawnAgentCommand(bundle, args, env, path.dirname(bundle));
}

describe("the one-file build", () => {
  it("runs by itself: version, enroll, run until SIGTERM, status", async () => {
    const env = { ORCHARD_STATE_DIR: await tempDir(), ORCHARD_BACKEND: "sim" };
    expect((await start(["--version"], env).done).stdout).toBe(`${AGENT_VERSION}\n`);

    const enrolled = await start(["enroll", "--server", fake.url, "--token", "enroll-me", "--machine-id", "bundle-1"], env).done;
    expect(enrolled).toMatchObject({ code: 0, stderr: "" });

    const running = start(["run"], env);
    await eventually(() => fake.machine("bundle-1").checkins.length >= 2, 10_000, "check-ins");
    running.child.kill("SIGTERM");
    expect((await running.done).code).toBe(0);

    const status = await start(["status", "--json"], env).done;
    expect(JSON.parse(status.stdout)).toMatchObject({ machineId: "bundle-1", backend: "sim", queuedEvents: 0 });
  }, 30_000);
});
