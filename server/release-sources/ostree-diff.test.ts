import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { encode } from "./gvariant";
import { diffCommits, diffTrees, type ObjectFetcher, OstreeDiffError } from "./ostree-diff";

/** An in-memory object store of dirtrees built from nested objects: a string is a file's content, an object a directory. */
type Spec = { [name: string]: string | Spec };

class Store {
  objects = new Map<string, Buffer>();
  requests: string[] = [];
  put(bytes: Buffer): string {
    const checksum = createHash("sha256").update(bytes).digest("hex");
    this.objects.set(checksum, bytes);
    return checksum;
  }
  /** The dirtree of `spec`; `meta` names a directory's dirmeta (its mode, say). */
  tree(spec: Spec, meta: Record<string, string> = {}, prefix = ""): string {
    const names = Object.keys(spec).sort();
    const files = names.filter((n) => typeof spec[n] === "string").map((n) => [n, sha(spec[n] as string)]);
    const dirs = names
      .filter((n) => typeof spec[n] !== "string")
      .map((n) => [n, Buffer.from(this.tree(spec[n] as Spec, meta, `${prefix}/${n}`), "hex"), sha(meta[`${prefix}/${n}`] ?? "0755")]);
    return this.put(encode("(a(say)a(sayay))", [files, dirs]));
  }
  commit(spec: Spec, meta: Record<string, string> = {}): string {
    const root = Buffer.from(this.tree(spec, meta), "hex");
    return this.put(encode("(a{sv}aya(say)sstayay)", [{}, Buffer.alloc(0), [], "subject", "", 0n, root, sha("0755")]));
  }
  fetch: ObjectFetcher = async (checksum) => {
    this.requests.push(checksum);
    const bytes = this.objects.get(checksum);
    if (!bytes) throw new Error(`no object ${checksum}`);
    return bytes;
  };
}

function sha(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

const lines = (diff: { paths: { path: string; change: string }[] }) => diff.paths.map((p) => `${p.change} ${p.path}`);

describe("diffCommits", () => {
  it("lists files added, removed and modified, as ostree diff does", async () => {
    const store = new Store();
    const a = store.commit({ etc: { hostname: "a", gone: "x" }, usr: { bin: { sh: "sh" } } });
    const b = store.commit({ etc: { hostname: "b", fresh: "y" }, usr: { bin: { sh: "sh" } } });
    const diff = await diffCommits(store.fetch, a, b);
    expect(lines(diff)).toEqual(["A /etc/fresh", "D /etc/gone", "M /etc/hostname"]);
    expect([diff.added, diff.removed, diff.modified]).toEqual([1, 1, 1]);
  });

  it("lists an added directory and everything below it, and a removed directory as one line", async () => {
    const store = new Store();
    const a = store.commit({ old: { a: "1", deep: { b: "2" } }, keep: "k" });
    const b = store.commit({ new: { c: "3", deep: { d: "4", empty: {} } }, keep: "k" });
    expect(lines(await diffCommits(store.fetch, a, b))).toEqual([
      "A /new",
      "A /new/c",
      "A /new/deep",
      "A /new/deep/d",
      "A /new/deep/empty",
      "D /old",
    ]);
  });

  it("counts a file that became a directory (and back) as modified once, without listing what is below", async () => {
    const store = new Store();
    const a = store.commit({ x: "file", y: { inside: "1" } });
    const b = store.commit({ x: { inside: "2" }, y: "file" });
    const diff = await diffCommits(store.fetch, a, b);
    expect(lines(diff)).toEqual(["M /x", "M /y"]);
    expect(diff.modified).toBe(2);
  });

  it("counts a directory whose metadata changed as modified, and walks it only when its contents differ", async () => {
    const store = new Store();
    const a = store.commit({ srv: { data: "1" }, opt: { tool: "t" } });
    const b = store.commit({ srv: { data: "1" }, opt: { tool: "t2" } }, { "/srv": "0700" });
    expect(lines(await diffCommits(store.fetch, a, b))).toEqual(["M /opt/tool", "M /srv"]);
  });

  it("fetches no dirtree of a subtree that did not change, and nothing below the roots of equal commits", async () => {
    const store = new Store();
    const big: Spec = {};
    for (let i = 0; i < 50; i++) big[`d${i}`] = { f: String(i) };
    const a = store.commit({ usr: big, etc: { motd: "hi" } });
    const b = store.commit({ usr: big, etc: { motd: "hello" } });
    const diff = await diffCommits(store.fetch, a, b);
    expect(lines(diff)).toEqual(["M /etc/motd"]);
    // two commits, two roots, two /etc dirtrees: none of /usr's 51
    expect(diff.fetched).toBe(4);
    expect(store.requests).toHaveLength(6);
    const same = await diffCommits(store.fetch, a, a);
    expect(same.paths).toEqual([]);
    expect(same.fetched).toBe(0);
  });

  it("refuses an object that does not match its checksum", async () => {
    const store = new Store();
    const a = store.commit({ f: "1" });
    const b = store.commit({ f: "2" });
    const bad: ObjectFetcher = async (checksum, kind) => (kind === "dirtree" ? encode("(a(say)a(sayay))", [[], []]) : store.fetch(checksum, kind));
    await expect(diffCommits(bad, a, b)).rejects.toThrow(OstreeDiffError);
    await expect(diffCommits(bad, a, b)).rejects.toThrow(/does not match its checksum/);
  });

  it("diffs two trees directly (an empty tree to one with files)", async () => {
    const store = new Store();
    const empty = store.tree({});
    const full = store.tree({ a: "1", b: { c: "2" } });
    expect(lines(await diffTrees(store.fetch, empty, full))).toEqual(["A /a", "A /b", "A /b/c"]);
    expect(lines(await diffTrees(store.fetch, full, empty))).toEqual(["D /a", "D /b"]);
  });
});
