// Machines that speak the agent protocol over HTTP in a test's own hands: the
// test decides, check-in by check-in, what each machine reports and how it
// acts on the console's answer (no agent process, no timers).
import { expect } from "vitest";
import { call, enrollBody } from "./agent-http";
import { enrollmentToken, type TestConsole } from "./console";

export const REF = "exampleos/x86_64/stable";

export interface SimMachine {
  machineId: string;
  token: string;
  seq: number;
  booted: string;
  previous: string | null;
  state: string;
  target: string | null;
  health: string;
  error: string | null;
  bootId: string;
}

export interface CheckinAnswer {
  action: string;
  desired: { ref?: string; checksum: string; version: string | null; allowDowngrade?: boolean } | null;
  hold: { checksum: string; reason: string } | null;
  cancel: { checksum: string; reason: string } | null;
  checkInIntervalSeconds: number;
}

/** How a simulated machine reacts to being sent a release. */
export type Behaviour = "succeed" | "roll-back" | "go-dark" | "stage";

/** Version names of the test's releases, by checksum (1…1 is "1"). */
const versionOf = (checksum: string) => (/^(\d)\1{63}$/.test(checksum) ? checksum[0] : "prev");

export class SimFleet {
  /** The ref each checksum was built on (REF unless a test says otherwise): what machines report booting. */
  readonly refs = new Map<string, string>();

  constructor(private readonly app: TestConsole) {}

  private refOf(checksum: string) {
    return this.refs.get(checksum) ?? REF;
  }

  async checkin(m: SimMachine): Promise<CheckinAnswer> {
    m.seq++;
    const deployment = (checksum: string, booted: boolean) => ({ checksum, ref: this.refOf(checksum), version: versionOf(checksum), booted });
    const deployments = [deployment(m.booted, true)];
    if (m.state === "staged" && m.target && m.target !== m.booted) deployments.unshift(deployment(m.target, false));
    if (m.previous && m.previous !== m.booted) deployments.push(deployment(m.previous, false));
    const res = await call<CheckinAnswer>(this.app.url, "POST", "/checkin", {
      token: m.token,
      body: {
        seq: m.seq,
        sentAt: new Date().toISOString(),
        bootId: m.bootId,
        agentVersion: "1.1.0",
        deployments,
        update: { state: m.state, targetChecksum: m.target, progress: null, error: m.error },
        health: { status: m.health, checks: [] },
      },
    });
    expect(res.status).toBe(200);
    return res.body;
  }

  /** Asks for a reboot slot to boot `checksum` (a 1.1 agent names it). */
  async rebootLock(m: SimMachine, checksum = m.target ?? undefined) {
    return call<{ granted: boolean; reason?: string }>(this.app.url, "POST", "/reboot-lock", { token: m.token, body: checksum ? { checksum } : {} });
  }

  /** Boots `target`: a new boot id, the old deployment kept as the rollback. */
  boot(m: SimMachine, target: string) {
    [m.previous, m.booted] = [m.booted, target];
    m.bootId = `${m.machineId}-${m.seq}`;
  }

  /** One round: every machine checks in and acts on the answer at once (a "stage" machine stops at staged). */
  async round(machines: SimMachine[], behaviour: (m: SimMachine) => Behaviour = () => "succeed") {
    for (const m of [...machines]) {
      const answer = await this.checkin(m);
      if (answer.cancel && answer.cancel.checksum === m.target && m.booted !== m.target) {
        m.state = "idle";
        await this.checkin(m);
        continue;
      }
      if (answer.hold || answer.action === "none" || !answer.desired) continue;
      const target = answer.desired.checksum;
      if (answer.action === "rollback") {
        this.boot(m, target);
        m.state = "succeeded";
        m.target = target;
        await this.checkin(m);
        continue;
      }
      if (m.state === "rolled-back" && m.target === target) continue; // denylisted on the machine
      const how = behaviour(m);
      if (how === "go-dark") {
        m.state = "rebooting";
        m.target = target;
        await this.checkin(m);
        machines.splice(machines.indexOf(m), 1); // never heard from again
      } else if (how === "roll-back") {
        m.state = "rolled-back";
        m.target = target;
        m.error = "health check kiosk-app.service failed: exit 1";
        await this.checkin(m);
      } else if (how === "stage") {
        m.state = "staged";
        m.target = target;
        await this.checkin(m);
      } else {
        this.boot(m, target);
        m.state = "succeeded";
        m.target = target;
        m.error = null;
        await this.checkin(m);
      }
    }
  }

  /** `count` machines enrolled into `ring`, booted on `booted`, each checked in once. */
  async enroll(ring: string, count: number, booted: string, prefix = ring): Promise<SimMachine[]> {
    const token = await enrollmentToken(this.app, { ring });
    const machines: SimMachine[] = [];
    for (let i = 0; i < count; i++) {
      const machineId = `${prefix}-${String(i).padStart(3, "0")}`;
      const res = await call<{ token: string }>(this.app.url, "POST", "/enroll", { token, body: enrollBody(machineId) });
      const m: SimMachine = {
        machineId,
        token: res.body.token,
        seq: 0,
        booted,
        previous: null,
        state: "idle",
        target: null,
        health: "healthy",
        error: null,
        bootId: `${machineId}-boot`,
      };
      await this.checkin(m);
      machines.push(m);
    }
    return machines;
  }
}
