// A fleet process runs tens of thousands of agents under one descriptor
// limit. These tests run thousands of agents' file writes and requests at
// once in a child process whose limit is 256 descriptors, and check that the
// agent's file slots and the fleet's shared sockets keep them under it; the
// same work done without them fails there with EMFILE, which shows the limit
// bites.
import { execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const here = path.dirname(new URL(import.meta.url).pathname);
const storeUrl = pathToFileURL(path.join(here, "../store.ts")).href;
const httpUrl = pathToFileURL(path.join(here, "../http.ts")).href;
const fleetUrl = pathToFileURL(path.join(here, "fleet.ts")).href;
// The child's script lives in a scratch folder, outside the repository's node_modules.
const zodUrl = pathToFileURL(createRequire(import.meta.url).resolve("zod")).href;
const DESCRIPTORS = 256;

let dir: string;
let server: http.Server;
let url: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "orchard-descriptors-"));
  // Answers every request after 100 ms, so that the child's requests are all under way at once.
  server = http.createServer((request, response) => {
    request.resume();
    setTimeout(() => response.end("{}"), 100);
  });
  server.maxConnections = 10_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `code` (an ES module) under a limit of 256 descriptors; its exit code and output. */
function runLimited(name: string, code: string): Promise<{ code: number; output: string }> {
  const script = path.join(dir, `${name}.mts`);
  fs.writeFileSync(script, code);
  return new Promise((resolve) => {
    execFile(
      "bash",
      ["-c", `ulimit -n ${DESCRIPTORS} && exec "$0" --import tsx "$1"`, process.execPath, script],
      { cwd: path.join(here, "../../.."), timeout: 120_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
    );
  });
}

describe("a fleet process under its descriptor limit", () => {
  it("writes and reads 3,000 machines' files at once through the agent's store", async () => {
    const files = path.join(dir, "store");
    const run = await runLimited(
      "store",
      `import { mkdirSync } from "node:fs";
import { z } from ${JSON.stringify(zodUrl)};
import { readJsonFile, writeFileAtomic } from ${JSON.stringify(storeUrl)};
const names = Array.from({ length: 3000 }, (_, i) => ${JSON.stringify(files)} + "/m" + i);
for (const name of names) mkdirSync(name, { recursive: true });
await Promise.all(names.map((name, i) => writeFileAtomic(name + "/state.json", JSON.stringify({ i }))));
const read = await Promise.all(names.map((name) => readJsonFile(name + "/state.json", z.object({ i: z.number() }))));
if (read.some((r, i) => r?.i !== i)) throw new Error("a file read back wrong");
console.log("wrote and read " + read.length);
`,
    );
    expect(run.output).toContain("wrote and read 3000");
    expect(run.code).toBe(0);

    // The same writes straight through node:fs, with no slots, run out of descriptors.
    const bare = await runLimited(
      "bare-files",
      `import { mkdirSync } from "node:fs";
import { open } from "node:fs/promises";
const names = Array.from({ length: 3000 }, (_, i) => ${JSON.stringify(files)} + "/b" + i);
for (const name of names) mkdirSync(name, { recursive: true });
await Promise.all(names.map(async (name, i) => {
  const handle = await open(name + "/state.json", "w");
  try { await handle.writeFile(JSON.stringify({ i })); } finally { await handle.close(); }
}));
`,
    );
    expect(bare.code).not.toBe(0);
    expect(bare.output).toContain("EMFILE");
  }, 180_000);

  it("sends 1,500 agents' requests at once over the fleet's shared sockets", async () => {
    const requests = (share: boolean) => `import { httpRequest } from ${JSON.stringify(httpUrl)};
import { shareSockets } from ${JSON.stringify(fleetUrl)};
${share ? "shareSockets(64);" : ""}
const answers = await Promise.all(Array.from({ length: 1500 }, () =>
  httpRequest(${JSON.stringify(url)}, { method: "POST", body: "{}", signal: AbortSignal.timeout(60_000) })));
console.log("answered " + answers.filter((a) => a.status === 200).length);
`;
    const shared = await runLimited("shared", requests(true));
    expect(shared.output).toContain("answered 1500");
    expect(shared.code).toBe(0);

    const unbounded = await runLimited("unbounded", requests(false));
    expect(unbounded.code).not.toBe(0);
    expect(unbounded.output).toContain("EMFILE");
  }, 180_000);
});
