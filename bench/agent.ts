// The agent's resident memory and CPU, idle and during an update (sim
// backend), as an operator would run it: the one-file build under plain
// Node, against a console that answers at once (agent/src/testing's fake, in
// this process). Beside each figure, a bare `node -e` process measured in the
// same run: the ratio is the figure to compare on a shared, noisy machine.
// BENCH_AGENT_SECONDS sets the idle window (default 15 s).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { buildAgent } from "../agent/build.ts";
import { eventually, FakeConsole } from "../agent/src/testing/fake-console.ts";
import { release, tempDir } from "../agent/src/testing/test-agent.ts";

const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
const SAMPLE_MS = 100;

interface Usage {
  /** Resident set at the end of the window, and its highest sample. */
  rssMB: number;
  peakRssMB: number;
  /** CPU time over the window, as a share of one core. */
  cpuPercent: number;
  seconds: number;
}

function readRssKB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]);
}

/** utime + stime of a process, in seconds. */
function readCpuSeconds(pid: number): number {
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Samples a process until `until` resolves (or for `seconds`), returning its usage over that window. */
async function measure(pid: number, until: Promise<unknown> | number): Promise<Usage> {
  const startedAt = performance.now();
  const cpuBefore = readCpuSeconds(pid);
  let peak = readRssKB(pid);
  let done = false;
  const end = typeof until === "number" ? new Promise((resolve) => setTimeout(resolve, until * 1000)) : until;
  // The caller handles a failure of `until`; here it only ends the window.
  void end.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) {
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
    peak = Math.max(peak, readRssKB(pid));
  }
  const seconds = (performance.now() - startedAt) / 1000;
  const rss = readRssKB(pid);
  return {
    rssMB: round(rss / 1024),
    peakRssMB: round(Math.max(peak, rss) / 1024),
    cpuPercent: round(((readCpuSeconds(pid) - cpuBefore) / seconds) * 100, 2),
    seconds: round(seconds),
  };
}

function round(value: number, digits = 1) {
  return Number(value.toFixed(digits));
}

function stop(child: ChildProcess) {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  return exited;
}

export async function benchAgent(): Promise<Record<string, unknown>> {
  const idleSeconds = Number(process.env.BENCH_AGENT_SECONDS ?? 15);
  const dir = await tempDir();
  const bundle = await buildAgent(path.join(dir, "orchard-agent.js"));
  const fake = await FakeConsole.start();
  // Every second: sixty times the pace of an idle machine in a real fleet, so "idle" includes check-in work.
  fake.intervalSeconds = 1;
  const configFile = path.join(dir, "agent.json");
  await writeFile(
    configFile,
    JSON.stringify({
      server: fake.url,
      enrollmentToken: "enroll-me",
      stateDir: path.join(dir, "state"),
      machineId: "bench-1",
      backend: "sim",
      logLevel: "warn",
      healthGraceSeconds: 5,
      sim: { stageSeconds: 8, rebootSeconds: 2 },
    }),
  );

  const baseline = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  const agent = spawn(process.execPath, [bundle, "run"], { env: { ...process.env, ORCHARD_AGENT_CONFIG: configFile }, stdio: "inherit" });
  try {
    const started = performance.now();
    await eventually(() => fake.machines.get("bench-1")?.checkins.length, 30_000, "the agent's first check-in");
    const firstCheckinMs = Math.round(performance.now() - started);
    // Settled after start-up (module loading, enrollment).
    await new Promise((resolve) => setTimeout(resolve, 2000));

    const [idle, baselineIdle] = await Promise.all([measure(agent.pid!, idleSeconds), measure(baseline.pid!, idleSeconds)]);

    const next = release("2026.11.1");
    fake.desired = next;
    const updated = eventually(
      () => fake.machine("bench-1").checkins.at(-1)?.update.state === "succeeded",
      120_000,
      "the update to succeed",
    );
    const [update, baselineUpdate] = await Promise.all([measure(agent.pid!, updated), measure(baseline.pid!, updated)]);

    const table = {
      firstCheckinMs,
      bundleKB: Math.round(readFileSync(bundle).length / 1024),
      idle,
      update,
      baseline: { idle: baselineIdle, update: baselineUpdate },
      idleRssRatioToBaseline: round(idle.rssMB / baselineIdle.rssMB, 2),
    };
    printTable(table, idleSeconds);
    return table;
  } finally {
    await Promise.all([stop(agent), stop(baseline)]);
    await fake.close();
  }
}

function printTable(t: { firstCheckinMs: number; bundleKB: number; idle: Usage; update: Usage; baseline: { idle: Usage; update: Usage } }, idleSeconds: number) {
  const row = (label: string, u: Usage, base: Usage) =>
    console.log(
      `  ${label.padEnd(34)} ${String(u.rssMB).padStart(6)} MB  (peak ${String(u.peakRssMB).padStart(5)})  ${String(u.cpuPercent).padStart(6)} % CPU   ` +
        `bare node: ${base.rssMB} MB, ${base.cpuPercent} % CPU`,
    );
  console.log(`\nAgent (one-file build, sim backend, plain node ${process.version}; check-ins every 1 s; aim: idle under 60 MB RSS)`);
  row(`idle, ${idleSeconds} s`, t.idle, t.baseline.idle);
  row(`during an update, ${t.update.seconds} s`, t.update, t.baseline.update);
  console.log(`  first check-in ${t.firstCheckinMs} ms after start; bundle ${t.bundleKB} KB\n`);
}
