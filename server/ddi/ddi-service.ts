// hawkBit DDI devices as Orchard machines: the console's side of the DDI
// controller API for SWUpdate's suricatta (and any DDI client). A device is a
// machine (machine id = controller id, backend `swupdate`), enrolled at its
// first request with a gateway token: an enrollment token of its ring (its
// uses, expiry and revocation, audited as any enrollment). Its target token
// is a machine token of its own, issued by an operator (ddi/target-tokens.ts).
// Every request is a check-in through the agent service's check-in (seq rule,
// timeline, state version for the controller), so waves, gates and dark
// deadlines treat it as our agent; the answer it acts on is the one our agent
// would get (ddi/mapping.ts says how it maps).
import type { AgentService, MachineEntry } from "../agents/agent-service";
import { answerTo } from "../agents/desired";
import { tokenKind } from "../auth/tokens";
import type { Actor } from "../audit/audit";
import type { Clock } from "../clock";
import type { Database } from "../db/client";
import { isLiveEnrollmentToken } from "../enrollment/enrollment-tokens";
import { AppError } from "../errors";
import type { Logger } from "../logger";
import { setMachineLabels } from "../machines/machines";
import { labelKeySchema, type CheckinRequest } from "../protocol/v1";
import { type WindowPolicy, windowOpen } from "../rollouts/windows";
import { type DeviceReport, type Offer, offerFor, sleepOf, stateAfterCancelFeedback, stateAfterDeploymentFeedback, stateAfterDeploymentFetch } from "./mapping";
import { type CancelAction, type ConfigData, type ControllerBase, type DdiArtifact, DdiError, type DeploymentBase, type Feedback, badRequest } from "./protocol";

export const DDI_AGENT_VERSION = "ddi";

/** How the device authenticated: `GatewayToken <enrollment token>` or `TargetToken <its machine token>`. */
export interface DdiCredential {
  kind: "gateway" | "target";
  token: string;
}

/** The request's place: tenant and controller id, and the URL the links are built on (`http://host/ddi`). */
export interface DdiTarget {
  tenant: string;
  controllerId: string;
  base: string;
}

/** A release as an action: its registration number is the action id. */
interface ActionRelease {
  id: string;
  seq: number;
  checksum: string;
  version: string;
  ref: string;
}

/** What refuses a request, from the domain's errors, for the handler (server/http/ddi-handler.ts). */
export function ddiErrorOf(error: AppError): DdiError {
  switch (error.code) {
    case "INVALID":
    case "CONFLICT":
      return new DdiError(400, "orchard.ddi.badRequest", error.message, error.field);
    case "UNAUTHORIZED":
      return new DdiError(401, "orchard.ddi.unauthorized", error.message);
    case "FORBIDDEN":
      return new DdiError(403, "orchard.ddi.forbidden", error.message);
    case "GONE":
      return new DdiError(410, "orchard.ddi.retired", error.message);
    case "NOT_FOUND":
      return new DdiError(404, "orchard.ddi.notFound", error.message);
    case "UNAVAILABLE":
      return new DdiError(503, "orchard.ddi.unavailable", error.message, undefined, { "retry-after": "10" });
  }
}

/** The protocol's spelling of an update state (`rolled-back`). */
function protocolState(state: string): CheckinRequest["update"]["state"] {
  return (state === "rolled_back" ? "rolled-back" : state) as CheckinRequest["update"]["state"];
}

export class DdiService {
  constructor(
    private readonly db: Database,
    private readonly agents: AgentService,
    private readonly options: { clock: Clock; log: Logger },
  ) {}

  /** A gateway token: an enrollment token, not revoked (an expired or used-up one still serves the devices it enrolled). */
  private async checkGatewayToken(token: string) {
    if (!(await isLiveEnrollmentToken(this.db, token))) {
      throw new DdiError(401, "orchard.ddi.unauthorized", "unknown or revoked gateway token (an enrollment token of the device's ring)");
    }
  }

  /** The device's machine: by its target token, or by a gateway token (enrolled into the token's ring at its first request). */
  async deviceOf(credential: DdiCredential, target: DdiTarget): Promise<MachineEntry> {
    const id = target.controllerId;
    if (credential.kind === "target") {
      if (tokenKind(credential.token) !== "machine") throw new DdiError(401, "orchard.ddi.unauthorized", "unknown target token");
      const entry = await this.agents.authenticate(`Bearer ${credential.token}`);
      if (entry.machineId !== id) throw new DdiError(403, "orchard.ddi.forbidden", `this target token is not controller ${id}'s`);
      const found = await this.agents.machineByMachineId(id);
      if (found?.backend !== "swupdate") throw new DdiError(403, "orchard.ddi.forbidden", `machine ${id} is not updated over DDI (backend ${found?.backend})`);
      return found.entry ?? entry;
    }
    await this.checkGatewayToken(credential.token);
    let found = await this.agents.machineByMachineId(id);
    if (found && found.backend !== "swupdate") {
      throw new DdiError(403, "orchard.ddi.forbidden", `machine ${id} is updated by ${found.backend === "zincati" ? "Zincati" : `Orchard's agent (backend ${found.backend})`}, not over DDI`);
    }
    if (found?.retired && !found.reenrollAllowed) {
      throw new DdiError(410, "orchard.ddi.retired", `controller ${id} was retired in the console; an operator may allow it back (allow re-enrollment)`);
    }
    if (!found?.entry || found.retired) {
      const reply = await this.agents.enroll(`Bearer ${credential.token}`, {
        machineId: id,
        hostname: id,
        backend: "swupdate",
        agentVersion: DDI_AGENT_VERSION,
        labels: {},
      });
      this.options.log.info({ machineId: id, ring: reply.body.ring }, reply.status === 201 ? "DDI device enrolled" : "DDI device enrolled again");
      found = await this.agents.machineByMachineId(id);
      if (!found?.entry) throw new DdiError(503, "orchard.ddi.unavailable", "the device's enrollment is not visible yet; retry later", undefined, { "retry-after": "10" });
    }
    return found.entry;
  }

  /** What the device runs, as its row holds it (ref and version for the check-in's deployment). */
  private async bootedOf(machine: MachineEntry): Promise<{ checksum: string; version: string | null; ref: string } | null> {
    if (!machine.bootedChecksum) return null;
    const { rows } = await this.db.agent.pool.query<{ booted_version: string | null; booted_ref: string | null }>(
      "SELECT booted_version, booted_ref FROM machines WHERE id = $1",
      [machine.id],
    );
    const row = rows[0];
    if (row?.booted_ref) return { checksum: machine.bootedChecksum, version: row.booted_version, ref: row.booted_ref };
    const release = (await this.releasesByChecksum([machine.bootedChecksum], machine.ringId)).get(machine.bootedChecksum);
    return release ? { checksum: release.checksum, version: release.version, ref: release.ref } : null;
  }

  /** Writes what the device reported through the check-in and returns the console's answer. */
  private async report(machine: MachineEntry, report: DeviceReport | null) {
    let booted = await this.bootedOf(machine);
    let error: string | null = null;
    if (report) {
      error = report.error;
      if (report.booted && report.booted !== booted?.checksum) {
        const release = (await this.releasesByChecksum([report.booted], machine.ringId)).get(report.booted);
        booted = release ? { checksum: release.checksum, version: release.version, ref: release.ref } : null;
      }
    } else if (machine.updateState === "failed") {
      const { rows } = await this.db.agent.pool.query<{ update_error: string | null }>("SELECT update_error FROM machines WHERE id = $1", [machine.id]);
      error = rows[0]?.update_error ?? null;
    }
    const body: CheckinRequest = {
      // A DDI client counts nothing: the console counts for it (two requests at once: one applies, the other is answered from the row).
      seq: machine.lastSeq + 1,
      sentAt: this.options.clock.now().toISOString(),
      bootId: null,
      agentVersion: DDI_AGENT_VERSION,
      deployments: booted ? [{ ...booted, booted: true, staged: false, pinned: false }] : [],
      update: {
        state: protocolState(report?.state ?? machine.updateState),
        targetChecksum: report ? report.target : machine.updateTarget,
        progress: null,
        error,
      },
      health: { status: "unknown", checks: [] },
    };
    return this.agents.checkin(machine, body);
  }

  /** Releases by checksum, preferring the ring's branch. */
  private async releasesByChecksum(checksums: string[], ringId: string | null): Promise<Map<string, ActionRelease>> {
    const { rows } = await this.db.agent.pool.query<ActionRelease>(
      `SELECT DISTINCT ON (r.checksum) r.id, r.seq, r.checksum, r.version, b.ref
         FROM releases r JOIN branches b ON b.id = r.branch_id
        WHERE r.checksum = ANY($1::text[])
        ORDER BY r.checksum, (r.branch_id = (SELECT branch_id FROM rings WHERE id = $2)) DESC NULLS LAST, r.seq DESC`,
      [checksums, ringId],
    );
    return new Map(rows.map((r) => [r.checksum, r]));
  }

  private async releaseBySeq(seq: number): Promise<ActionRelease | null> {
    const { rows } = await this.db.agent.pool.query<ActionRelease>(
      "SELECT r.id, r.seq, r.checksum, r.version, b.ref FROM releases r JOIN branches b ON b.id = r.branch_id WHERE r.seq = $1",
      [seq],
    );
    return rows[0] ?? null;
  }

  /** What the device is offered now, from the console's answer to it. */
  private async offerOf(machine: MachineEntry): Promise<Offer> {
    const ring = await this.agents.ringViewOf(machine.ringId);
    return offerFor(machine, answerTo(machine, ring, this.options.clock.now()));
  }

  /** The maintenance window of the device's ring: available inside it, unavailable outside; none when the ring has none. */
  private async maintenanceOf(machine: MachineEntry): Promise<"available" | "unavailable" | undefined> {
    if (!machine.ringId) return undefined;
    const { rows } = await this.db.agent.pool.query<{ time_zone: string; maintenance_windows: WindowPolicy["windows"]; blackout_dates: string[] }>(
      "SELECT time_zone, maintenance_windows, blackout_dates FROM rings WHERE id = $1",
      [machine.ringId],
    );
    const ring = rows[0];
    if (!ring || (ring.maintenance_windows.length === 0 && ring.blackout_dates.length === 0)) return undefined;
    const policy = { timeZone: ring.time_zone, windows: ring.maintenance_windows, blackoutDates: ring.blackout_dates };
    return windowOpen(policy, this.options.clock.now()) ? "available" : "unavailable";
  }

  private controllerUrl(target: DdiTarget) {
    return `${target.base}/${encodeURIComponent(target.tenant)}/controller/v1/${encodeURIComponent(target.controllerId)}`;
  }

  /** GET /{tenant}/controller/v1/{controllerId}: the device checks in; it is told when to poll again and what to do. */
  async poll(credential: DdiCredential, target: DdiTarget): Promise<ControllerBase> {
    const machine = await this.deviceOf(credential, target);
    const answer = await this.report(machine, null);
    const offer = await this.offerOf(machine);
    const url = this.controllerUrl(target);
    const links: ControllerBase["_links"] = {};
    // configData only until the device sent its attributes once: SWUpdate sends them instead of installing whenever the link is there.
    const { rows } = await this.db.agent.pool.query<{ ddi_attributes_at: Date | null }>("SELECT ddi_attributes_at FROM machines WHERE id = $1", [machine.id]);
    if (!rows[0]?.ddi_attributes_at) links.configData = { href: `${url}/configData` };
    if (offer.kind !== "none") {
      const release = (await this.releasesByChecksum([offer.checksum], machine.ringId)).get(offer.checksum);
      if (release && offer.kind === "cancel") links.cancelAction = { href: `${url}/cancelAction/${release.seq}` };
      // Outside the ring's maintenance window a device is offered nothing new (SWUpdate does not read the window); an installed one still confirms.
      // A release with no artifact has nothing to install: offered to no DDI device.
      else if (release && (await this.hasArtifacts(release)) && (machine.updateState === "rebooting" || (await this.maintenanceOf(machine)) !== "unavailable")) {
        links.deploymentBase = { href: `${url}/deploymentBase/${release.seq}` };
      }
    }
    if (machine.bootedChecksum) {
      const installed = (await this.releasesByChecksum([machine.bootedChecksum], machine.ringId)).get(machine.bootedChecksum);
      if (installed) links.installedBase = { href: `${url}/installedBase/${installed.seq}` };
    }
    return { config: { polling: { sleep: sleepOf(answer.checkInIntervalSeconds) } }, _links: links };
  }

  /** An action of this device: the release it is offered, works on, or runs; else 404. */
  private async actionOf(machine: MachineEntry, actionId: number, offer: Offer): Promise<ActionRelease> {
    const release = await this.releaseBySeq(actionId);
    const mine = release && [offer.kind !== "none" ? offer.checksum : null, machine.updateTarget, machine.bootedChecksum].includes(release.checksum);
    if (!release || !mine) throw new DdiError(404, "orchard.ddi.notFound", `action ${actionId} is not one of controller ${machine.machineId}'s`, "actionId");
    return release;
  }

  private async hasArtifacts(release: ActionRelease): Promise<boolean> {
    const { rows } = await this.db.agent.pool.query("SELECT 1 FROM release_artifacts WHERE release_id = $1 LIMIT 1", [release.id]);
    return rows.length > 0;
  }

  private async artifactsOf(release: ActionRelease, url: string): Promise<DdiArtifact[]> {
    const { rows } = await this.db.agent.pool.query<{ name: string; size: string; sha256: string; sha1: string; md5: string }>(
      "SELECT name, size, sha256, sha1, md5 FROM release_artifacts WHERE release_id = $1 ORDER BY name",
      [release.id],
    );
    return rows.map((a) => {
      const href = `${url}/softwaremodules/${release.seq}/artifacts/${encodeURIComponent(a.name)}`;
      return {
        filename: a.name,
        size: Number(a.size),
        hashes: { sha1: a.sha1, md5: a.md5, sha256: a.sha256 },
        _links: { download: { href }, "download-http": { href }, md5sum: { href: `${href}.MD5SUM` }, "md5sum-http": { href: `${href}.MD5SUM` } },
      };
    });
  }

  /** GET …/deploymentBase/{actionId}: the release's artifacts as one chunk; fetching it starts the download. */
  async deploymentBase(credential: DdiCredential, target: DdiTarget, actionId: number): Promise<DeploymentBase> {
    const machine = await this.deviceOf(credential, target);
    const offer = await this.offerOf(machine);
    const release = await this.actionOf(machine, actionId, offer);
    const url = this.controllerUrl(target);
    const artifacts = await this.artifactsOf(release, url);
    const offered = offer.kind === "deployment" && offer.checksum === release.checksum;
    if (offered) {
      const next = stateAfterDeploymentFetch(machine, release.checksum);
      if (next) await this.report(machine, next);
    }
    const handling = offer.kind === "deployment" ? offer.handling : "attempt";
    const maintenanceWindow = await this.maintenanceOf(machine);
    return {
      id: String(release.seq),
      deployment: {
        download: handling,
        update: handling,
        ...(maintenanceWindow ? { maintenanceWindow } : {}),
        chunks: [{ part: "os", version: release.version, name: release.ref, artifacts }],
      },
    };
  }

  /** GET …/installedBase/{actionId}: the release the device runs, as a deployment. */
  async installedBase(credential: DdiCredential, target: DdiTarget, actionId: number): Promise<DeploymentBase> {
    const machine = await this.deviceOf(credential, target);
    const release = await this.releaseBySeq(actionId);
    if (!release || release.checksum !== machine.bootedChecksum) throw new DdiError(404, "orchard.ddi.notFound", `action ${actionId} is not what controller ${machine.machineId} runs`, "actionId");
    const artifacts = await this.artifactsOf(release, this.controllerUrl(target));
    return { id: String(release.seq), deployment: { download: "forced", update: "forced", chunks: [{ part: "os", version: release.version, name: release.ref, artifacts }] } };
  }

  /** GET …/cancelAction/{actionId}: the device is to stop the deployment of that release. */
  async cancelAction(credential: DdiCredential, target: DdiTarget, actionId: number): Promise<CancelAction> {
    const machine = await this.deviceOf(credential, target);
    const offer = await this.offerOf(machine);
    const release = await this.actionOf(machine, actionId, offer);
    return { id: String(release.seq), cancelAction: { stopId: String(release.seq) } };
  }

  /** POST …/deploymentBase/{actionId}/feedback: progress, the install, its confirmation, or a failure. */
  async deploymentFeedback(credential: DdiCredential, target: DdiTarget, actionId: number, feedback: Feedback): Promise<void> {
    const machine = await this.deviceOf(credential, target);
    const release = await this.releaseBySeq(actionId);
    if (!release) throw new DdiError(404, "orchard.ddi.notFound", `no action ${actionId}`, "actionId");
    const report = stateAfterDeploymentFeedback(machine, release.checksum, feedback);
    this.options.log.info({ machineId: machine.machineId, action: actionId, execution: feedback.status.execution, finished: feedback.status.result?.finished, state: report.state }, "DDI feedback");
    await this.report(machine, report);
  }

  /** POST …/cancelAction/{actionId}/feedback: the device gave the update up (or refused to). */
  async cancelFeedback(credential: DdiCredential, target: DdiTarget, actionId: number, feedback: Feedback): Promise<void> {
    const machine = await this.deviceOf(credential, target);
    const release = await this.releaseBySeq(actionId);
    if (!release) throw new DdiError(404, "orchard.ddi.notFound", `no action ${actionId}`, "actionId");
    const report = stateAfterCancelFeedback(machine, release.checksum, feedback);
    this.options.log.info({ machineId: machine.machineId, action: actionId, execution: feedback.status.execution, cancelled: report !== null }, "DDI cancel feedback");
    await this.report(machine, report);
  }

  /** PUT …/configData: the device's attributes become its labels (changed ones only, audited); the poll links configData no more. */
  async configData(credential: DdiCredential, target: DdiTarget, body: ConfigData): Promise<void> {
    const machine = await this.deviceOf(credential, target);
    const labels: Record<string, string> = {};
    for (const [key, value] of Object.entries(body.data)) {
      if (!labelKeySchema.safeParse(key).success) throw badRequest(`data.${key}`, "not a label key: letters, digits, dots, dashes, underscores and slashes, at most 63");
      const text = String(value);
      if (text.length > 128) throw badRequest(`data.${key}`, "at most 128 characters");
      labels[key] = text;
    }
    const changed = Object.entries(labels).filter(([key, value]) => machine.labels[key] !== value);
    if (changed.length > 0) {
      const actor: Actor = { id: null, label: `ddi:${machine.machineId}`, role: "operator", rings: null };
      await setMachineLabels(this.db.prisma, actor, { machineId: machine.machineId, set: Object.fromEntries(changed), reason: "configData from the device" });
    }
    await this.db.agent.pool.query("UPDATE machines SET ddi_attributes_at = $2 WHERE id = $1", [machine.id, this.options.clock.now()]);
  }

  /** The artifact file of an action of this device, for serveFile. */
  async artifactFile(credential: DdiCredential, target: DdiTarget, moduleId: number, name: string) {
    const machine = await this.deviceOf(credential, target);
    const offer = await this.offerOf(machine);
    const release = await this.actionOf(machine, moduleId, offer);
    const { rows } = await this.db.agent.pool.query<{ id: string; size: string; sha256: string; md5: string; content_type: string }>(
      "SELECT id, size, sha256, md5, content_type FROM release_artifacts WHERE release_id = $1 AND name = $2",
      [release.id, name],
    );
    const row = rows[0];
    if (!row) throw new DdiError(404, "orchard.ddi.notFound", `no artifact ${name} in release ${release.version}`, "fileName");
    return { id: row.id, size: Number(row.size), sha256: row.sha256, md5: row.md5, contentType: row.content_type, name };
  }
}

