// The pure half of Orchard's Cincinnati for Zincati: what a node's graph
// request reports (its update state, inferred from the console's answer and
// what it booted), and the graph it is answered: its booted release and, only
// when the console's answer is to move now, the release it should run, with
// one edge. The answer itself is the one our agent gets (agents/desired.ts),
// never re-derived here.
import { answerTo, type MachineView, type RingView } from "../agents/desired";
import type { DesiredDeployment, InFlightDirective } from "../protocol/v1";
import { isCancellableUpdate } from "../vocabulary";
import { AGE_INDEX_KEY, type Graph, type GraphNode, SCHEME_KEY } from "./protocol";

/** A release as the graph shows it: `ageIndex` is its registration order (a branch's releases oldest first). */
export interface GraphRelease {
  checksum: string;
  version: string;
  ageIndex: number;
}

/** The update state a node's request leaves it in (Zincati says only what it booted). */
export interface NodeState {
  state: "idle" | "downloading" | "staged" | "rebooting";
  target: string | null;
}

/**
 * What a graph request tells of the node: it booted `booted`. Answered an
 * update it was not yet working on, it is downloading it (Zincati stages an
 * update as soon as the graph offers one); already on its way (staged,
 * rebooting) or held by a paused rollout, it stays where it was; otherwise
 * (arrived, cancelled, nothing to do) it is idle.
 */
export function stateAfterGraph(machine: MachineView, ring: RingView | null, booted: string, at: Date | null): NodeState {
  const now = { ...machine, bootedChecksum: booted };
  const answer = answerTo(now, ring, at);
  // On its way and not yet booted it: downloading, staged or rebooting.
  const busy = isCancellableUpdate(machine.updateState);
  const keep = { state: machine.updateState as NodeState["state"], target: machine.updateTarget };
  if (answer.hold) return busy && machine.updateTarget === answer.hold.checksum ? keep : { state: "idle", target: null };
  if (answer.action === "none" || !answer.desired) return { state: "idle", target: null };
  const target = answer.desired.checksum;
  return busy && machine.updateTarget === target ? keep : { state: "downloading", target };
}

/** The node's move, if the console's answer is one Zincati may take now: update or roll back, not held. */
export function edgeOf(answer: { action: string; desired: DesiredDeployment | null; hold: InFlightDirective | null }): DesiredDeployment | null {
  return answer.action !== "none" && answer.desired && !answer.hold ? answer.desired : null;
}

function node(version: string, checksum: string, ageIndex: number): GraphNode {
  return { version, payload: checksum, metadata: { [SCHEME_KEY]: "checksum", [AGE_INDEX_KEY]: String(ageIndex) } };
}

/**
 * The graph for one node: its booted release (a release Orchard does not
 * know is shown with age index 0 and its own version, so that Zincati finds
 * itself), and the target with one edge to it. Versions are unique in a
 * graph, as Cincinnati requires.
 */
export function graphFor(booted: { checksum: string; version: string | null; release: GraphRelease | null }, target: GraphRelease | null): Graph {
  const bootedVersion = booted.release?.version ?? (booted.version || booted.checksum);
  const ageIndex = booted.release?.ageIndex ?? 0;
  if (!target || target.checksum === booted.checksum) return { nodes: [node(bootedVersion, booted.checksum, ageIndex)], edges: [] };
  const version = bootedVersion === target.version ? `${bootedVersion}+${booted.checksum.slice(0, 12)}` : bootedVersion;
  return { nodes: [node(version, booted.checksum, ageIndex), node(target.version, target.checksum, target.ageIndex)], edges: [[0, 1]] };
}

/** Zincati takes an edge to a lower age index only with `[updates] allow_downgrade = true`. */
export function isDowngrade(booted: GraphRelease | null, target: GraphRelease): boolean {
  return booted !== null && target.ageIndex <= booted.ageIndex;
}
