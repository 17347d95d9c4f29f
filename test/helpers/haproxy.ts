// HAProxy in front of console processes (deploy/haproxy/haproxy.cfg, Debian's
// haproxy), and what the tests behind it read from each process.
import type { ChildProcess } from "node:child_process";
import type { ConsoleProcess } from "./console-process";

/** Agent requests a console process answered, from its own /metrics (not through HAProxy). */
export async function agentRequests(slot: ConsoleProcess, metricsToken: string): Promise<number> {
  const text = await (await fetch(`${slot.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith("orchard_agent_requests_total{"))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

/** Stops HAProxy (SIGTERM) and waits until it has exited; nothing if it is not running. */
export async function stopHaproxy(haproxy: ChildProcess | null) {
  if (!haproxy || haproxy.exitCode !== null || haproxy.signalCode !== null) return;
  const exited = new Promise((resolve) => haproxy.once("exit", resolve));
  haproxy.kill("SIGTERM");
  await exited;
}
