// The demo fleet of `npm start`: simulated agents in a child process that
// enroll and check in through the real HTTP protocol.
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { systemActor } from "../audit/audit";
import type { PrismaClient } from "../db/client";
import { createEnrollmentToken } from "../enrollment/enrollment-tokens";
import type { Logger } from "../logger";
import { DEMO_FACTORY, DEMO_RINGS, demoSplit } from "./seed";

const root = path.resolve(import.meta.dirname, "../..");
const DEMO_PREFIX = "kiosk";

export interface DemoFleet {
  /** Agents started. */
  agents: number;
  /** Agents not enrolled when it started: they enroll over the first check-in interval. */
  toEnroll: number;
  /** Resolves once every agent has enrolled, or at `timeoutMs`: how many have. */
  enrolled(timeoutMs: number): Promise<number>;
  stop(): Promise<void>;
}

export async function startDemoFleet(options: {
  db: PrismaClient;
  log: Logger;
  serverUrl: string;
  dataDir: string;
  agents: number;
  intervalSeconds: number;
}): Promise<DemoFleet> {
  const split = demoSplit(options.agents);
  const countEnrolled = () => options.db.machine.count({ where: { machineId: { startsWith: `${DEMO_PREFIX}-` }, retiredAt: null } });
  // Fresh enrollment tokens, short-lived and counted, only while some demo
  // agents have not enrolled yet (an enrolled agent keeps its machine token).
  const enrolled = await countEnrolled();
  const groups: string[] = [];
  for (const [i, ring] of DEMO_RINGS.entries()) {
    if (split[i] === 0 || enrolled >= options.agents) continue;
    const exists = await options.db.ring.findUnique({ where: { name: ring.name }, select: { id: true } });
    const { token } = await createEnrollmentToken(options.db, systemActor, {
      name: `demo fleet (${ring.name})`,
      ring: exists ? ring.name : undefined,
      expiresInSeconds: 3600,
      maxUses: split[i],
    });
    groups.push(`${token}:${split[i]}`);
  }
  const child: ChildProcess = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      path.join(root, "agent/src/fleet/main.ts"),
      "--server",
      options.serverUrl,
      "--state-dir",
      path.join(options.dataDir, "demo-fleet"),
      "--name-prefix",
      DEMO_PREFIX,
      // Without fresh tokens, every agent is already enrolled.
      ...(groups.length > 0 ? [] : ["--agents", String(options.agents)]),
      "--interval",
      String(options.intervalSeconds),
      "--fail-rate",
      "0.05",
      "--degraded-rate",
      "0.05",
      "--factory-ref",
      DEMO_FACTORY.ref,
      "--factory-checksum",
      DEMO_FACTORY.checksum,
      "--factory-version",
      DEMO_FACTORY.version,
    ],
    {
      cwd: root,
      env: { ...process.env, ...(groups.length > 0 ? { ORCHARD_FLEET_TOKENS: groups.join(",") } : {}) },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (text: string) => {
    for (const line of text.split("\n")) if (line.trim()) options.log.debug({ fleet: line.trim() }, "demo fleet");
  });
  child.on("exit", (code, signal) => {
    if (code !== 0 && signal !== "SIGTERM") options.log.warn({ code, signal }, "demo fleet exited");
  });
  options.log.info({ agents: options.agents }, "demo fleet started");
  return {
    agents: options.agents,
    toEnroll: Math.max(0, options.agents - enrolled),
    async enrolled(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      const pause = () => new Promise((resolve) => setTimeout(resolve, 250));
      for (;;) {
        const count = await countEnrolled();
        if (count >= options.agents || Date.now() >= deadline || child.exitCode !== null) {
          // The console logs an enrollment just after its row is written: one more pause lets the last line out.
          await pause();
          return count;
        }
        await pause();
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 5000).unref();
      }),
  };
}
