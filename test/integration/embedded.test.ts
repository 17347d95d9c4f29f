// A smaller smoke run on the embedded database (PGlite): migrations, the
// agent protocol, the command line through the running console's socket,
// and data kept across a restart.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { call, checkinBody, enrollBody } from "../helpers/agent-http";
import { startTestConsole, type TestConsole } from "../helpers/console";

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
});
