// Every agent route × every kind of credential → the answer the spec gives
// (401 for a missing, unknown, expired, used-up, revoked or rotated-out token
// of either kind; 403 for a valid token on a route not for its kind, and for
// an enrollment token used on a machine that exists without its key's proof;
// 410 for a retired machine), and a refused request changes nothing. The routes
// come from the spec's table, so a route added there without a row here fails.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { revokeEnrollmentToken } from "../../server/enrollment/enrollment-tokens";
import { enrollProof, generateMachineKey } from "../../agent/src/identity";
import { allowReenroll, retireMachine } from "../../server/machines/machines";
import { addRelease } from "../../server/releases/releases";
import { createRing, setRingRelease } from "../../server/rings/rings";
import { call, checkinBody, enrollBody, hex } from "../helpers/agent-http";
import { databaseFingerprint as fingerprint } from "../helpers/db-fingerprint";
import { enrollmentToken, startTestConsole, type TestConsole } from "../helpers/console";

const ROUTES = ["POST /enroll", "POST /checkin", "POST /events", "POST /reboot-lock", "DELETE /reboot-lock"] as const;
type Credential =
  | "none"
  | "garbage"
  | "forged enrollment"
  | "forged machine"
  | "expired enrollment"
  | "revoked enrollment"
  | "used-up enrollment"
  | "rotated machine"
  | "retired machine"
  | "enrollment"
  | "enrollment, a taken machine id"
  | "enrollment, a taken id, a stranger's proof"
  | "enrollment, a retired machine's id"
  | "enrollment, the machine's own proof"
  | "enrollment, a re-imaged machine"
  | "machine";

/** The expected status of each route for each credential; "ok" is the route's success. */
const EXPECTED: Record<Credential, Record<(typeof ROUTES)[number], number | "ok">> = {
  none: { "POST /enroll": 401, "POST /checkin": 401, "POST /events": 401, "POST /reboot-lock": 401, "DELETE /reboot-lock": 401 },
  garbage: { "POST /enroll": 401, "POST /checkin": 401, "POST /events": 401, "POST /reboot-lock": 401, "DELETE /reboot-lock": 401 },
  "forged enrollment": { "POST /enroll": 401, "POST /checkin": 401, "POST /events": 401, "POST /reboot-lock": 401, "DELETE /reboot-lock": 401 },
  "forged machine": { "POST /enroll": 401, "POST /checkin": 401, "POST /events": 401, "POST /reboot-lock": 401, "DELETE /reboot-lock": 401 },
  "expired enrollment": { "POST /enroll": 401, "POST /checkin": 401, "POST /events": 401, "POST /reboot-lock": 401, "DELETE /reboot-lock": 401 },
  "revoked enrollment": { "POST /enroll": 401, "POST /checkin": 401, "POST /events": 401, "POST /reboot-lock": 401, "DELETE /reboot-lock": 401 },
  "used-up enrollment": { "POST /enroll": 401, "POST /checkin": 401, "POST /events": 401, "POST /reboot-lock": 401, "DELETE /reboot-lock": 401 },
  "rotated machine": { "POST /enroll": 401, "POST /checkin": 401, "POST /events": 401, "POST /reboot-lock": 401, "DELETE /reboot-lock": 401 },
  "retired machine": { "POST /enroll": 403, "POST /checkin": 410, "POST /events": 410, "POST /reboot-lock": 410, "DELETE /reboot-lock": 410 },
  enrollment: { "POST /enroll": "ok", "POST /checkin": 403, "POST /events": 403, "POST /reboot-lock": 403, "DELETE /reboot-lock": 403 },
  // An enrollment token is shared by every machine of an image: alone it takes over no machine that exists.
  "enrollment, a taken machine id": { "POST /enroll": 403, "POST /checkin": 403, "POST /events": 403, "POST /reboot-lock": 403, "DELETE /reboot-lock": 403 },
  "enrollment, a taken id, a stranger's proof": { "POST /enroll": 403, "POST /checkin": 403, "POST /events": 403, "POST /reboot-lock": 403, "DELETE /reboot-lock": 403 },
  "enrollment, a retired machine's id": { "POST /enroll": 410, "POST /checkin": 403, "POST /events": 403, "POST /reboot-lock": 403, "DELETE /reboot-lock": 403 },
  "enrollment, the machine's own proof": { "POST /enroll": "ok", "POST /checkin": 403, "POST /events": 403, "POST /reboot-lock": 403, "DELETE /reboot-lock": 403 },
  "enrollment, a re-imaged machine": { "POST /enroll": "ok", "POST /checkin": 403, "POST /events": 403, "POST /reboot-lock": 403, "DELETE /reboot-lock": 403 },
  machine: { "POST /enroll": 403, "POST /checkin": "ok", "POST /events": "ok", "POST /reboot-lock": "ok", "DELETE /reboot-lock": "ok" },
};
const CODES: Record<number, string> = { 401: "unauthorized", 403: "forbidden", 410: "machine_retired" };

let app: TestConsole;
const tokens = {} as Record<Credential, string | undefined>;

beforeAll(async () => {
  app = await startTestConsole();
  await createRing(app.db.prisma, cliActor, { name: "canary", branch: "exampleos/x86_64/stable" });
  // The ring runs a…a and its machines boot b…b: a reboot slot is what the console wants for them.
  await addRelease(app.db.prisma, cliActor, { ref: "exampleos/x86_64/stable", checksum: hex("a"), version: "1" });
  await setRingRelease(app.db.prisma, cliActor, { ring: "canary", version: "1" });
  const enroll = async (token: string, machineId: string, extra: Record<string, unknown> = {}) =>
    (await call<{ token: string }>(app.url, "POST", "/enroll", { token, body: enrollBody(machineId, extra) })).body.token;

  tokens.none = undefined;
  tokens.garbage = "not a token at all";
  tokens["forged enrollment"] = `orch_e_${"A".repeat(32)}`;
  tokens["forged machine"] = `orch_m_${"A".repeat(32)}`;
  tokens["expired enrollment"] = await enrollmentToken(app, { expiresInSeconds: 60 });
  app.clock.advance(61_000);
  tokens["revoked enrollment"] = await enrollmentToken(app);
  const revoked = await app.db.prisma.enrollmentToken.findFirstOrThrow({ orderBy: { createdAt: "desc" } });
  await revokeEnrollmentToken(app.db.prisma, cliActor, revoked.id);
  tokens["used-up enrollment"] = await enrollmentToken(app, { maxUses: 1 });
  await enroll(tokens["used-up enrollment"], "matrix-used-up");
  tokens.enrollment = await enrollmentToken(app, { ring: "canary" });
  tokens["rotated machine"] = await enroll(tokens.enrollment, "matrix-rotated", { publicKey: rotatedKey.publicKey });
  // Re-enrollment with the machine's proof retires the first token.
  await enroll(tokens.enrollment, "matrix-rotated", { proof: enrollProof(rotatedKey, "matrix-rotated", app.clock.now()) });
  tokens["retired machine"] = await enroll(tokens.enrollment, "matrix-retired");
  await retireMachine(app.db.prisma, cliActor, { machineId: "matrix-retired" });
  tokens.machine = await enroll(tokens.enrollment, "matrix-live", { publicKey: liveKey.publicKey });
  await enroll(tokens.enrollment, "matrix-proven", { publicKey: provenKey.publicKey });
  await enroll(tokens.enrollment, "matrix-reimaged", { publicKey: generateMachineKey().publicKey });
  await allowReenroll(app.db.prisma, cliActor, { machineId: "matrix-reimaged", reason: "re-imaged" }, app.clock);
  for (const credential of ["enrollment, a taken machine id", "enrollment, a taken id, a stranger's proof", "enrollment, a retired machine's id", "enrollment, the machine's own proof", "enrollment, a re-imaged machine"] as const) {
    tokens[credential] = tokens.enrollment;
  }
});

afterAll(async () => {
  await app?.stop();
});

const rotatedKey = generateMachineKey();
const liveKey = generateMachineKey();
const provenKey = generateMachineKey();

function enrollBodyFor(credential: Credential) {
  const now = app.clock.now();
  switch (credential) {
    case "enrollment":
      return enrollBody("matrix-new");
    case "enrollment, a taken machine id":
      return enrollBody("matrix-live", { hostname: "taken-over" });
    case "enrollment, a taken id, a stranger's proof": {
      const stranger = generateMachineKey();
      return enrollBody("matrix-live", { publicKey: stranger.publicKey, proof: enrollProof(stranger, "matrix-live", now) });
    }
    case "enrollment, a retired machine's id":
      return enrollBody("matrix-retired");
    case "enrollment, the machine's own proof":
      return enrollBody("matrix-proven", { proof: enrollProof(provenKey, "matrix-proven", now) });
    case "enrollment, a re-imaged machine":
      return enrollBody("matrix-reimaged", { publicKey: generateMachineKey().publicKey });
    default:
      return enrollBody("matrix-refused");
  }
}

function bodyFor(route: string, credential: Credential) {
  if (route === "POST /enroll") return enrollBodyFor(credential);
  if (route === "POST /checkin") return checkinBody(1);
  if (route === "POST /events") return { events: [{ id: `matrix-${credential}`, at: new Date().toISOString(), type: "agent.started" }] };
  if (route === "POST /reboot-lock") return { checksum: hex("a") };
  return undefined;
}

describe("agent routes × credentials", () => {
  it("covers every route of the spec", () => {
    const spec = fs.readFileSync(path.resolve(import.meta.dirname, "../../docs/agent-protocol-v1.md"), "utf8");
    const routes = new Set([...spec.matchAll(/(POST|DELETE|GET|PUT) \/api\/agent\/v1(\/[a-z-]+)/g)].map((m) => `${m[1]} ${m[2]}`));
    expect([...routes].sort()).toEqual([...ROUTES].sort());
  });

  for (const credential of Object.keys(EXPECTED) as Credential[]) {
    it(`${credential}: ${ROUTES.map((r) => `${r} → ${EXPECTED[credential][r]}`).join(", ")}`, async () => {
      for (const route of ROUTES) {
        const [method, routePath] = route.split(" ");
        const expected = EXPECTED[credential][route];
        const before = expected === "ok" ? null : await fingerprint(app.db.pool);
        const res = await call(app.url, method, routePath, { token: tokens[credential], body: bodyFor(route, credential) });
        if (expected === "ok") {
          expect(res.status, route).toBeLessThan(300);
          continue;
        }
        expect(res.status, route).toBe(expected);
        expect(res.body, route).toEqual({ error: { code: CODES[expected], message: expect.any(String) } });
        expect(await fingerprint(app.db.pool), `${route} changed the database`).toEqual(before);
      }
    });
  }
});
