// The machine page's labels and the machines page's "every machine matching
// the filter", as operators use them: an operator of one ring adds, changes
// and removes a machine's labels (a bad name is refused, naming the label; a
// failure domain says who sets it), a viewer sees no edit control; and a bulk
// pin of every machine a filter matches, chosen on a page of 10, reaches all
// of them and no other. Screenshots at 1366 and 414 px in test-results/screenshots/.
import { type Browser, expect, type Page, test } from "@playwright/test";
import { ADMIN, ensureFleet, enrollMachine, expectNoSeriousViolations, shotPhone, signIn, trpc } from "./helpers";

test.describe.configure({ mode: "serial" });

/** Unique per run, so that the spec also runs again against a console it ran on (reuseExistingServer). */
const RUN = Date.now().toString(36);
const OPERATOR = { email: `ops-stable-${RUN}@example.com`, password: "operator-password-e2e" };
const VIEWER = { email: `viewer-labels-${RUN}@example.com`, password: "viewer-password-e2e" };

type Machine = { machineId: string; hostname: string; labels: Record<string, string>; pinnedRelease: { version: string } | null };

/** A signed-in admin in a browser context of its own: sets up and checks through the console's own API. */
async function adminPage(browser: Browser, baseURL: string) {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  await signIn(page, ADMIN);
  return page;
}

async function signInFresh(page: Page, user: { email: string; password: string }) {
  await page.context().clearCookies();
  await signIn(page, user);
}

test("an operator of the machine's ring edits its labels; a viewer sees no edit control", async ({ page, browser, baseURL }) => {
  const admin = await adminPage(browser, baseURL!);
  await ensureFleet(admin.request, baseURL!);
  const [target] = (await trpc<{ rows: Machine[] }>(admin.request, "machines.list", { ring: "stable", pageSize: 1 })).rows;
  const before = target.labels;
  for (const user of [
    { ...OPERATOR, role: "operator", rings: ["stable"] },
    { ...VIEWER, role: "viewer" },
  ]) {
    await trpc(admin.request, "users.create", user, "mutation");
  }
  // Ring stable counts its reboot slots per site for the length of the test: the machine page says who sets that label.
  await trpc(admin.request, "rings.updatePolicy", { ring: "stable", failureDomainLabel: "site" }, "mutation");
  try {
    await signInFresh(page, OPERATOR);
    await page.goto(`/machines/${encodeURIComponent(target.machineId)}`);
    await expect(page.getByRole("heading", { level: 1, name: target.hostname })).toBeVisible();
    const facts = page.getByRole("region", { name: "Machine", exact: true });
    const chips = facts.getByRole("list", { name: "Labels" });
    const dialog = page.getByRole("dialog", { name: `Labels of ${target.hostname}` });
    const notice = page.getByRole("status").filter({ hasText: `Labels of ${target.hostname}` });

    // Add one.
    await facts.getByRole("button", { name: "Edit labels…" }).click();
    await expect(dialog).toBeVisible();
    await expect(dialog.getByText("Ring stable counts its reboot slots per site: only an enrollment token or an operator sets it")).toBeVisible();
    await expect(dialog.getByRole("button", { name: "Save labels" })).toBeDisabled();
    await dialog.getByRole("button", { name: "Add a label" }).click();
    const n = Object.keys(before).length + 1;
    await dialog.getByLabel(`Name of label ${n}`).fill("e2e-team");
    await dialog.getByLabel("Value of e2e-team").fill("blue");
    await dialog.getByLabel(/^Reason/).fill("browser test");
    await shotPhone(page, "machine-labels-edit");
    await dialog.getByRole("button", { name: "Save labels" }).click();
    await expect(dialog).toBeHidden();
    await expect(notice).toContainText(`Labels of ${target.hostname}: set e2e-team=blue.`);
    await expect(chips.getByRole("listitem").filter({ hasText: "e2e-team" })).toHaveText("e2e-team=blue");

    // Change it.
    await facts.getByRole("button", { name: "Edit labels…" }).click();
    await dialog.getByLabel("Value of e2e-team").fill("green");
    await dialog.getByRole("button", { name: "Save labels" }).click();
    await expect(notice).toContainText(`Labels of ${target.hostname}: set e2e-team=green.`);
    await expect(chips.getByRole("listitem").filter({ hasText: "e2e-team" })).toHaveText("e2e-team=green");

    // A name the server refuses: the message names the label, and its fields are marked; nothing changes.
    await facts.getByRole("button", { name: "Edit labels…" }).click();
    await dialog.getByRole("button", { name: "Add a label" }).click();
    await dialog.getByLabel(`Name of label ${n + 1}`).fill("bad key!");
    await dialog.getByLabel("Value of bad key!").fill("x");
    await dialog.getByRole("button", { name: "Save labels" }).click();
    await expect(dialog.getByRole("alert")).toHaveText(/^set\.bad key!: label names are 1 to 63 characters/);
    await expect(dialog.getByLabel(`Name of label ${n + 1}`)).toHaveAttribute("aria-invalid", "true");
    await expect(dialog.getByLabel("Value of e2e-team")).not.toHaveAttribute("aria-invalid", "true");
    await shotPhone(page, "machine-labels-refused");
    await expectNoSeriousViolations(page, "the labels dialog with a refused name");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await expect(dialog).toBeHidden();
    const refused = await trpc<Machine>(admin.request, "machines.get", { machineId: target.machineId });
    expect(refused.labels).toEqual({ ...before, "e2e-team": "green" });

    // Remove it.
    await facts.getByRole("button", { name: "Edit labels…" }).click();
    await dialog.getByRole("button", { name: "Remove e2e-team" }).click();
    await dialog.getByRole("button", { name: "Save labels" }).click();
    await expect(notice).toContainText(`Labels of ${target.hostname}: removed e2e-team.`);
    await expect(chips.getByText("e2e-team")).toHaveCount(0);
    expect((await trpc<Machine>(admin.request, "machines.get", { machineId: target.machineId })).labels).toEqual(before);
    await shotPhone(page, "machine-labels-operator");

    // A viewer sees the labels and nothing to change them with.
    await signInFresh(page, VIEWER);
    await page.goto(`/machines/${encodeURIComponent(target.machineId)}`);
    await expect(page.getByRole("heading", { level: 1, name: target.hostname })).toBeVisible();
    await expect(chips).toBeVisible();
    await expect(page.getByRole("button", { name: "Edit labels…" })).toHaveCount(0);
    await shotPhone(page, "machine-labels-viewer");
  } finally {
    await trpc(admin.request, "rings.updatePolicy", { ring: "stable", failureDomainLabel: null }, "mutation");
    await admin.context().close();
  }
});

test("a bulk pin of every machine matching the filter, chosen on a page of 10, reaches all of them and no other", async ({ page, browser, baseURL }) => {
  const admin = await adminPage(browser, baseURL!);
  await ensureFleet(admin.request, baseURL!);
  // Thirteen machines of their own (the e2e fleet has 12), one label between them: more than a page of 10.
  const BATCH = `bulk-${RUN}`;
  const COUNT = 13;
  const { token } = await trpc<{ token: string }>(
    admin.request,
    "enrollmentTokens.create",
    { name: `e2e ${BATCH}`, ring: "stable", labels: { batch: BATCH }, maxUses: COUNT, expiresInSeconds: 3600 },
    "mutation",
  );
  const ids = Array.from({ length: COUNT }, (_, i) => `${BATCH}-${String(i).padStart(2, "0")}`);
  const pins = async (machineIds: string[]) =>
    Object.fromEntries(
      await Promise.all(
        machineIds.map(async (id) => [id, (await trpc<Machine>(admin.request, "machines.get", { machineId: id })).pinnedRelease?.version ?? null] as const),
      ),
    );
  try {
    for (const id of ids) await enrollMachine(baseURL!, token, id);
    const others = (await trpc<{ rows: Machine[] }>(admin.request, "machines.list", { pageSize: 200 })).rows
      .map((m) => m.machineId)
      .filter((id) => !ids.includes(id));
    expect(others.length).toBeGreaterThan(0);
    const othersBefore = await pins(others);

    await signIn(page, ADMIN);
    await page.goto("/machines");
    await page.getByLabel("Label", { exact: true }).fill(`batch=${BATCH}`);
    await expect(page).toHaveURL(new RegExp(`[?&]label=batch%3D${BATCH}`));
    await expect(page.getByText(`${COUNT} machines`, { exact: true })).toBeVisible();

    // Ten a page: the choice is in the URL, and the page holds ten.
    const pager = page.getByRole("navigation", { name: "Pages" });
    await pager.getByLabel("Rows per page").selectOption("10");
    await expect(page).toHaveURL(/[?&]size=10/);
    const rows = page.getByRole("table", { name: "Machines" }).locator("tbody tr");
    await expect(rows).toHaveCount(10);
    await expect(pager).toContainText(`1–10 of ${COUNT}`);

    // The page, then every machine matching.
    const bar = page.getByRole("toolbar", { name: "Bulk actions" });
    await page.getByLabel("Select every machine on this page").check();
    await expect(bar).toContainText("10 machines selected");
    await bar.getByRole("button", { name: `Select all ${COUNT} machines matching the filter` }).click();
    await expect(bar).toContainText(`All ${COUNT} machines matching the filter selected`);
    await shotPhone(page, "machines-select-all-matching");
    await expectNoSeriousViolations(page, "/machines, 10 a page, every machine matching selected");

    await bar.getByRole("button", { name: "Pin…", exact: true }).click();
    const dialog = page.getByRole("dialog", { name: `Pin all ${COUNT} machines matching the filter to a release?` });
    await dialog.getByRole("combobox").selectOption({ label: "2026.11.1 — exampleos/x86_64/stable" });
    await dialog.getByLabel(/^Reason/).fill("browser test: every machine matching");
    await dialog.getByRole("button", { name: `Pin all ${COUNT} machines matching the filter to 2026.11.1` }).click();
    await expect(page.getByRole("status").filter({ hasText: `Pinned ${COUNT} machines to 2026.11.1.` })).toBeVisible();
    await shotPhone(page, "machines-pinned-all-matching");

    // All of them pinned, the three on the page not shown included; nothing else changed.
    expect(await pins(ids)).toEqual(Object.fromEntries(ids.map((id) => [id, "2026.11.1"])));
    expect(await pins(others)).toEqual(othersBefore);
  } finally {
    // The batch leaves the fleet: the tests after this one see the e2e fleet alone.
    // (A machine that never enrolled, when the test failed before, has nothing to retire.)
    for (const id of ids) await trpc(admin.request, "machines.retire", { machineId: id, reason: "browser test done" }, "mutation").catch(() => undefined);
    await admin.context().close();
  }
});
