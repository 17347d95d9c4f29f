// Enrollment bursts (server/enrollment/enroll.ts writes them in batches):
// hundreds of machines enrolling at once with one token, through two consoles
// on one database, never take more than the token's max uses, and every
// machine answered 201 exists with its token, its audit row and one use
// counted; one machine id enrolling many times at once is created once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { createEnrollmentToken } from "../../server/enrollment/enrollment-tokens";
import { createRing } from "../../server/rings/rings";
import { generateMachineKey } from "../../agent/src/identity";
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
});
