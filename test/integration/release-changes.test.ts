// What changed in a release, with real parts: commits made with the `ostree`
// command in an archive repository served over HTTP by the test (files
// added, removed and modified, a directory added and one removed, a file
// replaced by a directory and a directory by a file, a directory whose mode
// changed), synced by the console (metadata-only pulls, dirtrees fetched
// from the source), and the stored changes checked against what `ostree
// diff A B` prints on the full repository. Then the same through the tRPC
// answer, the REST API and the command line in its local and remote modes.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiToken } from "../../server/api-tokens/api-tokens";
import { cliActor } from "../../server/audit/audit";
import { addSource, syncSources } from "../../server/release-sources/sources";
import { listChangedPaths } from "../../server/releases/changes";
import { addRelease, getRelease } from "../../server/releases/releases";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { ed25519Keys, run, TestRepo } from "../helpers/ostree-repo";

const REF = "diffos/x86_64/stable";
const bin = path.resolve(import.meta.dirname, "../../bin/orchard.js");

/** `ostree diff A B` on the full repository, as sorted "X /path" lines. */
function ostreeDiff(repo: string, a: string, b: string): string[] {
  return run("ostree", ["diff", `--repo=${repo}`, a, b])
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const m = /^([ADM])\s+(\/.*)$/.exec(line);
      if (!m) throw new Error(`unexpected ostree diff line: ${line}`);
      return `${m[1]} ${m[2]}`;
    })
    .sort((x, y) => (x.slice(2) < y.slice(2) ? -1 : x.slice(2) > y.slice(2) ? 1 : 0));
}

function write(root: string, rel: string, text: string) {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), text);
}

describe("what changed in a release", () => {
  let tmp: string;
  let app: TestConsole;
  let repo: TestRepo;
  let tree: string;
  let token: string;
  const keys = ed25519Keys();
  const commits: Record<string, string> = {};

  const commit = (version: string, metadata: Record<string, string>) => {
    const args = ["commit", `--repo=${repo.dir}`, "-b", REF, `--tree=dir=${tree}`, "-s", `Build ${version}`, `--add-metadata-string=version=${version}`];
    for (const [k, v] of Object.entries(metadata)) args.push(`--add-metadata-string=${k}=${v}`);
    const checksum = run("ostree", args).trim();
    repo.signEd25519(checksum, keys);
    commits[version] = checksum;
    return checksum;
  };
  const sync = () => syncSources(app.db.prisma, { source: "diffos" }, { workDir: app.sourcesDir, log: app.log });
  const stored = async (version: string) => {
    const release = await app.db.prisma.release.findFirstOrThrow({ where: { version }, select: { id: true } });
    return app.db.prisma.releaseChanges.findUnique({ where: { releaseId: release.id } });
  };
  const storedLines = async (version: string) =>
    ((await stored(version))!.paths as { path: string; change: string }[]).map((p) => `${p.change} ${p.path}`);

  function orchard(args: string[], local: boolean) {
    const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn", ORCHARD_URL: "", ORCHARD_TOKEN: "", ORCHARD_DATA_DIR: path.join(tmp, "cli-data") };
    if (local) env.DATABASE_URL = app.databaseUrl;
    else Object.assign(env, { ORCHARD_URL: app.url, ORCHARD_TOKEN: token, DATABASE_URL: "postgresql://nobody@127.0.0.1:1/none" });
    return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [bin, ...args], { env }, (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
      child.stdin?.end();
    });
  }

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(process.env.TMPDIR ?? os.tmpdir(), "orch-changes-"));
    tree = path.join(tmp, "tree");
    repo = TestRepo.create(path.join(tmp, "repo"));
    await repo.serve();
    app = await startTestConsole({ ORCHARD_SOURCE_POLL_MS: "600000" }, { controller: false });
    token = (await createApiToken(app.db.prisma, cliActor, { name: "reader", role: "viewer" })).token;
  });

  afterAll(async () => {
    await app?.stop();
    await repo?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("stores no changes for the first release of a branch, and says why", async () => {
    write(tree, "etc/hostname", "one\n");
    write(tree, "etc/gone", "bye\n");
    write(tree, "usr/bin/tool", "#!/bin/sh\necho 1\n");
    write(tree, "usr/share/doc/tool/README", "docs\n");
    write(tree, "usr/share/doc/tool/CHANGES", "v1\n");
    write(tree, "var/thing", "a file for now\n");
    write(tree, "opt/old/sub/x", "x\n");
    write(tree, "srv/data/keep", "same\n");
    for (let i = 0; i < 30; i++) write(tree, `usr/lib/mods/m${i}/mod.ko`, `module ${i}\n`);
    commit("1.0", { "build.kernel": "6.1.0", "build.removed-later": "x" });
    await addSource(app.db.prisma, cliActor, {
      name: "diffos",
      branch: REF,
      config: { kind: "ostree", url: repo.url, ref: REF, key: { type: "ed25519", publicKey: keys.publicKey } },
    });
    const [result] = await sync();
    expect(result).toMatchObject({ ok: true, created: ["1.0"] });
    expect(await stored("1.0")).toBeNull();
    const r = await getRelease(app.db.prisma, { version: "1.0" });
    expect(r.changes).toBeNull();
    expect(r.changesAbsent).toMatch(/first release of its branch/);
  });

  it("stores what ostree diff prints between each new release and the one before it, and the metadata diff", async () => {
    // 1.1: modified, removed, added files; an added directory tree; a removed one;
    // a file that became a directory; a directory whose mode changed.
    write(tree, "etc/hostname", "two\n");
    fs.rmSync(path.join(tree, "etc/gone"));
    write(tree, "etc/fresh", "hello\n");
    write(tree, "opt/app/bin/app", "app\n");
    write(tree, "opt/app/share/data.txt", "data\n");
    fs.mkdirSync(path.join(tree, "opt/app/empty"));
    fs.rmSync(path.join(tree, "usr/share/doc"), { recursive: true });
    fs.rmSync(path.join(tree, "var/thing"));
    write(tree, "var/thing/inside", "now a directory\n");
    fs.chmodSync(path.join(tree, "srv/data"), 0o700);
    commit("1.1", { "build.kernel": "6.1.5", "build.added": "yes" });
    // 1.2: a directory that became a file, a file changed deep in an unchanged neighbourhood.
    fs.rmSync(path.join(tree, "opt/app/share"), { recursive: true });
    write(tree, "opt/app/share", "a file now\n");
    write(tree, "usr/lib/mods/m7/mod.ko", "module 7, patched\n");
    commit("1.2", { "build.kernel": "6.1.5", "build.added": "yes" });

    const [result] = await sync();
    expect(result).toMatchObject({ ok: true, created: ["1.1", "1.2"], error: null });

    for (const [from, to] of [
      ["1.0", "1.1"],
      ["1.1", "1.2"],
    ]) {
      const expected = ostreeDiff(repo.dir, commits[from], commits[to]);
      expect(expected.length).toBeGreaterThanOrEqual(2);
      expect(await storedLines(to)).toEqual(expected);
      const row = await stored(to);
      expect(row).toMatchObject({
        baseVersion: from,
        kind: "ostree",
        error: null,
        pathsTruncated: false,
        added: expected.filter((l) => l.startsWith("A")).length,
        removed: expected.filter((l) => l.startsWith("D")).length,
        modified: expected.filter((l) => l.startsWith("M")).length,
      });
    }
    // What the first diff has, spelled out (so that the test does not pass on two empty lists).
    expect(await storedLines("1.1")).toEqual(
      expect.arrayContaining(["M /etc/hostname", "D /etc/gone", "A /etc/fresh", "A /opt/app", "A /opt/app/bin/app", "A /opt/app/empty", "D /usr/share/doc", "M /var/thing", "M /srv/data"]),
    );
    expect(await storedLines("1.1")).not.toContain("A /var/thing/inside");
    expect(await storedLines("1.2")).toEqual(expect.arrayContaining(["M /opt/app/share", "M /usr/lib/mods/m7/mod.ko"]));

    const r11 = await getRelease(app.db.prisma, { version: "1.1", ref: REF });
    expect(r11.changes?.metadata).toEqual({
      added: { "build.added": "yes" },
      removed: { "build.removed-later": "x" },
      changed: { version: { from: "1.0", to: "1.1" }, "build.kernel": { from: "6.1.0", to: "6.1.5" } },
    });
    expect(r11.previous?.version).toBe("1.0");
    expect(r11.changes?.base).toEqual({ id: r11.previous?.id, version: "1.0" });
    expect(r11).toMatchObject({ signatureState: "valid", floor: false, rollingTo: [], changesAbsent: null });

    // The paths, paged and filtered on the server.
    const removed = await listChangedPaths(app.db.prisma, { version: "1.1", change: "D" });
    expect(removed.rows.map((p) => p.path)).toEqual(["/etc/gone", "/usr/share/doc"]);
    const opt = await listChangedPaths(app.db.prisma, { id: r11.id, q: "OPT/APP", pageSize: 2, page: 1 });
    expect(opt.total).toBe((await storedLines("1.1")).filter((l) => l.includes("/opt/app")).length);
    expect(opt.rows).toHaveLength(2);
  });

  it("stores the error of a diff that fails without failing the sync, and keeps the metadata diff", async () => {
    write(tree, "etc/hostname", "three\n");
    commit("1.3", { "build.kernel": "6.2.0", "build.added": "yes" });
    // The repository loses the new commit's root dirtree: the pull needs none of it.
    const ls = run("ostree", ["ls", `--repo=${repo.dir}`, "-C", "-d", commits["1.3"], "/"]).trim().split(/\s+/);
    const dirtree = ls.find((w) => /^[0-9a-f]{64}$/.test(w));
    expect(dirtree).toBeDefined();
    const file = path.join(repo.dir, "objects", dirtree!.slice(0, 2), `${dirtree!.slice(2)}.dirtree`);
    const saved = fs.readFileSync(file);
    fs.rmSync(file);
    try {
      const [result] = await sync();
      expect(result).toMatchObject({ ok: true, created: ["1.3"], error: null });
    } finally {
      fs.writeFileSync(file, saved);
    }
    const row = await stored("1.3");
    expect(row?.error).toMatch(/answered 404 for dirtree/);
    expect(row?.added).toBeNull();
    const r = await getRelease(app.db.prisma, { version: "1.3" });
    expect(r.changes?.files).toBeNull();
    expect(r.changes?.metadata?.changed).toEqual({ version: { from: "1.2", to: "1.3" }, "build.kernel": { from: "6.1.5", to: "6.2.0" } });
  });

  it("says plainly that a release added by hand has no changes", async () => {
    await addRelease(app.db.prisma, cliActor, { ref: REF, checksum: "f".repeat(64), version: "9.9-hand" });
    const r = await getRelease(app.db.prisma, { version: "9.9-hand" });
    expect(r.changes).toBeNull();
    expect(r.changesAbsent).toMatch(/added by hand/);
  });

  it("shows the same release and changes through the REST API and the command line, local and remote", async () => {
    const rest = await fetch(`${app.url}/api/v1/releases/one?version=1.1`, { headers: { authorization: `Bearer ${token}` } });
    expect(rest.status).toBe(200);
    const body = (await rest.json()) as { changes: { files: { added: number } } };
    const row = await stored("1.1");
    expect(body.changes.files.added).toBe(row!.added);
    const paths = await fetch(`${app.url}/api/v1/releases/changed-paths?version=1.1&change=M&pageSize=500`, { headers: { authorization: `Bearer ${token}` } });
    expect(paths.status).toBe(200);
    expect(((await paths.json()) as { rows: { path: string }[] }).rows.map((p) => p.path)).toContain("/etc/hostname");

    const remote = await orchard(["release", "show", "1.1", "--ref", REF, "--paths"], false);
    const local = await orchard(["release", "show", "1.1", "--ref", REF, "--paths"], true);
    expect(remote.stderr).toBe("");
    expect(remote.code).toBe(0);
    expect(local.stdout).toBe(remote.stdout);
    expect(remote.stdout).toMatch(new RegExp(`files: ${row!.added} added, ${row!.removed} removed, ${row!.modified} modified`));
    expect(remote.stdout).toMatch(/metadata: added build\.added; removed build\.removed-later; changed/);
    expect(remote.stdout).toContain("D    /etc/gone");
    const json = await orchard(["release", "show", "1.1", "--json"], false);
    const localJson = await orchard(["release", "show", "1.1", "--json"], true);
    expect(JSON.parse(json.stdout)).toEqual(JSON.parse(localJson.stdout));
    expect(JSON.parse(json.stdout).changes.base.version).toBe("1.0");
  });
});
