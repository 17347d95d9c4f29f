// First contact (issue 13, item 9): a console started as `npm start` starts it
// (server/main.ts) on an empty data directory, with the default demo fleet of
// 50 agents, prints the demo's enrollment lines first and the banner (address,
// the first admin's e-mail and password) last, once the console answers; the
// printed password signs in.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { shot } from "./helpers";

const root = path.resolve(import.meta.dirname, "../..");
const DEMO_AGENTS = 50;
const DEMO_INTERVAL = 5;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

interface Line {
  text: string;
  at: number;
}

test("the banner with the address and the sign-in comes last, after the demo fleet's enrollments, once the console answers", async ({ page }) => {
  test.setTimeout(240_000);
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "orch-first-start-"));
  const lines: Line[] = [];
  let child: ChildProcess | null = null;
  try {
    child = spawn(process.execPath, ["--import", "tsx", path.join(root, "server/main.ts")], {
      cwd: root,
      env: {
        ...process.env,
        PORT: String(port),
        HOST: "127.0.0.1",
        ORCHARD_DATA_DIR: dataDir,
        ORCHARD_DEMO_AGENTS: String(DEMO_AGENTS),
        ORCHARD_DEMO_INTERVAL: String(DEMO_INTERVAL),
        // The browser run's web server built the pages; a second build under it must not start.
        ORCHARD_AUTO_BUILD: "false",
        LOG_LEVEL: "info",
        DATABASE_URL: "",
        ORCHARD_URL: "",
        ORCHARD_ADMIN_PASSWORD: "",
        ORCHARD_SECRET: "",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    for (const stream of [child.stdout!, child.stderr!]) {
      let partial = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        const parts = (partial + chunk).split("\n");
        partial = parts.pop()!;
        for (const text of parts) lines.push({ text, at: Date.now() });
      });
    }
    const exited = new Promise<never>((_, reject) => child!.once("exit", (code) => reject(new Error(`the console exited (${code}):\n${lines.map((l) => l.text).join("\n")}`))));
    exited.catch(() => undefined); // (it exits at the end too, once the test stops it)

    // The banner: between two rules of dashes.
    const bannerEnd = () => {
      const rules = lines.flatMap((l, i) => (/^-{20,}$/.test(l.text) ? [i] : []));
      return rules.length >= 2 ? rules[1] : -1;
    };
    await Promise.race([expect.poll(bannerEnd, { timeout: 180_000, intervals: [100] }).toBeGreaterThan(0), exited]);
    const end = bannerEnd();
    const start = lines.findIndex((l) => /^-{20,}$/.test(l.text));
    const banner = lines.slice(start + 1, end).map((l) => l.text);

    // Once it is printed, the console answers at the address it gives, pages included.
    const url = /^Orchard console is ready: (\S+)/.exec(banner[0])?.[1];
    expect(url, banner.join("\n")).toBe(`http://127.0.0.1:${port}`);
    const answered = await Promise.all([fetch(`${url}/healthz`), fetch(`${url}/signin`)]);
    expect(answered.map((r) => r.status)).toEqual([200, 200]);

    // Before it: every enrollment of the demo fleet; the password nowhere else.
    const before = lines.slice(0, start).map((l) => l.text);
    expect(before.filter((t) => t.includes('"msg":"machine enrolled"'))).toHaveLength(DEMO_AGENTS);
    expect(banner[1]).toBe("First admin created. Sign in with (shown only this once):");
    const email = /^ {2}e-mail: +(\S+)$/.exec(banner[2])?.[1];
    const password = /^ {2}password: +(\S+)$/.exec(banner[3])?.[1];
    expect(email).toBe("admin@orchard.local");
    expect(password).toMatch(/^\S{12,}$/);
    expect(banner[4]).toBe(`Demo fleet: ${DEMO_AGENTS} simulated agents enrolled (ORCHARD_DEMO_AGENTS=0 turns it off).`);
    expect(lines.filter((l) => l.text.includes(password!))).toHaveLength(1);

    // Nothing more follows it: two check-in intervals of the demo fleet later, the banner is still the last output.
    await new Promise((resolve) => setTimeout(resolve, 2 * DEMO_INTERVAL * 1000));
    expect(lines.slice(end + 1).map((l) => l.text)).toEqual([]);

    // The printed password signs in.
    await page.goto(`${url}/signin`);
    await page.getByLabel("E-mail").fill(email!);
    await page.getByLabel("Password").fill(password!);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL((u) => u.origin === url && !u.pathname.startsWith("/signin"));
    await expect(page.getByRole("heading", { name: "Active rollouts" })).toBeVisible();
    await shot(page, "first-start-signed-in");
  } finally {
    if (child && child.exitCode === null) {
      const gone = new Promise((resolve) => child!.once("exit", resolve));
      child.kill("SIGTERM");
      await gone;
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
