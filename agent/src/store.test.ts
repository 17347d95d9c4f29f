import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { StateFile, writeFileAtomic } from "./store.ts";
import { tempDir } from "./testing/test-agent.ts";

// A crash between write and rename is a rename that never happens: make it fail on demand.
const crashBeforeRename = vi.hoisted(() => ({ armed: false }));
vi.mock("node:fs/promises", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:fs/promises")>();
  return {
    ...actual,
    rename: async (from: string, to: string) => {
      if (crashBeforeRename.armed) throw Object.assign(new Error("simulated crash"), { code: "EIO" });
      return actual.rename(from, to);
    },
  };
});

afterEach(() => {
  crashBeforeRename.armed = false;
});

const schema = z.object({ seq: z.number() });

describe("state on disk", () => {
  it("keeps the old state when the process dies between write and rename", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "state.json");
    const store = await StateFile.create(file, { seq: 1 });

    crashBeforeRename.armed = true;
    await expect(store.update((s) => void (s.seq = 2))).rejects.toThrow("simulated crash");
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual({ seq: 1 });

    // A real crash would leave the temp file behind: the next start ignores and removes it.
    await writeFile(`${file}.tmp-12345-deadbeef`, '{"seq": 99');
    crashBeforeRename.armed = false;
    const reopened = await StateFile.open(file, schema);
    expect(reopened?.state).toEqual({ seq: 1 });
    expect(await readdir(dir)).toEqual(["state.json"]);
  });

  it("writes changes in order, each one whole", async () => {
    const file = path.join(await tempDir(), "state.json");
    const store = await StateFile.create(file, { seq: 0 });
    await Promise.all(Array.from({ length: 20 }, () => store.update((s) => void (s.seq += 1))));
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual({ seq: 20 });
  });

  it("writes a private file and reports a damaged one by name", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "state.json");
    await writeFileAtomic(file, "{}");
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    await writeFile(file, '{"seq": "one"}');
    await expect(StateFile.open(file, schema)).rejects.toThrow(`${file}: seq: `);
    expect(await StateFile.open(path.join(dir, "absent.json"), schema)).toBeNull();
  });
});
