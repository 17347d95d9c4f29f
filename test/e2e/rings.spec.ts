// The rings page's order, rename and remove, as an admin uses them: move a
// ring up, rename one (a taken name is refused on its field), see why a ring
// with machines cannot be removed (the server's words), and remove empty
// ones. Leaves the demo fleet's rings as it found them. Screenshots at 1366
// and 414 px in test-results/screenshots/.
import { expect, type Page, test } from "@playwright/test";
import { ADMIN, ensureFleet, shot, shotPhone, signIn, trpc } from "./helpers";

test.describe.configure({ mode: "serial" });

const REF = "exampleos/x86_64/stable";

const table = (page: Page) => page.getByRole("table", { name: "Rings in rollout order" });
const names = async (page: Page) => (await table(page).locator("tbody tr td:first-child strong").allTextContents()).map((t) => t.trim());
const row = (page: Page, name: string) => table(page).locator("tbody tr").filter({ has: page.locator("strong", { hasText: new RegExp(`^${name}$`) }) });

test("an admin reorders, renames and removes rings, and is told why a ring with machines stays", async ({ page, baseURL }) => {
  await signIn(page, ADMIN);
  await ensureFleet(page.request, baseURL!);
  for (const name of ["e2e-lab", "e2e-spare"]) await trpc(page.request, "rings.create", { name, branch: REF }, "mutation");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Rings" }).click();
  await expect(row(page, "e2e-spare")).toHaveCount(1);
  const before = await names(page);
  expect(before.slice(-2)).toEqual(["e2e-lab", "e2e-spare"]);

  // The first ring cannot move up, the last cannot move down: the server says so.
  await expect(page.getByRole("button", { name: `Move ${before[0]} up` })).toBeDisabled();
  await expect(page.getByRole("button", { name: "Move e2e-spare down" })).toBeDisabled();
  await page.getByRole("button", { name: "Move e2e-spare up" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Rollout order:" })).toContainText("e2e-spare → e2e-lab");
  await expect.poll(() => names(page).then((n) => n.slice(-2))).toEqual(["e2e-spare", "e2e-lab"]);

  // Rename: a taken name is refused on the field, then a free one is taken.
  await row(page, "e2e-lab").getByRole("button", { name: "Rename…" }).click();
  const rename = page.getByRole("dialog", { name: "Rename ring e2e-lab" });
  await rename.getByLabel("New name").fill(before[0]);
  await rename.getByRole("button", { name: "Rename" }).click();
  await expect(rename.getByRole("alert")).toContainText(`name: ring ${before[0]} already exists`);
  await expect(rename.getByLabel("New name")).toHaveAttribute("aria-invalid", "true");
  await rename.getByLabel("New name").fill("e2e-old-lab");
  await rename.getByRole("button", { name: "Rename" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Renamed ring e2e-lab to e2e-old-lab" })).toBeVisible();
  await expect(row(page, "e2e-old-lab")).toHaveCount(1);
  await shot(page, "rings-actions");
  await page.setViewportSize({ width: 414, height: 900 });
  await shot(page, "rings-actions-414");
  await page.setViewportSize({ width: 1366, height: 900 });

  // A ring with machines: the dialog gives the server's reason and no way to confirm.
  await row(page, before[0]).getByRole("button", { name: "Remove…" }).click();
  const refused = page.getByRole("dialog", { name: `Ring ${before[0]} cannot be removed` });
  await expect(refused).toContainText(/it has \d+ machines?: move or retire (it|them) first/);
  await expect(refused.getByRole("button", { name: "Remove" })).toBeDisabled();
  await shot(page, "rings-remove-refused");
  await page.setViewportSize({ width: 414, height: 900 });
  await shot(page, "rings-remove-refused-414");
  await page.setViewportSize({ width: 1366, height: 900 });
  await refused.getByRole("button", { name: "Cancel" }).click();

  // Empty rings go; the demo fleet's rings are as they were.
  for (const name of ["e2e-old-lab", "e2e-spare"]) {
    await row(page, name).getByRole("button", { name: "Remove…" }).click();
    const dialog = page.getByRole("dialog", { name: `Remove ring ${name}?` });
    await dialog.getByRole("button", { name: "Remove" }).click();
    await expect(page.getByRole("status").filter({ hasText: `Removed ring ${name}` })).toBeVisible();
    await expect(row(page, name)).toHaveCount(0);
  }
  expect(await names(page)).toEqual(before.slice(0, -2));
});

test("an operator turns a ring's follow mode on with its default rollout policy, and a bad wave list is refused on its field", async ({ page, baseURL }) => {
  await signIn(page, ADMIN);
  await ensureFleet(page.request, baseURL!);
  await trpc(page.request, "rings.create", { name: "e2e-follow", branch: REF }, "mutation");
  await page.goto("/rings");
  const ring = row(page, "e2e-follow");
  await expect(ring).toContainText("no follow");
  await expect(ring).toContainText("waves 10/50/100% after one");

  await ring.getByRole("button", { name: "Policy…" }).click();
  const policy = page.getByRole("dialog", { name: "Policy of ring e2e-follow" });
  await policy.getByLabel(/^Follow exampleos/).check();
  await expect(policy.getByLabel(/waits for an operator's approval/)).toBeChecked();
  await policy.getByLabel("Waves (% of the ring)").fill("50, 20");
  await policy.getByRole("button", { name: "Save policy" }).click();
  await expect(policy.getByRole("alert")).toContainText("waves must grow");
  await expect(policy.getByLabel("Waves (% of the ring)")).toHaveAttribute("aria-invalid", "true");
  await shotPhone(page, "ring-follow-policy-refused");
  await policy.getByLabel("Waves (% of the ring)").fill("20, 100");
  await policy.getByLabel("Soak (minutes)").fill("10");
  await policy.getByLabel("One machine alone first").uncheck();
  await policy.getByRole("button", { name: "Save policy" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Saved the policy of ring e2e-follow" })).toBeVisible();
  await expect(ring).toContainText(`follows ${REF} · approval before it`);
  await expect(ring).toContainText("waves 20/100%");
  await expect(ring).not.toContainText("after one");
  await expect(ring).toContainText("soak 10 min");
  await shotPhone(page, "rings-follow");

  // The server keeps it: the same ring through the API, then it goes.
  const listed = (await trpc(page.request, "rings.list", undefined)) as { name: string; follow: boolean; rolloutPolicy: { waves: number[]; soakSeconds: number; singleFirst: boolean } }[];
  expect(listed.find((r) => r.name === "e2e-follow")).toMatchObject({ follow: true, rolloutPolicy: { waves: [20, 100], soakSeconds: 600, singleFirst: false } });
  await trpc(page.request, "rings.remove", { ring: "e2e-follow" }, "mutation");
});
