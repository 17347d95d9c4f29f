// The console end to end, as an operator uses it: sign in, find a machine,
// look at it; rings, releases, tokens, users and the audit log; and what a
// viewer may not see. Every page is captured in test-results/screenshots/.
import { expect, test } from "@playwright/test";
import { ADMIN, ensureFleet, FLEET_SIZE, shot, signIn } from "./helpers";

test.describe.configure({ mode: "serial" });

const VIEWER = { email: "viewer.e2e@example.com", password: "viewer-password-e2e" };

test("an admin finds a machine of the fleet and looks at its deployments", async ({ page, baseURL }) => {
  await page.goto("/machines");
  await page.waitForURL("**/signin**");
  await expect(page.getByRole("heading", { name: "Orchard" })).toBeVisible();
  await shot(page, "signin");

  await signIn(page, ADMIN);
  await ensureFleet(page.request, baseURL!);
  // Signing in lands on the dashboard; the machines are one click away.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Machines" }).click();

  const table = page.getByRole("table", { name: "Machines" });
  const rows = table.locator("tbody tr");
  await expect(page.getByText(`${FLEET_SIZE} machines`, { exact: true })).toBeVisible({ timeout: 30_000 });
  await expect(rows).toHaveCount(FLEET_SIZE);
  await shot(page, "machines");

  // Filter by ring: the URL says so, and only that ring's machines remain.
  await page.getByLabel("Ring").selectOption("beta");
  await expect(page).toHaveURL(/[?&]ring=beta/);
  await expect(page.getByText(`${FLEET_SIZE} machines`, { exact: true })).toBeHidden();
  // The first column holds the bulk-select checkboxes, then hostname, machine id, ring.
  const ringCells = table.locator("tbody tr td:nth-child(4)");
  await expect(ringCells.first()).toHaveText("beta");
  const count = await ringCells.count();
  expect(count).toBeGreaterThan(0);
  expect(count).toBeLessThan(FLEET_SIZE);
  await expect(ringCells).toHaveText(Array(count).fill("beta"));

  // Open one machine: its deployments show the booted one with its checksum.
  const link = rows.first().getByRole("link");
  const hostname = (await link.textContent())!.trim();
  await link.click();
  await expect(page).toHaveURL(/\/machines\/[A-Za-z0-9._-]+$/);
  await expect(page.getByRole("heading", { level: 1, name: hostname })).toBeVisible();
  const deployments = page.getByRole("table", { name: "Deployments in boot order" });
  const booted = deployments.locator("tbody tr", { has: page.getByText("Booted", { exact: true }) });
  await expect(booted).toHaveCount(1);
  const checksum = booted.locator("code.checksum");
  await expect(checksum).toHaveText(/^[0-9a-f]{12}$/);
  await expect(checksum).toHaveAttribute("title", /^[0-9a-f]{64}$/);
  await expect(booted.getByText("exampleos/x86_64/stable")).toBeVisible();
  await expect(page.getByText("What the console wants")).toBeVisible();
  await expect(page.getByRole("button", { name: "Move to ring…" })).toBeVisible();
  await shot(page, "machine-detail");
});

test("rings and releases: an operator adds a release of a branch", async ({ page }) => {
  await signIn(page, ADMIN);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Rings" }).click();
  const rings = page.getByRole("table", { name: "Rings in rollout order" });
  // The demo's three rings come first, in rollout order (browser tests before this one may have added rings after them).
  const ringRows = rings.locator("tbody tr");
  await expect(ringRows.nth(0)).toContainText("canary");
  await expect(ringRows.nth(1)).toContainText("beta");
  await expect(ringRows.nth(2)).toContainText("stable");
  await shot(page, "rings");

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Releases" }).click();
  await page.getByRole("button", { name: "Add release" }).click();
  const form = page.getByRole("form", { name: "Add release" });
  await form.getByLabel("Branch (ostree ref)").fill("exampleos/x86_64/stable");
  await form.getByLabel("Version").fill("2026.12.1");
  // A bad checksum: the server's message names the field.
  await form.getByLabel("Commit checksum").fill("abc");
  await form.getByRole("button", { name: "Add release" }).click();
  await expect(form.getByRole("alert")).toContainText("checksum");
  await form.getByLabel("Commit checksum").fill("c".repeat(64));
  await form.getByLabel("Notes (optional)").fill("December update, added by the browser test.");
  await form.getByRole("button", { name: "Add release" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Added release 2026.12.1" })).toBeVisible();
  await expect(page.getByRole("table", { name: "Releases" }).getByText("2026.12.1", { exact: true })).toBeVisible();
  await shot(page, "releases");
});

test("an admin creates an enrollment token and sees it once", async ({ page }) => {
  await signIn(page, ADMIN);
  await page.goto("/enrollment-tokens");
  await page.getByRole("button", { name: "New enrollment token" }).click();
  const form = page.getByRole("form", { name: "New enrollment token" });
  await form.getByLabel("Name").fill("Store 12 kiosks");
  await form.getByLabel("Ring").selectOption("canary");
  await form.getByLabel("Expires after").selectOption({ label: "7 days" });
  await form.getByLabel("Max uses").fill("25");
  await form.getByLabel("Labels (optional)").fill("site=store-12\nrole=kiosk");
  await form.getByRole("button", { name: "Create token" }).click();
  const secret = page.getByTestId("new-token");
  await expect(secret).toHaveText(/^orch_e_\S+$/);
  await expect(page.getByText("it will not be shown again")).toBeVisible();
  const row = page.getByRole("table", { name: /Enrollment tokens/ }).locator("tbody tr", { hasText: "Store 12 kiosks" });
  await expect(row).toContainText("0 / 25");
  await expect(row).toContainText("Active");
  await shot(page, "enrollment-tokens");

  await page.reload();
  await expect(page.getByTestId("new-token")).toHaveCount(0);
});

test("an admin creates a viewer, who sees no Users page", async ({ page }) => {
  await signIn(page, ADMIN);
  await page.goto("/users");
  await page.getByRole("button", { name: "New user" }).click();
  const form = page.getByRole("form", { name: "New user" });
  await form.getByLabel("E-mail").fill(VIEWER.email);
  await form.getByLabel("Role").selectOption("viewer");
  await form.getByLabel("Set it now").check();
  await form.getByLabel("Password", { exact: true }).fill(VIEWER.password);
  await form.getByRole("button", { name: "Create user" }).click();
  await expect(page.getByText(`User ${VIEWER.email} created`)).toBeVisible();
  await expect(page.getByRole("table", { name: "Users" }).locator("tbody tr", { hasText: VIEWER.email })).toContainText("viewer");

  // The server refuses to let an admin demote themselves; the page shows why.
  const me = page.getByRole("table", { name: "Users" }).locator("tbody tr", { hasText: ADMIN.email });
  await me.getByRole("button", { name: "Change role…" }).click();
  const dialog = page.getByRole("dialog");
  await dialog.getByLabel(/Viewer/).check();
  await dialog.getByRole("button", { name: "Make viewer" }).click();
  await expect(dialog.getByRole("alert")).toContainText("cannot demote or disable yourself");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await shot(page, "users");

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL("**/signin**");
  await signIn(page, VIEWER);
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link", { name: "Machines" })).toBeVisible();
  await expect(page.locator(".whoami")).toContainText("viewer");
  await expect(nav.getByRole("link", { name: "Users" })).toHaveCount(0);
  await expect(nav.getByRole("link", { name: "Enrollment tokens" })).toHaveCount(0);

  await page.goto("/users");
  await expect(page.getByRole("heading", { name: "Admins only" })).toBeVisible();
  await shot(page, "users-as-viewer");

  // A viewer sees a machine but no action on it.
  await page.goto("/machines");
  await page.getByRole("table", { name: "Machines" }).locator("tbody tr").first().getByRole("link").click();
  await expect(page.getByRole("table", { name: "Deployments in boot order" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Move to ring…" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Retire…" })).toHaveCount(0);
});

test("the audit log lists changes and filters them from the URL", async ({ page }) => {
  await signIn(page, ADMIN);
  await page.goto("/audit");
  const table = page.getByRole("table", { name: /Audit log/ });
  await expect(table.locator("tbody tr").first()).toBeVisible();
  await expect(table.getByText("user.create").first()).toBeVisible();
  await shot(page, "audit");

  await page.getByLabel("Action").fill("release.add");
  await expect(page).toHaveURL(/[?&]action=release\.add/);
  const actions = table.locator("tbody tr td:nth-child(3)");
  await expect(actions.first()).toHaveText("release.add");
  await expect(actions).toHaveText(Array(await actions.count()).fill("release.add"));
  await expect(table.getByText("2026.12.1").first()).toBeVisible();
});

test("a URL path that does not decode is answered 400, the pages' routes included", async ({ request }) => {
  // Next.js's dynamic routes answered these 500; the console's server refuses them first.
  for (const path of ["/machines/%ZZ", "/api/auth/session%E0%A4%A", "/%"]) {
    const res = await request.get(path);
    expect(res.status(), path).toBe(400);
  }
});
