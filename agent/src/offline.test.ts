// The console goes away in the middle of an update and comes back: the
// agent carries on alone, queues its events on disk, and once the console
// answers again every event arrives once, in order.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { type AgentState, STATE_FILE } from "./store.ts";
import { eventually, FakeConsole } from "./testing/fake-console.ts";
import { release, startTestAgent, type TestAgent } from "./testing/test-agent.ts";

const NEXT = release("2026.11.1");

let fake: FakeConsole;
let agent: TestAgent | null = null;

beforeEach(async () => {
  fake = await FakeConsole.start();
});

afterEach(async () => {
  await agent?.stop();
  await fake.close();
});

const stateOf = (a: TestAgent): AgentState => JSON.parse(readFileSync(path.join(a.stateDir, STATE_FILE), "utf8"));

it("keeps every event of an update made while the console was down, and delivers each once, in order", async () => {
  fake.desired = NEXT;
  agent = await startTestAgent(fake, { sim: { stageSeconds: 0.5 } });
  const machine = () => fake.machine("test-0001");
  await eventually(() => machine().events.some((e) => e.type === "update.started"), 5000, "the update to start");

  await fake.close();
  // Alone, the agent downloads and stages; the reboot waits for a slot only the console can give.
  await eventually(() => stateOf(agent!).update.phase === "staged", 5000, "staged while offline");
  const queued = stateOf(agent!).queue.map((e) => e.type);
  expect(queued).toEqual(expect.arrayContaining(["update.downloaded", "update.staged"]));
  const checkinsBefore = machine().checkins.length;
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(agent.agent.counters.errors).toBeGreaterThan(2);

  await fake.reopen();
  await eventually(
    () => machine().checkins.at(-1)?.update.state === "succeeded" && stateOf(agent!).queue.length === 0,
    10_000,
    "the update to finish and the queue to drain",
  );
  expect(machine().checkins.length).toBeGreaterThan(checkinsBefore);
  const events = machine().events;
  expect(events.map((e) => e.type)).toEqual([
    "agent.started",
    "update.started",
    "update.downloaded",
    "update.staged",
    "reboot.started",
    "agent.started",
    "boot.verified",
  ]);
  expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  const times = events.map((e) => Date.parse(e.at));
  expect(times).toEqual([...times].sort((a, b) => a - b));
});
