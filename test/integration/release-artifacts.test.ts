// Release artifacts on a real console: uploaded through the REST API's
// streaming route and the command line (remote and local), checked by sha256
// (a wrong one stores nothing: no row, no file), refused over the size limit,
// downloaded with HEAD and single ranges byte for byte, refused by role and
// ring scope, listed and removed through the procedures, audited.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createApiToken } from "../../server/api-tokens/api-tokens";
import { cliActor } from "../../server/audit/audit";
import { addRelease } from "../../server/releases/releases";
import { createRing } from "../../server/rings/rings";
import { hex } from "../helpers/agent-http";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { REF } from "../helpers/sim-machines";

vi.setConfig({ testTimeout: 60_000 });

const bin = path.resolve(import.meta.dirname, "../../bin/orchard.js");
const MAX = 64 * 1024;
let app: TestConsole;
let releaseId: string;
const tokens = { admin: "", operator: "", viewer: "", lab: "" };
const body = randomBytes(40_000);
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

function orchard(args: string[], mode: { token?: string; local?: boolean } = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn", ORCHARD_URL: "", ORCHARD_TOKEN: "" };
  if (mode.local) Object.assign(env, { DATABASE_URL: app.databaseUrl, ORCHARD_DATA_DIR: app.dataDir, ORCHARD_ARTIFACT_MAX_BYTES: String(MAX) });
  else Object.assign(env, { ORCHARD_URL: app.url, ORCHARD_TOKEN: mode.token ?? tokens.operator, DATABASE_URL: "postgresql://nobody@127.0.0.1:1/none" });
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { env }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}

const url = (name: string, id = releaseId) => `${app.url}/api/v1/releases/${id}/artifacts/${name}`;
function put(name: string, data: Buffer, options: { token?: string; sha?: string | null; type?: string } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${options.token ?? tokens.operator}`, "content-type": options.type ?? "application/octet-stream" };
  if (options.sha !== null) headers["x-checksum-sha256"] = options.sha ?? sha256(data);
  return fetch(url(name), { method: "PUT", headers, body: new Uint8Array(data) });
}
const get = (name: string, headers: Record<string, string> = {}, method = "GET", token = tokens.viewer) =>
  fetch(url(name), { method, headers: { authorization: `Bearer ${token}`, ...headers } });

/** What the artifacts folder holds (every file, the temporary ones too). */
function stored(): string[] {
  const dir = path.join(app.dataDir, "artifacts");
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
}

beforeAll(async () => {
  app = await startTestConsole({ ORCHARD_ARTIFACT_MAX_BYTES: String(MAX) });
  const db = app.db.prisma;
  await createRing(db, cliActor, { name: "lab", branch: REF });
  releaseId = (await addRelease(db, cliActor, { ref: REF, version: "1", checksum: hex("1") })).id;
  tokens.admin = (await createApiToken(db, cliActor, { name: "root", role: "admin" })).token;
  tokens.operator = (await createApiToken(db, cliActor, { name: "ci", role: "operator" })).token;
  tokens.viewer = (await createApiToken(db, cliActor, { name: "wall", role: "viewer" })).token;
  tokens.lab = (await createApiToken(db, cliActor, { name: "lab-ops", role: "operator", rings: ["lab"] })).token;
});

afterAll(async () => {
  await app?.stop();
});

describe("release artifacts", () => {
  it("stores an upload whose sha256 matches, with its sizes and three digests, audited", async () => {
    const res = await put("image.swu", body, { type: "application/x-swupdate" });
    expect(res.status, await res.clone().text()).toBe(201);
    const got = (await res.json()) as Record<string, unknown>;
    expect(got).toMatchObject({
      name: "image.swu",
      size: body.length,
      sha256: sha256(body),
      sha1: createHash("sha1").update(body).digest("hex"),
      md5: createHash("md5").update(body).digest("hex"),
      contentType: "application/x-swupdate",
      uploadedBy: "token:ci",
    });
    expect(stored()).toEqual([got.id]);
    expect(fs.readFileSync(path.join(app.dataDir, "artifacts", String(got.id)))).toEqual(body);
    const audit = await app.db.prisma.auditLog.findFirstOrThrow({ where: { action: "release.artifact.add" } });
    expect(audit).toMatchObject({ actorLabel: "token:ci", targetType: "release", targetId: `${REF}@1`, after: { name: "image.swu", size: body.length, sha256: sha256(body) } });
    // The same name again: refused, naming it.
    const again = await put("image.swu", body);
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ code: "CONFLICT", field: "name" });
  });

  it("stores nothing for a wrong sha256, a missing one, a bad name, an unknown release or an oversize body", async () => {
    const before = stored();
    const rows = await app.db.prisma.releaseArtifact.count();
    const wrong = await put("wrong.bin", body, { sha: sha256(Buffer.from("something else")) });
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ status: 400, code: "INVALID", field: "sha256" });
    const missing = await put("missing.bin", body, { sha: null });
    expect(await missing.json()).toMatchObject({ status: 400, field: "sha256" });
    const badSha = await put("bad.bin", body, { sha: "xyz" });
    expect(await badSha.json()).toMatchObject({ status: 400, field: "sha256" });
    const badName = await put(".hidden", body);
    expect(await badName.json()).toMatchObject({ status: 400, field: "name" });
    const unknown = await fetch(url("x.bin", "nope"), { method: "PUT", headers: { authorization: `Bearer ${tokens.operator}`, "x-checksum-sha256": sha256(body) }, body: new Uint8Array(body) });
    expect(unknown.status).toBe(404);
    const nul = await fetch(url("x.bin", "%00"), { headers: { authorization: `Bearer ${tokens.viewer}` } });
    expect(await nul.json()).toMatchObject({ status: 400, field: "releaseId" });
    // Over the limit, announced (Content-Length) and not announced (chunked).
    const big = randomBytes(MAX + 1);
    const over = await put("big.bin", big);
    expect(over.status).toBe(413);
    expect(await over.json()).toMatchObject({ status: 413, field: "size" });
    const chunked = await fetch(url("big.bin"), {
      method: "PUT",
      headers: { authorization: `Bearer ${tokens.operator}`, "x-checksum-sha256": sha256(big) },
      body: new ReadableStream({
        start(controller) {
          for (let at = 0; at < big.length; at += 8192) controller.enqueue(big.subarray(at, at + 8192));
          controller.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(stored()).toEqual(before);
    expect(await app.db.prisma.releaseArtifact.count()).toBe(rows);
  });

  it("serves GET, HEAD and single ranges byte for byte, with the sha256 as ETag", async () => {
    const whole = await get("image.swu");
    expect(whole.status).toBe(200);
    expect(whole.headers.get("etag")).toBe(`"${sha256(body)}"`);
    expect(whole.headers.get("content-length")).toBe(String(body.length));
    expect(whole.headers.get("accept-ranges")).toBe("bytes");
    expect(whole.headers.get("content-type")).toBe("application/x-swupdate");
    expect(Buffer.from(await whole.arrayBuffer())).toEqual(body);

    const head = await get("image.swu", {}, "HEAD");
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(body.length));
    expect(head.headers.get("etag")).toBe(`"${sha256(body)}"`);
    expect((await head.arrayBuffer()).byteLength).toBe(0);

    const cases: [string, number, number][] = [
      ["bytes=0-99", 0, 99],
      ["bytes=1000-", 1000, body.length - 1],
      ["bytes=-500", body.length - 500, body.length - 1],
      ["bytes=39990-50000", 39990, body.length - 1],
    ];
    for (const [range, start, end] of cases) {
      const part = await get("image.swu", { range });
      expect(part.status, range).toBe(206);
      expect(part.headers.get("content-range")).toBe(`bytes ${start}-${end}/${body.length}`);
      expect(part.headers.get("content-length")).toBe(String(end - start + 1));
      expect(Buffer.from(await part.arrayBuffer())).toEqual(body.subarray(start, end + 1));
    }
    const headRange = await get("image.swu", { range: "bytes=10-19" }, "HEAD");
    expect(headRange.status).toBe(206);
    expect(headRange.headers.get("content-length")).toBe("10");

    const unsatisfiable = await get("image.swu", { range: `bytes=${body.length}-` });
    expect(unsatisfiable.status).toBe(416);
    expect(unsatisfiable.headers.get("content-range")).toBe(`bytes */${body.length}`);
    await unsatisfiable.arrayBuffer();

    const cached = await get("image.swu", { "if-none-match": `"${sha256(body)}"` });
    expect(cached.status).toBe(304);
    const gone = await get("nothing.bin");
    expect(gone.status).toBe(404);
    expect(await gone.json()).toMatchObject({ code: "NOT_FOUND" });
  });

  it("refuses by role and ring scope, and without a token", async () => {
    const viewer = await put("v.bin", body, { token: tokens.viewer });
    expect(viewer.status).toBe(403);
    const lab = await put("l.bin", body, { token: tokens.lab });
    expect(lab.status).toBe(403);
    const anonymous = await fetch(url("image.swu"));
    expect(anonymous.status).toBe(401);
    // A ring-scoped operator may read (releases concern no ring) but not remove.
    expect((await get("image.swu", {}, "HEAD", tokens.lab)).status).toBe(200);
    const removeByLab = await fetch(url("image.swu"), { method: "DELETE", headers: { authorization: `Bearer ${tokens.lab}` } });
    expect(removeByLab.status).toBe(403);
    const removeByViewer = await fetch(url("image.swu"), { method: "DELETE", headers: { authorization: `Bearer ${tokens.viewer}` } });
    expect(removeByViewer.status).toBe(403);
    expect(await app.db.prisma.releaseArtifact.count({ where: { name: "image.swu" } })).toBe(1);
  });

  it("lists and removes through the procedures (REST), the file and row gone, audited", async () => {
    const list = await fetch(`${app.url}/api/v1/releases/${releaseId}/artifacts`, { headers: { authorization: `Bearer ${tokens.viewer}` } });
    expect(list.status).toBe(200);
    expect(((await list.json()) as { name: string }[]).map((a) => a.name)).toEqual(["image.swu"]);
    const removed = await fetch(`${url("image.swu")}?reason=superseded`, { method: "DELETE", headers: { authorization: `Bearer ${tokens.operator}` } });
    expect(removed.status, await removed.clone().text()).toBe(200);
    expect(await removed.json()).toMatchObject({ removed: { name: "image.swu" } });
    expect(stored()).toEqual([]);
    expect(await app.db.prisma.releaseArtifact.count()).toBe(0);
    const audit = await app.db.prisma.auditLog.findFirstOrThrow({ where: { action: "release.artifact.remove" } });
    expect(audit).toMatchObject({ actorLabel: "token:ci", targetId: `${REF}@1`, reason: "superseded", before: { name: "image.swu" } });
  });

  it("the command line adds, lists and removes, remote and local, with --json", async () => {
    const dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", "artifact-cli-"));
    const file = path.join(dir, "bundle.raucb");
    fs.writeFileSync(file, body);
    const added = await orchard(["release", "artifact", "add", "1", file, "--json"]);
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ name: "bundle.raucb", size: body.length, sha256: sha256(body), uploadedBy: "token:ci" });
    const listed = await orchard(["release", "artifact", "list", "1", "--json"], { token: tokens.viewer });
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ name: "bundle.raucb", sha256: sha256(body) }]);
    const text = await orchard(["release", "artifact", "list", "1"], { token: tokens.viewer });
    expect(text.stdout).toContain(sha256(body));
    const byViewer = await orchard(["release", "artifact", "add", "1", file, "--name", "other.raucb"], { token: tokens.viewer });
    expect(byViewer.code).toBe(1);
    expect(byViewer.stderr).toContain("operator");

    // Local: on the console's database and data folder, audited as cli:<login>.
    const local = await orchard(["release", "artifact", "add", "1", file, "--name", "local.raucb", "--json"], { local: true });
    expect(local.code, local.stderr).toBe(0);
    expect(JSON.parse(local.stdout)).toMatchObject({ name: "local.raucb", sha256: sha256(body) });
    expect((await get("local.raucb")).status).toBe(200);
    const tooBig = path.join(dir, "big.bin");
    fs.writeFileSync(tooBig, randomBytes(MAX + 1));
    const refused = await orchard(["release", "artifact", "add", "1", tooBig, "--json"], { local: true });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("size");
    const remoteRefused = await orchard(["release", "artifact", "add", "1", tooBig]);
    expect(remoteRefused.code).toBe(2);

    for (const name of ["bundle.raucb", "local.raucb"]) {
      const rm = await orchard(["release", "artifact", "rm", "1", name, "--json"]);
      expect(rm.code, rm.stderr).toBe(0);
    }
    expect(stored()).toEqual([]);
    const adds = await app.db.prisma.auditLog.findMany({ where: { action: "release.artifact.add", after: { path: ["name"], string_contains: "raucb" } }, select: { actorLabel: true } });
    expect(adds.map((a) => a.actorLabel.split(":")[0]).sort()).toEqual(["cli", "token"]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
