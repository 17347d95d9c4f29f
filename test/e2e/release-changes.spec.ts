// What changed in a release, as an operator reads it: three commits made with
// the `ostree` command (files added, removed and modified, a directory added,
// commit metadata changed), read by the console from a source this test
// serves; the release page shows the counts, the paths (filtered on the
// server) and the metadata diff; the new-rollout page shows the same summary
// once the release is chosen. Screenshots at 1366 and 414 px; axe finds no
// serious violation.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { ed25519Keys, run, TestRepo } from "../helpers/ostree-repo";
import { ADMIN, expectNoSeriousViolations, shot, signIn, trpc } from "./helpers";

const REF = "changesos/x86_64/stable";
const keys = ed25519Keys();
let repo: TestRepo;
let tmp: string;

function write(root: string, rel: string, text: string) {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), text);
}

function commit(tree: string, version: string, kernel: string) {
  const checksum = run("ostree", [
    "commit",
    `--repo=${repo.dir}`,
    "-b",
    REF,
    `--tree=dir=${tree}`,
    "-s",
    `ChangesOS ${version}`,
    `--add-metadata-string=version=${version}`,
    `--add-metadata-string=ostree.linux=${kernel}`,
  ]).trim();
  repo.signEd25519(checksum, keys);
}

test.beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(process.env.TMPDIR ?? os.tmpdir(), "orch-e2e-changes-"));
  repo = TestRepo.create(path.join(tmp, "repo"));
  await repo.serve();
  const tree = path.join(tmp, "tree");
  write(tree, "etc/os-release", "VERSION=1\n");
  write(tree, "etc/motd", "hello\n");
  for (let i = 0; i < 12; i++) write(tree, `usr/lib/firmware/fw${i}.bin`, `fw ${i}\n`);
  commit(tree, "3.0", "6.1.100");
  write(tree, "etc/os-release", "VERSION=2\n");
  fs.rmSync(path.join(tree, "etc/motd"));
  for (let i = 0; i < 130; i++) write(tree, `usr/share/app/data/item${String(i).padStart(3, "0")}.json`, `{"item": ${i}}\n`);
  write(tree, "usr/lib/firmware/fw3.bin", "fw 3, fixed\n");
  commit(tree, "3.1", "6.1.120");
});

test.afterAll(async () => {
  await repo?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test("a release's page and the new-rollout page show what changed since the previous release", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await signIn(page, ADMIN);
  await trpc(page.request, "sources.add", {
    name: "changesos",
    branch: REF,
    config: { kind: "ostree", url: repo.url, ref: REF, key: { type: "ed25519", publicKey: keys.publicKey } },
    enabled: false,
  }, "mutation");
  const [synced] = await trpc<{ ok: boolean; created: string[] }[]>(page.request, "sources.sync", { source: "changesos" }, "mutation");
  expect(synced).toMatchObject({ ok: true, created: ["3.0", "3.1"] });

  // From the releases table to the release's page.
  await page.goto(`/releases?ref=${encodeURIComponent(REF)}`);
  await page.getByRole("row", { name: /3\.1/ }).getByRole("link", { name: "3.1", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: "3.1" })).toBeVisible();
  const changes = page.locator("section.changes");
  await expect(changes.getByRole("heading", { name: "What changed since 3.0" })).toBeVisible();
  // 130 files and the 3 directories above them added (as ostree diff counts), one removed, two modified.
  await expect(changes.getByText("133 added")).toBeVisible();
  await expect(changes.getByText("1 removed")).toBeVisible();
  await expect(changes.getByText("2 modified")).toBeVisible();
  const metadata = changes.getByRole("table", { name: "Commit metadata changes" });
  await expect(metadata.getByRole("row", { name: /ostree\.linux.*6\.1\.100.*6\.1\.120/ })).toBeVisible();
  await expect(metadata.getByRole("row", { name: /version.*3\.0.*3\.1/ })).toBeVisible();

  // The paths: paged (100 a page) and filtered by the server.
  const paths = page.getByRole("table", { name: "Changed paths" });
  await expect(paths.getByRole("row")).toHaveCount(101);
  await page.getByRole("combobox", { name: /^Kind of change/ }).selectOption("M");
  await expect(paths.getByRole("row")).toHaveCount(3);
  await expect(paths.getByText("/usr/lib/firmware/fw3.bin")).toBeVisible();
  await page.getByRole("combobox", { name: /^Kind of change/ }).selectOption("");
  await page.getByLabel("Path contains", { exact: true }).fill("motd");
  await expect(paths.getByRole("row")).toHaveCount(2);
  await expect(paths.getByText("/etc/motd")).toBeVisible();
  await page.getByLabel("Path contains", { exact: true }).fill("");
  await expect(paths.getByRole("row")).toHaveCount(101);
  await expectNoSeriousViolations(page, "/releases/[id]");
  await shot(page, "release-changes-1366");
  await page.setViewportSize({ width: 414, height: 900 });
  await shot(page, "release-changes-414");
  await page.setViewportSize({ width: 1366, height: 900 });

  // The first release of the branch says why it has nothing to show.
  await page.getByRole("link", { name: "3.0" }).first().click();
  await expect(page.getByRole("heading", { level: 1, name: "3.0" })).toBeVisible();
  await expect(page.getByText(/first release of its branch/).first()).toBeVisible();

  // The new-rollout page shows the chosen release's changes, with a link to its page.
  await page.goto(`/rollouts/new?version=3.1&ref=${encodeURIComponent(REF)}`);
  const summary = page.locator("section.changes");
  await expect(summary.getByRole("heading", { name: "What changed since 3.0" })).toBeVisible();
  await expect(summary.getByText("133 added")).toBeVisible();
  await expect(summary.getByRole("row", { name: /ostree\.linux/ })).toBeVisible();
  await expectNoSeriousViolations(page, "/rollouts/new");
  await shot(page, "new-rollout-changes-1366");
  await summary.getByRole("link", { name: /every changed path/ }).click();
  await expect(page.getByRole("heading", { level: 1, name: "3.1" })).toBeVisible();
  expect(errors).toEqual([]);
});
