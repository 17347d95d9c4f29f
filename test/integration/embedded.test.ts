// A smaller smoke run on the embedded database (PGlite): migrations, the
// agent protocol, the command line through the running console's socket,
// data kept across a restart, and its one connection shared by the console
// and the agents under a console load.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { MAX_BATCH_SIZE } from "../../server/trpc/batch";
import { call, checkinBody, enrollBody } from "../helpers/agent-http";
import { enrollmentToken, startTestConsole, type TestConsole } from "../helpers/console";
import { signedInCookie } from "../helpers/sessions";

const bin = path.resolve(import.meta.dirname, "../../bin/orchard.js");
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "orch-"));
let app: TestConsole | null = null;

afterAll(async () => {
  await app?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("embedded database", () => {
  it("serves the protocol and the command line, and keeps data across a restart", async () => {
    const env = { DATABASE_URL: "", ORCHARD_DATA_DIR: dataDir };
    app = await startTestConsole(env);
    expect(app.db.kind).toBe("embedded");
    const cliEnv = { ...process.env, ...env, LOG_LEVEL: "warn" };
    const cli = (args: string[]) => promisify(execFile)(process.execPath, [bin, ...args], { env: cliEnv });

    await cli(["ring", "create", "canary", "--branch", "exampleos/x86_64/stable"]);
    const { stdout } = await cli(["enroll-token", "create", "--ring", "canary", "--uses", "1"]);
    const token = stdout.trim().split("\n").at(-1)!;

    const enrolled = await call<{ token: string; ring: string }>(app.url, "POST", "/enroll", { token, body: enrollBody("pglite-1") });
    expect(enrolled.status).toBe(201);
    expect(enrolled.body.ring).toBe("canary");
    const checkin = await call(app.url, "POST", "/checkin", { token: enrolled.body.token, body: checkinBody(1, { health: "degraded" }) });
    expect(checkin.status).toBe(200);

    const listed = JSON.parse((await cli(["machine", "list", "--json"])).stdout);
    expect(listed).toMatchObject([{ machineId: "pglite-1", ring: "canary", healthStatus: "degraded" }]);

    // Restart on the same data directory: the machine and its token survive.
    await app.stop();
    app = await startTestConsole(env);
    const again = await call(app.url, "POST", "/checkin", { token: enrolled.body.token, body: checkinBody(2, { health: "healthy" }) });
    expect(again.status).toBe(200);
    expect(await app.db.prisma.machine.count()).toBe(1);
    expect((await app.db.prisma.machine.findFirstOrThrow()).healthStatus).toBe("healthy");
  });

  it("shares its one connection between the console and the agents, and serves check-ins under a console load", async () => {
    // PGlite is one session: the console and the agents cannot have pools of their own.
    expect(app!.db.agent.pool).toBe(app!.db.pool);
    expect(app!.db.pool.options.max).toBe(1);
    const enrolled = await call<{ token: string }>(app!.url, "POST", "/enroll", { token: await enrollmentToken(app!, { ring: "canary" }), body: enrollBody("pglite-2") });
    const token = enrolled.body.token;
    const admin = await app!.db.prisma.user.findFirstOrThrow({ where: { role: "admin" } });
    const secret = fs.readFileSync(path.join(dataDir, "session-secret"), "utf8").trim();
    const { cookie } = await signedInCookie(app!.db, admin.id, secret);
    const paths = Array.from({ length: MAX_BATCH_SIZE }, (_, i) => (i % 2 ? "dashboard.summary" : "machines.list")).join(",");
    const input = encodeURIComponent(JSON.stringify(Object.fromEntries(Array.from({ length: MAX_BATCH_SIZE }, (_, i) => [i, i % 2 ? {} : { json: { q: "pglite" } }]))));

    let loading = true;
    const statuses: number[] = [];
    const tabs = Array.from({ length: 3 }, async () => {
      while (loading) {
        const res = await fetch(`${app!.url}/api/trpc/${paths}?batch=1&input=${input}`, { headers: { cookie } });
        await res.arrayBuffer();
        statuses.push(res.status);
      }
    });
    const latencies: number[] = [];
    for (let seq = 1; seq <= 20; seq++) {
      const started = performance.now();
      const res = await call(app!.url, "POST", "/checkin", { token, body: checkinBody(seq, { health: seq % 2 ? "degraded" : "healthy" }) });
      latencies.push(performance.now() - started);
      expect(res.status).toBe(200);
    }
    loading = false;
    await Promise.all(tabs);
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200)).toBe(true);
    latencies.sort((a, b) => a - b);
    console.log(
      `embedded database, one shared connection: 20 check-ins during ${statuses.length} tRPC batches of ${MAX_BATCH_SIZE}: ` +
        `p50 ${latencies[9].toFixed(0)} ms, max ${latencies[19].toFixed(0)} ms`,
    );
  });
});
