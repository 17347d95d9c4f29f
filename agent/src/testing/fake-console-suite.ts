// The set-up most agent tests share: a fresh FakeConsole for every test, and
// every agent a test starts against it stopped (and the console closed)
// after the test. Call it once at the top of a test file.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach } from "vitest";
import { type AgentState, STATE_FILE } from "../store.ts";
import { FakeConsole } from "./fake-console.ts";
import { startTestAgent, type TestAgent } from "./test-agent.ts";

export function fakeConsoleSuite(setUp: (fake: FakeConsole) => void = () => {}) {
  let fake: FakeConsole | null = null;
  const running: TestAgent[] = [];
  beforeEach(async () => {
    fake = await FakeConsole.start();
    setUp(fake);
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((a) => a.stop()));
    await fake?.close();
    fake = null;
  });
  return {
    /** This test's console. */
    fake: () => fake!,
    /** An agent of this test's console, stopped after the test. */
    async start(options: Parameters<typeof startTestAgent>[1] = {}) {
      const agent = await startTestAgent(fake!, options);
      running.push(agent);
      return agent;
    },
  };
}

/** The agent's state as it is on disk. */
export function stateOnDisk(agent: TestAgent): AgentState {
  return JSON.parse(readFileSync(path.join(agent.stateDir, STATE_FILE), "utf8"));
}
