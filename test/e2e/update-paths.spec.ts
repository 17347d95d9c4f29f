// Update paths as an operator sets them: a branch's releases in order, a
// floor marked and unmarked, a path blocked and unblocked through the page,
// with what the server says shown as it is. Screenshots at 1366 and 414 px.
import { createHash } from "node:crypto";
import { expect, test } from "@playwright/test";
import { ADMIN, shot, signIn, trpc } from "./helpers";

const REF = "exampleos/x86_64/paths-e2e";
const VERSIONS = ["41.1", "41.2", "41.3"];
const checksum = (version: string) => createHash("sha256").update(`orchard paths e2e ${version}`).digest("hex");

test("an operator marks a floor and blocks a path on a branch's update graph", async ({ page }) => {
  await signIn(page, ADMIN);
  const existing = await trpc<{ version: string }[]>(page.request, "releases.list", { ref: REF });
  for (const version of VERSIONS) {
    if (!existing.some((r) => r.version === version)) {
      await trpc(page.request, "releases.add", { ref: REF, version, checksum: checksum(version) }, "mutation");
    }
  }

  await page.goto(`/releases?ref=${encodeURIComponent(REF)}`);
  await page.getByRole("link", { name: "Update paths" }).click();
  await expect(page).toHaveURL(/\/releases\/paths\?ref=/);
  const graph = page.getByRole("table", { name: `Releases of ${REF}, newest first` });
  await expect(graph.locator("tbody tr")).toHaveCount(3);
  await expect(graph.locator("tbody tr").first()).toContainText("41.3");

  // A floor, with its reason, shown on its row.
  const middle = graph.locator("tbody tr", { hasText: "41.2" });
  await middle.getByRole("button", { name: "Make floor…" }).click();
  const dialog = page.getByRole("dialog", { name: "Make 41.2 a floor?" });
  await dialog.getByLabel(/Reason/).fill("migrates the kiosk database");
  await dialog.getByRole("button", { name: "Make floor" }).click();
  await expect(page.getByRole("status").filter({ hasText: "41.2 is a floor" })).toBeVisible();
  await expect(middle).toContainText(/floor\s*migrates the kiosk database/);

  // A path blocked through the form; a path backwards is refused, naming the field.
  const form = page.getByRole("form", { name: "Block a path" });
  await form.getByLabel("From (one or more)").selectOption(["41.3"]);
  await form.getByLabel("Never straight to").selectOption("41.1");
  await form.getByRole("button", { name: "Block path" }).click();
  await expect(form.getByText("41.3 is not older than 41.1")).toBeVisible();
  await expect(form.getByLabel("From (one or more)")).toHaveAttribute("aria-invalid", "true");
  await form.getByLabel("From (one or more)").selectOption(["41.1"]);
  await form.getByLabel("Never straight to").selectOption("41.3");
  await form.getByLabel("Why (optional)").fill("41.3 needs 41.2's migration");
  await form.getByRole("button", { name: "Block path" }).click();
  const blocked = page.getByRole("table", { name: "Blocked paths" });
  await expect(blocked.locator("tbody tr", { hasText: "41.3 needs 41.2's migration" })).toBeVisible();
  await shot(page, "update-paths");
  await page.setViewportSize({ width: 414, height: 900 });
  await shot(page, "update-paths-414");
  await page.setViewportSize({ width: 1366, height: 900 });

  // Undone again: the page shows what the server now holds.
  await blocked.locator("tbody tr", { hasText: "41.1" }).getByRole("button", { name: "Unblock" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Unblocked 41.1 → 41.3" })).toBeVisible();
  await expect(blocked.getByText("No path is blocked")).toBeVisible();
  await middle.getByRole("button", { name: "Remove floor…" }).click();
  await page.getByRole("dialog", { name: "Remove floor 41.2?" }).getByRole("button", { name: "Remove floor" }).click();
  await expect(middle).not.toContainText("migrates the kiosk database");
});
