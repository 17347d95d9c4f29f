// One sim agent with fast timing against a FakeConsole, for the tests.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Agent, type AgentExit, type AgentOptions } from "../agent.ts";
import { SimBackend, type SimOptions, simMachineFile } from "../backends/sim.ts";
import type { AppTiming } from "../apps/reconciler.ts";
import { createLogger } from "../log.ts";
import type { UpdateTarget } from "../store.ts";
import type { FakeConsole } from "./fake-console.ts";

export function release(version: string): UpdateTarget {
  return {
    ref: "exampleos/x86_64/stable",
    version,
    checksum: createHash("sha256").update(`exampleos ${version}`).digest("hex"),
  };
}

export const FACTORY = release("2026.10.3");

export interface TestAgent {
  agent: Agent;
  backend: SimBackend;
  stateDir: string;
  exit: Promise<AgentExit>;
  stop(): Promise<AgentExit>;
}

export interface TestAgentOptions {
  stateDir?: string;
  machineId?: string;
  sim?: Partial<Omit<SimOptions, "file">>;
  agent?: Partial<AgentOptions>;
  /** Pass null to run without an enrollment token. */
  enrollmentToken?: string | null;
  /** v1.2: give the agent the sim's apps, with this timing. */
  apps?: Partial<AppTiming>;
}

export async function tempDir() {
  return mkdtemp(path.join(tmpdir(), "orchard-agent-test-"));
}

/** An agent of a console at `console.url` (a FakeConsole, or a real one in the integration tests). */
export async function startTestAgent(console: Pick<FakeConsole, "url">, options: TestAgentOptions = {}): Promise<TestAgent> {
  const stateDir = options.stateDir ?? (await tempDir());
  const machineId = options.machineId ?? "test-0001";
  const backend = await SimBackend.open({
    file: simMachineFile(stateDir),
    factory: FACTORY,
    stageSeconds: 0.05,
    rebootSeconds: 0.05,
    failRate: 0,
    failRelease: null,
    darkRate: 0,
    degradedRate: 0,
    fallbackRate: 0,
    ...options.sim,
  });
  const token = options.enrollmentToken === undefined ? "enroll-me" : options.enrollmentToken;
  const agent = new Agent({
    stateDir,
    backend,
    health: backend,
    log: createLogger(process.env.AGENT_TEST_LOG ? "debug" : "silent", undefined, machineId),
    enrollment:
      token === null ? undefined : { server: console.url, token, machineId, hostname: machineId, labels: { site: "test" } },
    timing: {
      retryBaseSeconds: 0.01,
      healthGraceSeconds: 0.3,
      healthRetrySeconds: 0.02,
      reportBeforeRebootSeconds: 2,
      requestTimeoutSeconds: 2,
    },
    ...(options.apps ? { apps: { driver: backend, checks: backend, timing: options.apps } } : {}),
    ...options.agent,
  });
  const controller = new AbortController();
  const exit = agent.run(controller.signal);
  return {
    agent,
    backend,
    stateDir,
    exit,
    stop: () => {
      controller.abort();
      return exit;
    },
  };
}

/** Runs the agent's command line (`script`: the source launcher or a one-file build) as a process, collecting its output. */
export function spawnAgentCommand(script: string, args: string[], env: Record<string, string> = {}, cwd?: string) {
  const child = spawn(process.execPath, [script, ...args], {
    cwd,
    env: { ...process.env, ORCHARD_AGENT_CONFIG: "", ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on("exit", (code) => resolve({ code, stdout, stderr })),
  );
  return { child, done };
}
