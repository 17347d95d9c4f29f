// Release sources as an operator uses them: an ostree repository this test
// makes with the `ostree` command and serves on 127.0.0.1, added on the
// Release sources page with its ed25519 key; the console reads it with the
// real `ostree` and the releases page shows each commit with its signature
// state and the server's reason; a wrongly signed release cannot be rolled
// out. Screenshots at 1366 and 414 px; axe finds no serious violation.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { ed25519Keys, TestRepo } from "../helpers/ostree-repo";
import { ADMIN, expectNoSeriousViolations, shot, signIn } from "./helpers";

const REF = "e2eos/x86_64/stable";
const keys = ed25519Keys();
const otherKeys = ed25519Keys();
let repo: TestRepo;
let tmp: string;

test.beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "orch-e2e-src-"));
  repo = TestRepo.create(path.join(tmp, "repo"));
  await repo.serve();
  const tree = path.join(tmp, "tree");
  const good = repo.commit(REF, { version: "2026.12.1", subject: "December build", body: "Kernel 6.1.120, systemd 252.33", treeDir: tree });
  repo.signEd25519(good, keys);
  const wrong = repo.commit(REF, { version: "2026.12.2", subject: "Built on a laptop", treeDir: tree });
  repo.signEd25519(wrong, otherKeys);
  repo.commit(REF, { version: "2026.12.3", subject: "Nobody signed this", treeDir: tree });
});

test.afterAll(async () => {
  await repo?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test("an operator adds an ostree source and sees its releases with their signatures", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await signIn(page, ADMIN);
  await page.goto("/releases");
  await page.getByRole("link", { name: "Release sources" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Release sources" })).toBeVisible();
  await page.getByRole("button", { name: "Add source" }).click();
  await page.getByLabel("Name").fill("e2eos-stable");
  await page.getByLabel("Branch").fill(REF);
  await page.getByLabel("Repository URL").fill(repo.url);
  // A key that is not one: the server names the field.
  await page.getByLabel("ed25519 public key").fill("not-a-key");
  await page.getByRole("button", { name: "Add source" }).last().click();
  await expect(page.getByText(/expected an ed25519 public key/)).toBeVisible();
  await expect(page.getByLabel("ed25519 public key")).toHaveAttribute("aria-invalid", "true");
  await page.getByLabel("ed25519 public key").fill(keys.publicKey);
  await page.getByRole("button", { name: "Add source" }).last().click();
  await expect(page.getByText(/Added source e2eos-stable/)).toBeVisible();
  const row = page.getByRole("row", { name: /e2eos-stable/ });
  await expect(row.getByText("In sync")).toBeVisible({ timeout: 30_000 });
  await expect(row.getByText("3 release(s)")).toBeVisible();
  await expectNoSeriousViolations(page, "/releases/sources");
  await shot(page, "release-sources-1366");
  await page.setViewportSize({ width: 414, height: 900 });
  await shot(page, "release-sources-414");
  await page.setViewportSize({ width: 1366, height: 900 });

  await page.goto(`/releases?ref=${encodeURIComponent(REF)}`);
  const signed = page.getByRole("row", { name: /2026\.12\.1/ });
  await expect(signed.getByText("Signed")).toBeVisible();
  await expect(signed.getByRole("link", { name: "Roll out…" })).toBeVisible();
  await expect(signed.getByText("from e2eos-stable")).toBeVisible();
  const wrong = page.getByRole("row", { name: /2026\.12\.2/ });
  await expect(wrong.getByText("Wrong signature")).toBeVisible();
  await expect(wrong.getByText(/not made by the source's key/)).toBeVisible();
  await expect(wrong.getByRole("link", { name: "Roll out…" })).toHaveCount(0);
  const unsigned = page.getByRole("row", { name: /2026\.12\.3/ });
  await expect(unsigned.getByText("Unsigned", { exact: true })).toBeVisible();
  await expectNoSeriousViolations(page, "/releases");
  await shot(page, "releases-signatures-1366");
  await page.setViewportSize({ width: 414, height: 900 });
  await shot(page, "releases-signatures-414");

  // A failing source shows its error and its next attempt.
  await page.setViewportSize({ width: 1366, height: 900 });
  repo.failing = true;
  await page.goto("/releases/sources");
  await page.getByRole("row", { name: /e2eos-stable/ }).getByRole("button", { name: "Sync now" }).click();
  await expect(page.getByRole("alert").filter({ hasText: /e2eos-stable: failed: .*500/ })).toBeVisible();
  await expect(page.getByRole("row", { name: /e2eos-stable/ }).getByText("Failing")).toBeVisible();
  await shot(page, "release-sources-failing-1366");
  repo.failing = false;
  expect(errors).toEqual([]);
});
