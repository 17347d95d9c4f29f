// A release's artifacts in the console: an admin uploads a file on the
// release's page (the browser computes its sha256, the console checks it),
// the table shows the size and the sha256 the console stored, the file
// downloads byte for byte with the signed-in session, and it is removed.
// Screenshot at 1366 px; axe finds no serious violation.
import { createHash, randomBytes } from "node:crypto";
import { expect, test } from "@playwright/test";
import { ADMIN, expectNoSeriousViolations, shot, signIn, trpc } from "./helpers";

const REF = "artifactos/x86_64/stable";

test("an admin uploads an artifact on the release's page, sees its size and sha256, downloads and removes it", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await signIn(page, ADMIN);
  const checksum = createHash("sha256").update("artifactos 1.0").digest("hex");
  const release = await trpc<{ id: string }>(page.request, "releases.add", { ref: REF, version: "1.0", checksum }, "mutation");
  const bytes = randomBytes(300_000);
  const sha256 = createHash("sha256").update(bytes).digest("hex");

  await page.goto(`/releases/${release.id}`);
  const section = page.getByRole("region", { name: "Artifacts" });
  await expect(section.getByText("No artifacts yet.")).toBeVisible();
  await section.getByLabel("File", { exact: true }).setInputFiles({ name: "artifactos-1.0.swu", mimeType: "application/octet-stream", buffer: bytes });
  await section.getByRole("button", { name: "Upload" }).click();
  await expect(section.getByRole("status")).toContainText(`sha256 ${sha256}`);
  const table = section.getByRole("table", { name: "Artifacts of release 1.0" });
  const row = table.getByRole("row", { name: /artifactos-1\.0\.swu/ });
  await expect(row).toContainText("293 KiB");
  await expect(row).toContainText(sha256.slice(0, 8));
  await shot(page, "release-artifacts");
  await expectNoSeriousViolations(page, "/releases/[releaseId] with artifacts");

  // The download link, with the session's cookie: whole and one range.
  const href = await row.getByRole("link", { name: "artifactos-1.0.swu" }).getAttribute("href");
  const whole = await page.request.get(href!);
  expect(whole.status()).toBe(200);
  expect(whole.headers().etag).toBe(`"${sha256}"`);
  expect(Buffer.from(await whole.body()).equals(bytes)).toBe(true);
  const part = await page.request.get(href!, { headers: { range: "bytes=100-199" } });
  expect(part.status()).toBe(206);
  expect(Buffer.from(await part.body()).equals(bytes.subarray(100, 200))).toBe(true);

  page.once("dialog", (dialog) => void dialog.accept());
  await row.getByRole("button", { name: "Remove…" }).click();
  await expect(section.getByRole("status")).toContainText("Removed artifactos-1.0.swu.");
  await expect(section.getByText("No artifacts yet.")).toBeVisible();
  expect(errors).toEqual([]);
});
