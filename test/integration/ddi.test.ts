// The DDI controller API against a real console on real PostgreSQL, spoken
// over plain HTTP the way hawkBit's clients speak it (the whole install is
// tested with the real SWUpdate in ddi-swupdate.test.ts): tokens (gateway
// and target), what the poll links, artifacts with HEAD and Range, configData
// as labels, installedBase, and bad input named by its field, never a 500.
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifactsDir, storeArtifact } from "../../server/artifacts/artifacts";
import { cliActor } from "../../server/audit/audit";
import { issueTargetToken } from "../../server/ddi/target-tokens";
import { revokeEnrollmentToken } from "../../server/enrollment/enrollment-tokens";
import { hashToken } from "../../server/auth/tokens";
import { allowReenroll, getMachine, retireMachine } from "../../server/machines/machines";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { brakeRelease, startRollout } from "../../server/rollouts/rollouts";
import { call, enrollBody, hex } from "../helpers/agent-http";
import { enrollmentToken, startTestConsole, type TestConsole } from "../helpers/console";

const REF = "acme/ddi/stable";
const SWU = Buffer.from("0123456789".repeat(100));
const SWU_SHA256 = createHash("sha256").update(SWU).digest("hex");
let app: TestConsole;
let withArtifact: { id: string; seq: number };
const db = () => app.db.prisma;

beforeAll(async () => {
  app = await startTestConsole({}, { controller: false });
  await addRelease(db(), cliActor, { ref: REF, checksum: hex("1"), version: "1.0" });
  const r2 = await addRelease(db(), cliActor, { ref: REF, checksum: hex("2"), version: "2.0" });
  await storeArtifact(db(), cliActor, { releaseId: r2.id, name: "update.swu", sha256: SWU_SHA256 }, Readable.from([SWU]), { dir: artifactsDir(app.dataDir), maxBytes: 1 << 20 });
  const seq = (await db().release.findUniqueOrThrow({ where: { id: r2.id }, select: { seq: true } })).seq;
  withArtifact = { id: r2.id, seq };
});

afterAll(async () => {
  await app?.stop();
});

type Auth = { gateway: string } | { target: string } | { raw: string } | null;

async function ddi(method: string, path: string, auth: Auth, body?: unknown, headers: Record<string, string> = {}) {
  const authorization = !auth ? undefined : "raw" in auth ? auth.raw : "gateway" in auth ? `GatewayToken ${auth.gateway}` : `TargetToken ${auth.target}`;
  const res = await fetch(`${app.url}/ddi/DEFAULT/controller/v1${path}`, {
    method,
    headers: { ...(authorization ? { authorization } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = method === "HEAD" ? "" : await res.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read field by field
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, json, text, headers: res.headers };
}

async function ring(name: string, extra: Record<string, unknown> = {}) {
  await createRing(db(), cliActor, { name, branch: REF, checkInIntervalSeconds: 600, ...extra });
  return enrollmentToken(app, { ring: name });
}

const machine = (id: string) => db().machine.findUniqueOrThrow({ where: { machineId: id }, select: { backend: true, ringId: true, labels: true, updateState: true, updateTarget: true, bootedChecksum: true, updateError: true } });

describe("tokens", () => {
  it("enrolls a device at its first request with a gateway token, in the token's ring, audited once", async () => {
    const gateway = await ring("ddi-enroll");
    const poll = await ddi("GET", "/dev-enroll-1", { gateway });
    expect(poll.status).toBe(200);
    expect(poll.json.config.polling.sleep).toBe("00:10:00");
    expect(poll.json._links.configData.href).toMatch(/\/ddi\/DEFAULT\/controller\/v1\/dev-enroll-1\/configData$/);
    expect(await machine("dev-enroll-1")).toMatchObject({ backend: "swupdate", updateState: "idle" });
    expect((await ddi("GET", "/dev-enroll-1", { gateway })).status).toBe(200);
    expect(await db().auditLog.count({ where: { action: "machine.enroll", targetId: "dev-enroll-1" } })).toBe(1);
  });

  it("refuses a request without a token, with a bearer token, or with an unknown one (401 naming Authorization)", async () => {
    await ring("ddi-auth");
    const none = await ddi("GET", "/dev-auth-1", null);
    expect(none).toMatchObject({ status: 401, json: { errorCode: "orchard.ddi.unauthorized", field: "Authorization" } });
    expect((await ddi("GET", "/dev-auth-1", { raw: "Bearer orch_e_x" })).status).toBe(401);
    expect((await ddi("GET", "/dev-auth-1", { gateway: "orch_e_nosuchtoken" })).status).toBe(401);
    expect((await ddi("GET", "/dev-auth-1", { target: "orch_m_nosuchtoken" })).status).toBe(401);
    // A revoked gateway token serves no device, not even one it enrolled.
    const gateway = await ring("ddi-revoked");
    expect((await ddi("GET", "/dev-auth-2", { gateway })).status).toBe(200);
    const { id } = await db().enrollmentToken.findUniqueOrThrow({ where: { tokenHash: hashToken(gateway) }, select: { id: true } });
    await revokeEnrollmentToken(db(), cliActor, id);
    expect((await ddi("GET", "/dev-auth-2", { gateway })).status).toBe(401);
  });

  it("takes a target token an operator issued (shown once, hashed), refuses it for another device and once replaced", async () => {
    const gateway = await ring("ddi-target");
    expect((await ddi("GET", "/dev-target-1", { gateway })).status).toBe(200);
    expect((await ddi("GET", "/dev-target-2", { gateway })).status).toBe(200);
    const first = await issueTargetToken(db(), cliActor, { machineId: "dev-target-1" }, app.clock);
    expect(first.targetToken).toMatch(/^orch_m_/);
    expect(await db().machineToken.count({ where: { tokenHash: first.targetToken } })).toBe(0);
    expect((await ddi("GET", "/dev-target-1", { target: first.targetToken })).status).toBe(200);
    expect((await ddi("GET", "/dev-target-2", { target: first.targetToken })).status).toBe(403);
    const second = await issueTargetToken(db(), cliActor, { machineId: "dev-target-1" }, app.clock);
    expect((await ddi("GET", "/dev-target-1", { target: first.targetToken })).status).toBe(401);
    expect((await ddi("GET", "/dev-target-1", { target: second.targetToken })).status).toBe(200);
    expect(await db().auditLog.count({ where: { action: "machine.target-token", targetId: "dev-target-1" } })).toBe(2);
  });

  it("issues no target token for a machine our agent updates, and never speaks DDI for one (403)", async () => {
    const gateway = await ring("ddi-agent");
    const id = "ddi-agent-machine-1";
    expect((await call(app.url, "POST", "/enroll", { token: gateway, body: enrollBody(id) })).status).toBe(201);
    await expect(issueTargetToken(db(), cliActor, { machineId: id }, app.clock)).rejects.toThrow(/not a DDI device/);
    expect(await ddi("GET", `/${id}`, { gateway })).toMatchObject({ status: 403, json: { errorCode: "orchard.ddi.forbidden" } });
  });

  it("refuses a retired device (410) until an operator allows it back", async () => {
    const gateway = await ring("ddi-retire");
    expect((await ddi("GET", "/dev-retire-1", { gateway })).status).toBe(200);
    await retireMachine(db(), cliActor, { machineId: "dev-retire-1" });
    expect((await ddi("GET", "/dev-retire-1", { gateway })).status).toBe(410);
    await allowReenroll(db(), cliActor, { machineId: "dev-retire-1" }, app.clock);
    expect((await ddi("GET", "/dev-retire-1", { gateway })).status).toBe(200);
  });
});

describe("deployments", () => {
  it("links the ring's release with its artifacts (sizes, sha1/md5/sha256, download links), serves them with HEAD and Range, and answers feedback with 200", async () => {
    const gateway = await ring("ddi-deploy");
    await setRingRelease(db(), cliActor, { ring: "ddi-deploy", version: "2.0" });
    const poll = await ddi("GET", "/dev-deploy-1", { gateway });
    expect(poll.json._links.deploymentBase.href).toMatch(new RegExp(`/deploymentBase/${withArtifact.seq}$`));
    const base = await ddi("GET", `/dev-deploy-1/deploymentBase/${withArtifact.seq}`, { gateway });
    expect(base.status).toBe(200);
    expect(base.json).toMatchObject({ id: String(withArtifact.seq), deployment: { download: "attempt", update: "attempt", chunks: [{ part: "os", version: "2.0", name: REF }] } });
    const [artifact] = base.json.deployment.chunks[0].artifacts;
    expect(artifact).toMatchObject({
      filename: "update.swu",
      size: SWU.length,
      hashes: { sha256: SWU_SHA256, sha1: createHash("sha1").update(SWU).digest("hex"), md5: createHash("md5").update(SWU).digest("hex") },
    });
    expect(await machine("dev-deploy-1")).toMatchObject({ updateState: "downloading", updateTarget: hex("2") });

    const href: string = artifact._links["download-http"].href;
    const head = await fetch(href, { method: "HEAD", headers: { authorization: `GatewayToken ${gateway}` } });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(SWU.length));
    const range = await fetch(href, { headers: { authorization: `GatewayToken ${gateway}`, range: "bytes=10-19" } });
    expect(range.status).toBe(206);
    expect(Buffer.from(await range.arrayBuffer()).toString()).toBe("0123456789");
    const whole = await fetch(href, { headers: { authorization: `GatewayToken ${gateway}` } });
    expect(Buffer.from(await whole.arrayBuffer()).equals(SWU)).toBe(true);
    // Downloads authenticate too.
    expect((await fetch(href)).status).toBe(401);
    const md5 = await fetch(artifact._links["md5sum-http"].href, { headers: { authorization: `GatewayToken ${gateway}` } });
    expect(await md5.text()).toBe(`${artifact.hashes.md5}  update.swu\n`);

    const installed = await ddi("POST", `/dev-deploy-1/deploymentBase/${withArtifact.seq}/feedback`, { gateway }, {
      id: String(withArtifact.seq),
      status: { execution: "proceeding", result: { finished: "none", progress: { cnt: 1, of: 1 } }, details: ["All Chunks Installed."] },
    });
    expect(installed).toMatchObject({ status: 200, text: "" });
    expect(await machine("dev-deploy-1")).toMatchObject({ updateState: "rebooting", updateTarget: hex("2") });
    const confirmed = await ddi("POST", `/dev-deploy-1/deploymentBase/${withArtifact.seq}/feedback`, { gateway }, { id: withArtifact.seq, status: { execution: "closed", result: { finished: "success" } } });
    expect(confirmed.status).toBe(200);
    expect(await machine("dev-deploy-1")).toMatchObject({ updateState: "succeeded", bootedChecksum: hex("2") });

    // Done: no deployment any more, its installedBase instead.
    const after = await ddi("GET", "/dev-deploy-1", { gateway });
    expect(after.json._links.deploymentBase).toBeUndefined();
    expect(after.json._links.installedBase.href).toMatch(new RegExp(`/installedBase/${withArtifact.seq}$`));
    const installedBase = await ddi("GET", `/dev-deploy-1/installedBase/${withArtifact.seq}`, { gateway });
    expect(installedBase.json).toMatchObject({ id: String(withArtifact.seq), deployment: { chunks: [{ version: "2.0" }] } });
  });

  it("offers no release without artifacts, and no action of another device's release (404)", async () => {
    const gateway = await ring("ddi-empty");
    await setRingRelease(db(), cliActor, { ring: "ddi-empty", version: "1.0" });
    const poll = await ddi("GET", "/dev-empty-1", { gateway });
    expect(poll.json._links.deploymentBase).toBeUndefined();
    expect((await ddi("GET", `/dev-empty-1/deploymentBase/${withArtifact.seq}`, { gateway })).status).toBe(404);
    expect((await ddi("GET", `/dev-empty-1/softwaremodules/${withArtifact.seq}/artifacts/update.swu`, { gateway })).status).toBe(404);
    // The machine page says so rather than "told at its next check-in".
    expect((await getMachine(db(), "dev-empty-1", app.clock)).answer).toMatchObject({ tone: "warn", title: "Nothing to install for 1.0" });
  });

  it("polls at the ring's interval when idle, at the busy interval in an open wave, and says the ring's maintenance window", async () => {
    const gateway = await ring("ddi-wave", { maintenanceWindows: [{ days: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"], start: "00:00", durationMinutes: 24 * 60 }] });
    expect((await ddi("GET", "/dev-wave-1", { gateway })).json.config.polling.sleep).toBe("00:10:00");
    const rollout = await startRollout(db(), cliActor, { version: "2.0", rings: ["ddi-wave"], singleFirst: false, waves: [100], soakSeconds: 0, minSample: 1, maxFailureRate: 0.5, darkAfterSeconds: 3600 }, app.clock);
    await app.controller.stepRollout(rollout.id);
    const poll = await ddi("GET", "/dev-wave-1", { gateway });
    expect(poll.json.config.polling.sleep).toBe("00:00:10");
    const base = await ddi("GET", `/dev-wave-1/deploymentBase/${withArtifact.seq}`, { gateway });
    expect(base.json.deployment).toMatchObject({ update: "attempt", maintenanceWindow: "available" });
  });
});

describe("cancelAction", () => {
  it("a device downloading a release the brake stopped is sent cancelAction, and its acknowledgement leaves it idle; one already installed keeps its deployment to confirm", async () => {
    const r3 = await addRelease(db(), cliActor, { ref: REF, checksum: hex("3"), version: "3.0" });
    await storeArtifact(db(), cliActor, { releaseId: r3.id, name: "update.swu", sha256: SWU_SHA256 }, Readable.from([SWU]), { dir: artifactsDir(app.dataDir), maxBytes: 1 << 20 });
    const seq = (await db().release.findUniqueOrThrow({ where: { id: r3.id }, select: { seq: true } })).seq;
    const gateway = await ring("ddi-brake");
    expect((await ddi("GET", "/dev-brake-1", { gateway })).status).toBe(200);
    expect((await ddi("GET", "/dev-brake-2", { gateway })).status).toBe(200);
    const rollout = await startRollout(db(), cliActor, { version: "3.0", rings: ["ddi-brake"], singleFirst: false, waves: [100], soakSeconds: 0, minSample: 5, maxFailureRate: 0.5, darkAfterSeconds: 3600 }, app.clock);
    await app.controller.stepRollout(rollout.id);
    for (const id of ["dev-brake-1", "dev-brake-2"]) {
      expect((await ddi("GET", `/${id}`, { gateway })).json._links.deploymentBase.href).toMatch(new RegExp(`/deploymentBase/${seq}$`));
      expect((await ddi("GET", `/${id}/deploymentBase/${seq}`, { gateway })).status).toBe(200);
    }
    // dev-brake-2 installed before the brake: it keeps its deployment to confirm, never a cancel.
    await ddi("POST", `/dev-brake-2/deploymentBase/${seq}/feedback`, { gateway }, { id: seq, status: { execution: "proceeding", result: { finished: "none", progress: { cnt: 1, of: 1 } }, details: ["All Chunks Installed."] } });

    await brakeRelease(db(), cliActor, { version: "3.0", ref: REF, reason: "boot loop" }, app.clock);
    const poll = await ddi("GET", "/dev-brake-1", { gateway });
    expect(poll.json._links.deploymentBase).toBeUndefined();
    expect(poll.json._links.cancelAction.href).toMatch(new RegExp(`/cancelAction/${seq}$`));
    expect((await ddi("GET", `/dev-brake-1/cancelAction/${seq}`, { gateway })).json).toEqual({ id: String(seq), cancelAction: { stopId: String(seq) } });
    const installed = await ddi("GET", "/dev-brake-2", { gateway });
    expect(installed.json._links.cancelAction).toBeUndefined();
    expect(installed.json._links.deploymentBase.href).toMatch(new RegExp(`/deploymentBase/${seq}$`));

    // A refusal changes nothing; closed + success gives the update up.
    expect((await ddi("POST", `/dev-brake-1/cancelAction/${seq}/feedback`, { gateway }, { id: seq, status: { execution: "rejected", result: { finished: "none" } } })).status).toBe(200);
    expect(await machine("dev-brake-1")).toMatchObject({ updateState: "downloading", updateTarget: hex("3") });
    const ack = await ddi("POST", `/dev-brake-1/cancelAction/${seq}/feedback`, { gateway }, { id: seq, time: "20261201T060000", status: { execution: "closed", result: { finished: "success" }, details: ["cancellation acknowledged."] } });
    expect(ack).toMatchObject({ status: 200, text: "" });
    expect(await machine("dev-brake-1")).toMatchObject({ updateState: "idle", updateTarget: null });
    expect((await ddi("GET", "/dev-brake-1", { gateway })).json._links.cancelAction).toBeUndefined();
    await app.controller.stepRollout(rollout.id);
    expect((await db().rolloutMachine.findFirstOrThrow({ where: { rolloutId: rollout.id, machine: { machineId: "dev-brake-1" } }, select: { step: true } })).step).toBe("cancelled");
  });
});

describe("configData", () => {
  it("keeps the device's attributes as its labels (200), audited only when they change; links configData only until it came", async () => {
    const gateway = await ring("ddi-config");
    const body = { mode: "merge", data: { hwRevision: "1.0", site: "fra-1" } };
    expect(await ddi("PUT", "/dev-config-1/configData", { gateway }, body)).toMatchObject({ status: 200, text: "" });
    expect((await machine("dev-config-1")).labels).toMatchObject({ hwRevision: "1.0", site: "fra-1" });
    expect((await ddi("PUT", "/dev-config-1/configData", { gateway }, body)).status).toBe(200);
    expect(await db().auditLog.count({ where: { action: "machine.labels", targetId: "dev-config-1" } })).toBe(1);
    // Sent once: the poll links configData no more (SWUpdate would send it instead of installing).
    expect((await ddi("GET", "/dev-config-1", { gateway })).json._links.configData).toBeUndefined();
    expect((await ddi("GET", "/dev-config-2", { gateway })).json._links.configData).toBeDefined();
  });
});

describe("bad input", () => {
  it("names the field, never a 500", async () => {
    const gateway = await ring("ddi-bad");
    expect((await ddi("GET", "/dev-bad-1", { gateway })).status).toBe(200);
    const cases: [string, string, unknown, string][] = [
      ["POST", `/dev-bad-1/deploymentBase/${withArtifact.seq}/feedback`, { status: { execution: "exploded" } }, "status.execution"],
      ["POST", `/dev-bad-1/deploymentBase/${withArtifact.seq}/feedback`, { id: 1 }, "status"],
      ["POST", `/dev-bad-1/deploymentBase/${withArtifact.seq}/feedback`, "{not json", "body"],
      ["POST", `/dev-bad-1/deploymentBase/${withArtifact.seq}/feedback`, { status: { execution: "closed", result: { finished: "maybe" } } }, "status.result.finished"],
      ["POST", "/dev-bad-1/deploymentBase/abc/feedback", { status: { execution: "closed" } }, "actionId"],
      ["GET", "/dev-bad-1/deploymentBase/99999999999", undefined, "actionId"],
      ["PUT", "/dev-bad-1/configData", { data: "x" }, "data"],
      ["PUT", "/dev-bad-1/configData", { data: { "bad key!": "x" } }, "data.bad key!"],
      ["GET", "/bad%20id", undefined, "controllerId"],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await ddi(method, path, { gateway }, body);
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(res.json, `${method} ${path}`).toMatchObject({ errorCode: "orchard.ddi.badRequest", field });
    }
    expect((await ddi("GET", "/dev-bad-1/nothing-here", { gateway })).status).toBe(404);
    expect((await ddi("DELETE", "/dev-bad-1/configData", { gateway })).status).toBe(405);
    const badTenant = await fetch(`${app.url}/ddi/bad%20tenant/controller/v1/dev-bad-1`, { headers: { authorization: `GatewayToken ${gateway}` } });
    expect(badTenant.status).toBe(400);
    expect(await badTenant.json()).toMatchObject({ field: "tenant" });
    expect((await ddi("POST", `/dev-bad-1/deploymentBase/${withArtifact.seq + 1000}/feedback`, { gateway }, { status: { execution: "closed", result: { finished: "success" } } })).status).toBe(404);
  });
});
