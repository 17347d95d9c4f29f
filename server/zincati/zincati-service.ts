// Zincati nodes as Orchard machines: the console's side of Cincinnati
// (GET …/v1/graph) and FleetLock (POST …/v1/pre-reboot, …/v1/steady-state)
// for Fedora CoreOS's own updater. A node is a machine (machine id =
// node_uuid), enrolled at its first request through the enrollment token in
// the URL (the token's ring, uses, expiry and revocation, audited as any
// enrollment). A graph request is its check-in, written through the agent
// service's check-in; the reboot lock is the agent's reboot slot. The answer
// it acts on is the one our agent would get.
import type { AgentService, MachineEntry } from "../agents/agent-service";
import type { Clock } from "../clock";
import type { Database } from "../db/client";
import { isLiveEnrollmentToken } from "../enrollment/enrollment-tokens";
import { AppError } from "../errors";
import type { Logger } from "../logger";
import type { CheckinRequest, CheckinResponse } from "../protocol/v1";
import { edgeOf, type GraphRelease, graphFor, isDowngrade, type NodeState, stateAfterGraph } from "./graph";
import { type FleetLockBody, type Graph, type GraphQuery, ZincatiError } from "./protocol";

export const ZINCATI_AGENT_VERSION = "zincati";

/** What a node reports about itself on a request (the graph's query says more than FleetLock's body). */
interface NodeFacts {
  nodeId: string;
  group: string;
  stream?: string;
  platform?: string;
  basearch?: string;
  osVersion?: string;
}

/** What refuses a request, from the domain's errors, for the handler (server/http/zincati-handler.ts). */
export function zincatiErrorOf(error: AppError): ZincatiError {
  switch (error.code) {
    case "INVALID":
    case "CONFLICT":
      return new ZincatiError(400, "bad_request", error.message);
    case "UNAUTHORIZED":
      return new ZincatiError(401, "unknown_token", error.message);
    case "FORBIDDEN":
      return new ZincatiError(403, "forbidden", error.message);
    case "GONE":
      return new ZincatiError(410, "machine_retired", error.message);
    case "NOT_FOUND":
      return new ZincatiError(404, "not_found", error.message);
    case "UNAVAILABLE":
      return new ZincatiError(503, "unavailable", error.message, { "retry-after": "10" });
  }
}

export class ZincatiService {
  constructor(
    private readonly db: Database,
    private readonly agents: AgentService,
    private readonly options: { clock: Clock; log: Logger },
  ) {}

  /** The token in the URL: a live enrollment token (see isLiveEnrollmentToken). */
  private async checkToken(token: string) {
    if (!(await isLiveEnrollmentToken(this.db, token))) throw new ZincatiError(401, "unknown_token", "unknown or revoked enrollment token in the URL");
  }

  /** The node's machine, enrolled through the token at its first request. */
  private async nodeOf(token: string, facts: NodeFacts): Promise<MachineEntry> {
    await this.checkToken(token);
    let found = await this.agents.machineByMachineId(facts.nodeId);
    if (found && found.backend !== "zincati") {
      throw new ZincatiError(403, "forbidden", `machine ${facts.nodeId} is updated by Orchard's agent (backend ${found.backend}), not by Zincati`);
    }
    if (found?.retired && !found.reenrollAllowed) {
      throw new ZincatiError(410, "machine_retired", `node ${facts.nodeId} was retired in the console; an operator may allow it back (allow re-enrollment)`);
    }
    if (!found?.entry || found.retired) {
      const labels: Record<string, string> = {};
      if (facts.stream) labels.stream = facts.stream;
      if (facts.platform) labels.platform = facts.platform;
      const reply = await this.agents.enroll(`Bearer ${token}`, {
        machineId: facts.nodeId,
        hostname: facts.nodeId,
        backend: "zincati",
        agentVersion: ZINCATI_AGENT_VERSION,
        os: { versionId: facts.osVersion, arch: facts.basearch },
        labels,
        // FleetLock's reboot group is the node's to choose: a ring that counts slots per "group" counts them per Zincati group.
        updaterLabels: { group: facts.group },
      });
      this.options.log.info({ machineId: facts.nodeId, ring: reply.body.ring, group: facts.group }, reply.status === 201 ? "Zincati node enrolled" : "Zincati node enrolled again");
      found = await this.agents.machineByMachineId(facts.nodeId);
      if (!found?.entry) throw new ZincatiError(503, "unavailable", "the node's enrollment is not visible yet; retry later", { "retry-after": "10" });
    }
    return found.entry;
  }

  /**
   * Writes what the node reported through the check-in (seq rule, timeline,
   * state version for the controller) and returns the console's answer.
   */
  private report(machine: MachineEntry, booted: { checksum: string; version: string | null; ref: string } | null, node: NodeState, error: string | null): Promise<Omit<CheckinResponse, "serverTime"> & { serverTime: string }> {
    const body: CheckinRequest = {
      // Zincati counts nothing: the console counts for it (the timeline's number of check-ins). Two
      // requests of one node at once: one is applied, the other answered from the row (the seq rule).
      seq: machine.lastSeq + 1,
      sentAt: this.options.clock.now().toISOString(),
      bootId: null,
      agentVersion: ZINCATI_AGENT_VERSION,
      deployments: booted ? [{ ...booted, booted: true, staged: false, pinned: false }] : [],
      update: { state: node.state, targetChecksum: node.target, progress: null, error },
      health: { status: "unknown", checks: [] },
    };
    return this.agents.checkin(machine, body);
  }

  /** Releases by checksum, preferring the ring's branch, with their age index (registration order). */
  private async releases(checksums: string[], ringId: string | null): Promise<Map<string, GraphRelease & { ref: string }>> {
    const { rows } = await this.db.agent.pool.query<{ checksum: string; version: string; seq: number; ref: string }>(
      `SELECT DISTINCT ON (r.checksum) r.checksum, r.version, r.seq, b.ref
         FROM releases r JOIN branches b ON b.id = r.branch_id
        WHERE r.checksum = ANY($1::text[])
        ORDER BY r.checksum, (r.branch_id = (SELECT branch_id FROM rings WHERE id = $2)) DESC NULLS LAST, r.seq DESC`,
      [checksums, ringId],
    );
    return new Map(rows.map((r) => [r.checksum, { checksum: r.checksum, version: r.version, ageIndex: r.seq, ref: r.ref }]));
  }

  /** GET …/v1/graph: the node checks in; its graph lets it move only where the console wants it now. */
  async graph(token: string, query: GraphQuery): Promise<Graph> {
    const facts: NodeFacts = {
      nodeId: query.node_uuid,
      group: query.group ?? "default",
      stream: query.stream,
      platform: query.platform,
      basearch: query.basearch,
      osVersion: query.os_version,
    };
    const machine = await this.nodeOf(token, facts);
    const ring = await this.agents.ringViewOf(machine.ringId);
    const next = stateAfterGraph(machine, ring, query.os_checksum, this.options.clock.now());
    const known = await this.releases([query.os_checksum, ...(next.target ? [next.target] : [])], machine.ringId);
    const bootedRelease = known.get(query.os_checksum) ?? null;
    const headed = next.target ? known.get(next.target) : undefined;
    const downgrade = next.state === "downloading" && headed && isDowngrade(bootedRelease, headed);
    const answer = await this.report(
      machine,
      {
        checksum: query.os_checksum,
        version: query.os_version || bootedRelease?.version || null,
        ref: bootedRelease?.ref ?? `fedora/${query.basearch}/coreos/${query.stream}`,
      },
      next,
      downgrade ? `${headed.version} is older than the booted ${bootedRelease?.version}: Zincati takes it only with [updates] allow_downgrade = true` : null,
    );
    const edge = edgeOf(answer);
    let target: GraphRelease | null = null;
    if (edge) {
      target = known.get(edge.checksum) ?? (await this.releases([edge.checksum], machine.ringId)).get(edge.checksum) ?? null;
      // A rollback to a deployment Orchard has no release of (a machine's previous one): still a move, the oldest there is.
      target ??= { checksum: edge.checksum, version: edge.version ?? edge.checksum, ageIndex: 0 };
    }
    return graphFor({ checksum: query.os_checksum, version: query.os_version ?? null, release: bootedRelease }, target);
  }

  /**
   * POST …/v1/pre-reboot (FleetLock's RecursiveLock): one of the ring's
   * reboot slots (per failure domain), only for the reboot the console wants
   * now, the update the node was given; asking again while holding it renews it.
   */
  async preReboot(token: string, body: FleetLockBody): Promise<{ granted: true; expiresAt: string }> {
    const machine = await this.nodeOf(token, { nodeId: body.client_params.id, group: body.client_params.group });
    const reply = await this.agents.acquireRebootSlot(machine, {});
    const target = machine.updateTarget;
    if (reply.status === 200 && reply.body.granted) {
      await this.reportState(machine, "rebooting");
      return { granted: true, expiresAt: reply.body.expiresAt };
    }
    const reason = reply.body.granted ? "ring_full" : (reply.body.reason ?? "ring_full");
    const retry = reply.body.granted ? "30" : String(reply.body.retryAfterSeconds);
    if (reason === "not_wanted") {
      throw new ZincatiError(409, "reboot_not_wanted", `the console does not want node ${machine.machineId} to reboot now${target ? ` into ${target.slice(0, 12)}` : " (it was given no update)"}`, { "retry-after": retry });
    }
    // It asks to reboot: it staged the update it was given.
    if (machine.updateState === "downloading") await this.reportState(machine, "staged");
    if (reason === "held") throw new ZincatiError(409, "rollout_held", `the rollout of node ${machine.machineId}'s update is paused; it keeps the update staged`, { "retry-after": retry });
    throw new ZincatiError(409, "failed_lock_semaphore_full", "every reboot slot of the node's ring (or reboot group) is taken", { "retry-after": retry });
  }

  /** Moves the node on its way to the update it was given (staged, rebooting), keeping what it booted. */
  private async reportState(machine: MachineEntry, state: "staged" | "rebooting") {
    if (!machine.updateTarget || machine.bootedChecksum === machine.updateTarget) return;
    const { rows } = await this.db.agent.pool.query<{ booted_version: string | null; booted_ref: string | null; update_error: string | null }>(
      "SELECT booted_version, booted_ref, update_error FROM machines WHERE id = $1",
      [machine.id],
    );
    const row = rows[0];
    const booted = machine.bootedChecksum && row?.booted_ref ? { checksum: machine.bootedChecksum, version: row.booted_version, ref: row.booted_ref } : null;
    await this.report(machine, booted, { state, target: machine.updateTarget }, row?.update_error ?? null);
  }

  /** POST …/v1/steady-state (FleetLock's UnlockIfHeld): gives back the node's reboot slot, if it holds one. */
  async steadyState(token: string, body: FleetLockBody): Promise<{ released: boolean }> {
    const machine = await this.nodeOf(token, { nodeId: body.client_params.id, group: body.client_params.group });
    return this.agents.releaseRebootSlot(machine);
  }
}
