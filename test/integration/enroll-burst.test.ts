// Enrollment bursts (server/enrollment/enroll.ts writes them in batches):
// hundreds of machines enrolling at once with one token, through two consoles
// on one database, never take more than the token's max uses, and every
// machine answered 201 exists with its token, its audit row and one use
// counted; one machine id enrolling many times at once is created once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { createEnrollmentToken } from "../../server/enrollment/enrollment-tokens";
import { createRing } from "../../server/rings/rings";
import { enrollProof, generateMachineKey } from "../../agent/src/identity";
import { type Enrollment, Enrollments } from "../../server/enrollment/enroll";
import { AppError } from "../../server/errors";
import { hashToken } from "../../server/auth/tokens";
import { call, enrollBody } from "../helpers/agent-http";
import { startTestConsole, type TestConsole } from "../helpers/console";

let app: TestConsole;
let other: TestConsole;

beforeAll(async () => {
  app = await startTestConsole();
  // A second console process on the same database: the token's uses are counted in the database, not in a process.
  other = await startTestConsole({ DATABASE_URL: app.databaseUrl });
  await createRing(app.db.prisma, cliActor, { name: "site", branch: "exampleos/x86_64/stable", failureDomainLabel: "rack" });
});

afterAll(async () => {
  await other?.stop();
  await app?.stop();
});

async function consistent(prefix: string) {
  const [row] = await app.db.prisma.$queryRaw<{ machines: number; tokens: number; audit: number }[]>`
    SELECT (SELECT count(*)::int FROM machines WHERE machine_id LIKE ${`${prefix}%`}) AS machines,
           (SELECT count(*)::int FROM machine_tokens t JOIN machines m ON m.id = t.machine_id
             WHERE m.machine_id LIKE ${`${prefix}%`} AND t.revoked_at IS NULL) AS tokens,
           (SELECT count(*)::int FROM audit_log WHERE action = 'machine.enroll' AND target_id LIKE ${`${prefix}%`}) AS audit`;
  return row;
}

describe("enrollment bursts", () => {
  it("never grants more than max uses, across two consoles, and writes every granted machine whole", async () => {
    const { token, record } = await createEnrollmentToken(app.db.prisma, cliActor, { name: "burst", ring: "site", maxUses: 60, labels: { rack: "r1" } });
    const unlimited = await createEnrollmentToken(app.db.prisma, cliActor, { name: "burst-unlimited", ring: "site" });
    const answers = await Promise.all(
      Array.from({ length: 400 }, (_, i) => {
        const console = i % 2 === 0 ? app : other;
        const limited = i % 4 !== 3;
        return call<{ token: string; ring: string }>(console.url, "POST", "/enroll", {
          token: limited ? token : unlimited.token,
          // The agent's own rack is not taken: a failure domain comes only from the token.
          body: enrollBody(`${limited ? "hammer" : "free"}-${i}`, { labels: { rack: "r9", role: "db" } }),
        }).then((answer) => ({ answer, limited }));
      }),
    );
    const limited = answers.filter((a) => a.limited);
    expect(limited.filter((a) => a.answer.status === 201)).toHaveLength(60);
    for (const { answer } of limited.filter((a) => a.answer.status !== 201)) {
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ error: { code: "unauthorized", message: expect.any(String) } });
    }
    const free = answers.filter((a) => !a.limited);
    expect(free.every((a) => a.answer.status === 201 && a.answer.body.ring === "site")).toBe(true);

    const used = await app.db.prisma.enrollmentToken.findUniqueOrThrow({ where: { id: record.id }, select: { uses: true } });
    expect(used.uses).toBe(60);
    expect(await consistent("hammer-")).toEqual({ machines: 60, tokens: 60, audit: 60 });
    const unlimitedUses = await app.db.prisma.enrollmentToken.findUniqueOrThrow({ where: { id: unlimited.record.id }, select: { uses: true } });
    expect(unlimitedUses.uses).toBe(free.length);
    expect(await consistent("free-")).toEqual({ machines: free.length, tokens: free.length, audit: free.length });

    const labels = await app.db.prisma.machine.findMany({ where: { machineId: { startsWith: "hammer-" } }, select: { labels: true } });
    expect(labels.every((m) => JSON.stringify(m.labels) === JSON.stringify({ rack: "r1", role: "db" }))).toBe(true);
    // Each machine token answered works.
    for (const { answer } of limited.filter((a) => a.answer.status === 201).slice(0, 5)) {
      const checkin = await call(app.url, "POST", "/checkin", { token: answer.body.token, body: { seq: 1, sentAt: new Date().toISOString(), agentVersion: "1.0.0", deployments: [], update: { state: "idle", targetChecksum: null, progress: null, error: null }, health: { status: "healthy", checks: [] } } });
      expect(checkin.status).toBe(200);
    }
  });

  it("creates a machine id enrolling many times at once exactly once; the others must prove themselves", async () => {
    const { token, record } = await createEnrollmentToken(app.db.prisma, cliActor, { name: "twins", ring: "site" });
    const key = generateMachineKey();
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        call((i % 2 === 0 ? app : other).url, "POST", "/enroll", { token, body: enrollBody("twin-1", { publicKey: key.publicKey }) }),
      ),
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 403)).toHaveLength(11);
    expect(await consistent("twin-")).toEqual({ machines: 1, tokens: 1, audit: 1 });
    const used = await app.db.prisma.enrollmentToken.findUniqueOrThrow({ where: { id: record.id }, select: { uses: true } });
    expect(used.uses).toBe(1);
  });

  it("grouped: a burst of new and re-enrolling machines in shared batches takes exactly the token's max uses", async () => {
    // One process's queue, driven directly: every enrollment of the burst is
    // waiting before the first batch is read, so batches carry many at once.
    const enrollments = Enrollments.forDatabase(app.db, { clock: app.clock, log: app.log });
    const sim = (machineId: string, extra: Partial<Enrollment> = {}): Enrollment => ({ ...enrollBody(machineId), backend: "sim", ...extra });
    const setup = await createEnrollmentToken(app.db.prisma, cliActor, { name: "grouped-setup", ring: "site" });
    const keys = Array.from({ length: 80 }, () => generateMachineKey());
    const first = await Promise.all(
      keys.map((key, i) => enrollments.enroll(`Bearer ${setup.token}`, sim(`grouped-old-${i}`, { publicKey: key.publicKey }))),
    );
    expect(first.every((a) => a.status === 201)).toBe(true);

    const { token, record } = await createEnrollmentToken(app.db.prisma, cliActor, { name: "grouped", ring: "site", maxUses: 90 });
    const now = app.clock.now();
    const burst = await Promise.allSettled(
      Array.from({ length: 160 }, (_, i) => {
        const n = i >> 1;
        // Interleaved: an existing machine enrolling again with its key's proof, then a new machine.
        const body =
          i % 2 === 0
            ? sim(`grouped-old-${n}`, { publicKey: keys[n].publicKey, proof: enrollProof(keys[n], `grouped-old-${n}`, now) })
            : sim(`grouped-new-${n}`);
        return enrollments.enroll(`Bearer ${token}`, body);
      }),
    );
    expect(enrollments.written.largest).toBeGreaterThan(1);
    const granted = burst.filter((r) => r.status === "fulfilled").map((r) => r.value);
    expect(granted).toHaveLength(90);
    for (const refused of burst.filter((r) => r.status === "rejected")) {
      expect(refused.reason).toBeInstanceOf(AppError);
      expect((refused.reason as AppError).code).toBe("UNAUTHORIZED");
    }
    const again = granted.filter((a) => a.status === 200).map((a) => a.body.machineId);
    const fresh = granted.filter((a) => a.status === 201).map((a) => a.body.machineId);
    expect(again.every((id) => id.startsWith("grouped-old-"))).toBe(true);
    expect(fresh.every((id) => id.startsWith("grouped-new-"))).toBe(true);
    expect(again.length + fresh.length).toBe(90);

    const used = await app.db.prisma.enrollmentToken.findUniqueOrThrow({ where: { id: record.id }, select: { uses: true } });
    expect(used.uses).toBe(90);
    expect(await consistent("grouped-new-")).toEqual({ machines: fresh.length, tokens: fresh.length, audit: fresh.length });
    // Every old machine has exactly one live token: its new one if it enrolled again (the old one revoked), else its first.
    const live = await app.db.prisma.$queryRaw<{ machine_id: string; token_hash: string }[]>`
      SELECT m.machine_id, t.token_hash FROM machine_tokens t JOIN machines m ON m.id = t.machine_id
       WHERE m.machine_id LIKE 'grouped-old-%' AND t.revoked_at IS NULL`;
    expect(live).toHaveLength(80);
    const liveHash = new Map(live.map((t) => [t.machine_id, t.token_hash]));
    for (const answer of granted.filter((a) => a.status === 200)) expect(liveHash.get(answer.body.machineId)).toBe(hashToken(answer.body.token));
    const reenrolled = await app.db.prisma.auditLog.count({ where: { action: "machine.re-enroll", targetId: { startsWith: "grouped-old-" } } });
    expect(reenrolled).toBe(again.length);
  });
});
