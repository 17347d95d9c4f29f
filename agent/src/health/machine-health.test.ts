import { chmod, mkdir, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCommand } from "../command.ts";
import { FakeTools } from "../testing/fake-tools.ts";
import { tempDir } from "../testing/test-agent.ts";
import { MachineHealth, type MachineHealthOptions, OUTPUT_LIMIT } from "./machine-health.ts";

const never = new AbortController().signal;
const booted = { checksum: "a".repeat(64), ref: "exampleos/x86_64/stable", version: "2026.11.1", booted: true, staged: false, pinned: false };

async function checksDir(scripts: Record<string, string>) {
  const dir = await tempDir();
  for (const [name, body] of Object.entries(scripts)) {
    const file = path.join(dir, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `#!/bin/sh\n${body}\n`);
    if (!name.endsWith(".txt")) await chmod(file, 0o755);
  }
  return dir;
}

function health(options: Partial<MachineHealthOptions>) {
  return new MachineHealth({ checksDir: "/nonexistent", failedUnits: "ignore", probes: [], timeoutSeconds: 5, run: runCommand, ...options });
}

describe("machine health checks", () => {
  it("runs required.d and wanted.d in name order: a required failure fails, a wanted one warns", async () => {
    const dir = await checksDir({
      "required.d/20-app.sh": 'echo "app answers"',
      "required.d/10-version.sh": 'test "$ORCHARD_BOOTED_VERSION" != 2026.11.1 || { echo "kiosk-app crashed on $ORCHARD_BOOTED_VERSION ($ORCHARD_BOOTED_REF)" >&2; exit 1; }',
      "required.d/README.txt": "not a check: not executable",
      "wanted.d/50-disk.sh": 'echo "/var is 93% full"; exit 2',
    });
    const report = await health({ checksDir: dir }).healthChecks(booted, never);
    expect(report).toEqual({
      status: "unhealthy",
      checks: [
        {
          name: "required.d/10-version.sh",
          status: "fail",
          output: "kiosk-app crashed on 2026.11.1 (exampleos/x86_64/stable)\n(exited with 1: kiosk-app crashed on 2026.11.1 (exampleos/x86_64/stable))",
        },
        { name: "required.d/20-app.sh", status: "pass", output: "app answers" },
        { name: "wanted.d/50-disk.sh", status: "warn", output: "/var is 93% full\n(exited with 2)" },
      ],
    });
    expect((await health({ checksDir: dir }).healthChecks({ ...booted, version: "2026.10.3" }, never)).status).toBe("degraded");
  });

  it("stops a check at its timeout and keeps the end of a long output", async () => {
    const dir = await checksDir({
      "required.d/hangs.sh": "echo started; sleep 30",
      "wanted.d/chatty.sh": "i=0; while [ $i -lt 400 ]; do echo line $i of a long output; i=$((i+1)); done; echo the last word",
    });
    const started = Date.now();
    const { checks } = await health({ checksDir: dir, timeoutSeconds: 0.3 }).healthChecks(booted, never);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(checks[0]).toEqual({ name: "required.d/hangs.sh", status: "fail", output: "started\n(timed out after 0.3 s)" });
    expect(checks[1].status).toBe("pass");
    expect(checks[1].output).toHaveLength(OUTPUT_LIMIT);
    expect(checks[1].output).toMatch(/^….*the last word$/s);
  });

  it("reports failed systemd units as a required or a wanted check", async () => {
    const fakes = await FakeTools.create(["systemctl"]);
    const list = ["list-units", "--state=failed", "--plain", "--no-legend", "--no-pager"];
    fakes.on("systemctl", list, { stdout: "kiosk-app.service loaded failed failed Kiosk application\nvar-data.mount loaded failed failed /var/data\n" });
    const required = await health({ failedUnits: "required", run: fakes.run }).healthChecks(booted, never);
    expect(required.checks).toEqual([{ name: "systemd: failed units", status: "fail", output: "failed: kiosk-app.service var-data.mount" }]);
    const wanted = await health({ failedUnits: "wanted", run: fakes.run }).healthChecks(booted, never);
    expect(wanted.status).toBe("degraded");
    fakes.on("systemctl", list, { stdout: "" });
    expect((await health({ failedUnits: "required", run: fakes.run }).healthChecks(booted, never)).status).toBe("healthy");
    expect(fakes.commandLines()[0]).toBe(`systemctl ${list.join(" ")}`);
  });

  describe("HTTP probes", () => {
    let server: Server;
    let url: string;
    let closedPort: number;

    beforeAll(async () => {
      server = createServer((req, res) => {
        if (req.url === "/slow") return setTimeout(() => res.end("late"), 2000);
        res.writeHead(req.url === "/ok" ? 200 : 503, { "content-type": "text/plain" });
        res.end(req.url === "/ok" ? "" : "database unreachable");
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
      closedPort = (closed.address() as AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
    });

    afterAll(() => {
      server.closeAllConnections();
      server.close();
    });

    it("passes a 2xx answer, fails (or warns) on anything else, an error or a timeout", async () => {
      const probes = [
        { name: "app", url: `${url}/ok`, required: true },
        { name: "api", url: `${url}/api`, required: true },
        { name: "metrics", url: `${url}/metrics`, required: false },
        { name: "slow", url: `${url}/slow`, required: true, timeoutSeconds: 0.2 },
        { name: "gone", url: `http://127.0.0.1:${closedPort}/`, required: true },
      ];
      const { checks } = await health({ probes }).healthChecks(booted, never);
      expect(checks).toEqual([
        { name: "app", status: "pass", output: `GET ${url}/ok: 200 OK` },
        { name: "api", status: "fail", output: `GET ${url}/api: 503 Service Unavailable\ndatabase unreachable` },
        { name: "metrics", status: "warn", output: `GET ${url}/metrics: 503 Service Unavailable\ndatabase unreachable` },
        { name: "slow", status: "fail", output: `GET ${url}/slow: timed out after 0.2 s` },
        { name: "gone", status: "fail", output: `GET http://127.0.0.1:${closedPort}/: ECONNREFUSED` },
      ]);
    });
  });
});
