// The fleet simulator: many sim agents in one process, each with its own
// identity, state dir, clock skew and timing, all speaking real HTTP to the
// console. Starts are spread over the first interval, so that a fleet
// started at once does not arrive at once.
import http from "node:http";
import https from "node:https";
import path from "node:path";
import { type UpdateState, updateStates } from "../../../server/protocol/v1.ts";
import { Agent, type AgentExit } from "../agent.ts";
import { SimBackend, type SimOptions, simMachineFile } from "../backends/sim.ts";
import { errorMessage, type Logger } from "../log.ts";
import { jittered, type Random, sleep } from "../timing.ts";
import { reportedState } from "../plan.ts";

export interface FleetGroup {
  /** The enrollment token for this group's agents; null when they all enrolled before. */
  token: string | null;
  count: number;
}

export interface FleetOptions {
  server: string;
  /** Agents in order: the first group's `count` agents use its token, and so on. */
  groups: FleetGroup[];
  /** Each agent keeps its state in `<stateDir>/<machineId>/`. */
  stateDir: string;
  /** Agent i is `<namePrefix>-<i as 4 digits>`, e.g. kiosk-0007. */
  namePrefix: string;
  /** Agents start at random times within this many seconds. */
  intervalSeconds: number;
  /** Each agent's clock is off by a random amount up to this many seconds either way. */
  clockSkewSeconds: number;
  /** The sim machines' knobs; each agent's stage and reboot times vary ±50 % around these. */
  sim: Omit<SimOptions, "file" | "random">;
  healthGraceSeconds: number;
  log: Logger;
  random?: Random;
}

export const SITES = ["ams-1", "fra-1", "lon-1"] as const;

/** Sockets a fleet process keeps open to its console at most (its descriptor limit is 20,000 on our machines). */
export const FLEET_SOCKETS = 1024;

/**
 * Makes the process's agents share at most `max` sockets to the console.
 * Each agent asks one thing at a time, but tens of thousands of them in one
 * process each hold a socket while a busy console is slow to answer, past the
 * process's descriptor limit (EMFILE). Past `max`, a request waits for a
 * socket, and the wait counts in its timeout, as a queue in the network would.
 */
export function shareSockets(max = FLEET_SOCKETS): void {
  http.globalAgent.maxSockets = max;
  https.globalAgent.maxSockets = max;
}

export type MemberStatus = "starting" | "running" | AgentExit | "failed";

export interface FleetStats {
  agents: number;
  byStatus: Record<MemberStatus, number>;
  /** Update states of the agents that have state. */
  byUpdateState: Record<UpdateState, number>;
  /** Totals since the fleet started. */
  checkins: number;
  errors: number;
}

export interface Fleet {
  stats(): FleetStats;
  /** Stops every agent (their state writes finish) and resolves when all have. */
  stop(): Promise<void>;
  /** Resolves when every agent has ended. */
  done: Promise<void>;
}

interface Member {
  machineId: string;
  agent: Agent | null;
  status: MemberStatus;
  /**
   * Stops this agent. Each agent has a signal of its own: its sleeps and
   * requests listen on it, and adding a listener to a signal walks those it
   * has, so one signal for a whole fleet made every start and request cost
   * time in the fleet's size (44 % of a 50,000-agent fleet's CPU).
   */
  stop: AbortController;
}

export function machineIdOf(prefix: string, index: number): string {
  return `${prefix}-${String(index).padStart(4, "0")}`;
}

export function runFleet(options: FleetOptions): Fleet {
  const random = options.random ?? Math.random;
  const members: Member[] = [];
  const runs: Promise<void>[] = [];
  for (const group of options.groups) {
    for (let n = 0; n < group.count; n++) {
      const machineId = machineIdOf(options.namePrefix, members.length);
      const member: Member = { machineId, agent: null, status: "starting", stop: new AbortController() };
      runs.push(runMember(options, member, members.length, group.token, random));
      members.push(member);
    }
  }
  const done = Promise.all(runs).then(() => {});
  return {
    stats: () => statsOf(members),
    stop: async () => {
      for (const member of members) member.stop.abort();
      await done;
    },
    done,
  };
}

async function runMember(
  options: FleetOptions,
  member: Member,
  index: number,
  token: string | null,
  random: Random,
) {
  const signal = member.stop.signal;
  const log = options.log.child(member.machineId);
  try {
    await sleep(random() * options.intervalSeconds, signal);
    const stateDir = path.join(options.stateDir, member.machineId);
    const backend = await SimBackend.open({
      ...options.sim,
      stageSeconds: jittered(options.sim.stageSeconds, random, 0.5),
      rebootSeconds: jittered(options.sim.rebootSeconds, random, 0.5),
      file: simMachineFile(stateDir),
      random,
    });
    const skewMs = (2 * random() - 1) * options.clockSkewSeconds * 1000;
    const agent = new Agent({
      stateDir,
      backend,
      health: backend,
      log,
      enrollment: token
        ? {
            server: options.server,
            token,
            machineId: member.machineId,
            hostname: member.machineId,
            labels: { site: SITES[index % SITES.length], sim: "true" },
          }
        : undefined,
      timing: { healthGraceSeconds: options.healthGraceSeconds },
      // Sim machines keep the apps their answers list; an app's checks get the OS health grace.
      apps: { driver: backend, checks: backend, timing: { graceSeconds: options.healthGraceSeconds } },
      now: () => new Date(Date.now() + skewMs),
      random,
    });
    member.agent = agent;
    member.status = "running";
    member.status = await agent.run(signal);
  } catch (error) {
    if (signal.aborted && member.status === "starting") {
      member.status = "stopped";
      return;
    }
    member.status = "failed";
    log.error(errorMessage(error));
  }
}

function statsOf(members: Member[]): FleetStats {
  const byStatus: Record<MemberStatus, number> = {
    starting: 0,
    running: 0,
    stopped: 0,
    retired: 0,
    refused: 0,
    halted: 0,
    failed: 0,
  };
  const byUpdateState = Object.fromEntries(updateStates.map((s) => [s, 0])) as Record<UpdateState, number>;
  let checkins = 0;
  let errors = 0;
  for (const member of members) {
    byStatus[member.status]++;
    const state = member.agent?.state;
    if (state) byUpdateState[reportedState(state.update.phase)]++;
    checkins += member.agent?.counters.checkins ?? 0;
    errors += member.agent?.counters.errors ?? 0;
  }
  return { agents: members.length, byStatus, byUpdateState, checkins, errors };
}
