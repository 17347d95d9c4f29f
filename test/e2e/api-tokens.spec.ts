// Automation and access in the browser: an admin creates an API token, sees
// it once, a script uses it against the REST API, the admin revokes it; an
// admin limits a user to some rings, and that operator sees a rollout over
// other rings read-only and the audit log's reason; the API reference lists
// the operations. Screenshots at 1366 px and 414 px wide go to
// test-results/screenshots/.
import { expect, type Page, test } from "@playwright/test";
import { ADMIN, ensureFleet, expectNoSeriousViolations, shot, signIn, trpc } from "./helpers";

test.describe.configure({ mode: "serial" });

const TOKEN_NAME = "e2e-pipeline";
const SCOPED = { email: "canary.operator@example.com", password: "canary-operator-e2e" };

/** The page at desktop width and at a phone's. */
async function shotBoth(page: Page, name: string) {
  const size = page.viewportSize() ?? { width: 1366, height: 900 };
  await shot(page, name);
  await page.setViewportSize({ width: 414, height: size.height });
  await shot(page, `${name}-414`);
  await page.setViewportSize(size);
}

async function me(baseURL: string, token: string) {
  const res = await fetch(`${baseURL}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, type: res.headers.get("content-type"), body: (await res.json()) as Record<string, unknown> };
}

test("an admin creates an API token, sees it once, a script calls the API with it, and the admin revokes it", async ({ page, baseURL }) => {
  await signIn(page, ADMIN);
  const old = await trpc<{ name: string }[]>(page.request, "apiTokens.list", undefined);
  test.skip(old.some((t) => t.name === TOKEN_NAME), "this console already has the test's token: run against a fresh one");

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "API tokens" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "API tokens" })).toBeVisible();
  await expect(page.getByRole("link", { name: "API reference" }).first()).toBeVisible();
  await page.getByRole("button", { name: "New API token" }).click();
  const form = page.getByRole("form", { name: "New API token" });

  // An admin acts on every ring: the rings are not offered.
  await form.getByLabel("Role").selectOption("admin");
  await expect(form.getByRole("checkbox", { name: "canary" })).toBeDisabled();
  await expect(form.getByText("An admin acts on every ring.")).toBeVisible();

  // A name the server refuses: the field is marked from the error's data, nothing is created.
  await form.getByLabel("Role").selectOption("operator");
  await form.getByLabel("Name").fill("Pipeline Token");
  await form.getByRole("checkbox", { name: "canary" }).check();
  await form.getByLabel("Expires after (days)").fill("30");
  await form.getByRole("button", { name: "Create token" }).click();
  await expect(form.getByRole("alert")).toContainText("name:");
  await expect(form.getByLabel("Name")).toHaveAttribute("aria-invalid", "true");
  await expect(form.getByRole("checkbox", { name: "canary" })).not.toHaveAttribute("aria-invalid", "true");
  await expect(form.getByText("The role holds on canary only.")).toBeVisible();
  await expectNoSeriousViolations(page, "/api-tokens, its form refused");
  await shotBoth(page, "api-tokens-form");

  await form.getByLabel("Name").fill(TOKEN_NAME);
  await form.getByRole("button", { name: "Create token" }).click();
  const secret = page.getByTestId("new-api-token");
  await expect(secret).toHaveText(/^orch_a_\S+$/);
  const token = (await secret.textContent())!;
  await expect(page.getByText("it will not be shown again")).toBeVisible();
  await expect(page.getByText("It acts as an operator on canary only")).toBeVisible();
  const table = page.getByRole("table", { name: /API tokens/ });
  const row = table.locator("tbody tr", { hasText: TOKEN_NAME });
  await expect(row).toContainText("Active");
  await expect(row).toContainText("operator");
  await expect(row).toContainText("canary");
  await expect(row).toContainText(token.slice(0, 11));
  await expect(row.locator("td").nth(6)).toHaveText("never");
  await expect(row).toContainText(`by ${ADMIN.email}`);
  // The box writes the expiry as the table does ("30 Dec, 13:37:46"), not in the browser's locale format.
  const expires = (await row.locator("td").nth(5).locator("time").first().textContent())!;
  expect(expires).toMatch(/^\d{1,2} [A-Z][a-z]{2}( \d{4})?, \d\d:\d\d:\d\d$/);
  await expect(page.getByRole("status").filter({ hasText: "It acts as an operator" }).locator("time")).toHaveText(expires);
  await expectNoSeriousViolations(page, "/api-tokens, a new token shown");
  await shotBoth(page, "api-tokens-created");

  // A script uses it: the REST API knows who it is.
  const answer = await me(baseURL!, token);
  expect(answer.status).toBe(200);
  expect(answer.body).toMatchObject({ kind: "token", name: TOKEN_NAME, role: "operator", rings: ["canary"] });

  // Shown once: gone after a reload; the list has its last use, and from where.
  await page.reload();
  await expect(page.getByTestId("new-api-token")).toHaveCount(0);
  await expect(row.locator("td").nth(6)).toContainText(/just now|s ago/);
  await expect(row.locator("td").nth(6)).toContainText("from 127.0.0.1");

  await row.getByRole("button", { name: "Revoke…" }).click();
  const dialog = page.getByRole("dialog", { name: `Revoke “${TOKEN_NAME}”?` });
  await expect(dialog).toContainText(token.slice(0, 11));
  await expectNoSeriousViolations(page, "/api-tokens, revoking");
  await shotBoth(page, "api-tokens-revoke");
  await dialog.getByRole("button", { name: "Revoke token" }).click();
  await expect(page.getByRole("status").filter({ hasText: `Revoked “${TOKEN_NAME}”` })).toBeVisible();
  await expect(row).toContainText("Revoked");
  await expect(row.getByRole("button", { name: "Revoke…" })).toHaveCount(0);

  const refused = await me(baseURL!, token);
  expect(refused).toMatchObject({ status: 401, type: "application/problem+json", body: { code: "UNAUTHORIZED", detail: "this API token was revoked" } });
  await shotBoth(page, "api-tokens");
});

/** A rollout over canary and another ring: one of the run's, or one that leaves every machine out (it changes nothing). */
async function rolloutBeyondCanary(page: Page) {
  type Row = { id: string; rings: { ring: { name: string } }[] };
  const list = await trpc<{ rows: Row[] }>(page.request, "rollouts.list", { pageSize: 100 });
  const found = list.rows.find((r) => r.rings.some((x) => x.ring.name === "canary") && r.rings.some((x) => x.ring.name !== "canary"));
  if (found) return { id: found.id, other: found.rings.map((x) => x.ring.name).filter((name) => name !== "canary") };
  const machines = await trpc<{ rows: { machineId: string }[] }>(page.request, "machines.list", { pageSize: 200 });
  const rings = await trpc<{ name: string; branch: { ref: string }; currentRelease: { version: string } | null }[]>(page.request, "rings.list", undefined);
  const canary = rings.find((r) => r.name === "canary")!;
  const beta = rings.find((r) => r.name === "beta")!;
  expect(canary.currentRelease?.version, "canary and beta run the same release").toBe(beta.currentRelease?.version);
  const rollout = await trpc<{ id: string }>(
    page.request,
    "rollouts.start",
    {
      version: canary.currentRelease!.version,
      ref: canary.branch.ref,
      rings: ["canary", "beta"],
      waves: [100],
      exclude: { machineIds: machines.rows.map((m) => m.machineId), labels: {} },
      reason: "ring scope check: no machine takes part",
    },
    "mutation",
  );
  return { id: rollout.id, other: ["beta"] };
}

test("an admin limits an operator to ring canary, who sees a wider rollout read-only and why the audit log is not theirs", async ({ page, browser, baseURL }) => {
  test.setTimeout(180_000);
  await signIn(page, ADMIN);
  await ensureFleet(page.request, baseURL!);
  const users = await trpc<{ id: string; email: string }[]>(page.request, "users.list", undefined);
  const old = users.find((u) => u.email === SCOPED.email);
  if (old) await trpc(page.request, "users.remove", { userId: old.id }, "mutation");

  // A new operator of canary and beta, through the form.
  await page.goto("/users");
  await page.getByRole("button", { name: "New user" }).click();
  const form = page.getByRole("form", { name: "New user" });
  await form.getByLabel("E-mail").fill(SCOPED.email);
  await form.getByLabel("Role").selectOption("admin");
  await expect(form.getByRole("checkbox", { name: "canary" })).toBeDisabled();
  await form.getByLabel("Role").selectOption("operator");
  await form.getByRole("checkbox", { name: "canary" }).check();
  await form.getByRole("checkbox", { name: "beta" }).check();
  await form.getByLabel("Set it now").check();
  await form.getByLabel("Password", { exact: true }).fill(SCOPED.password);
  await expectNoSeriousViolations(page, "/users, the new user form");
  await form.getByRole("button", { name: "Create user" }).click();
  await expect(page.getByText(`User ${SCOPED.email} created`)).toBeVisible();
  const table = page.getByRole("table", { name: "Users" });
  const row = table.locator("tbody tr", { hasText: SCOPED.email });
  await expect(row.getByRole("list", { name: "Rings" })).toHaveText(/canary\s*beta/);
  await expect(table.locator("tbody tr", { hasText: ADMIN.email })).toContainText("every ring");

  // The role dialog narrows them to canary.
  await row.getByRole("button", { name: "Change role…" }).click();
  const dialog = page.getByRole("dialog");
  await expect(dialog).toContainText("Now an operator of canary, beta.");
  await expect(dialog.getByRole("button", { name: "Make operator of canary, beta" })).toBeDisabled();
  await dialog.getByRole("checkbox", { name: "beta" }).uncheck();
  await expectNoSeriousViolations(page, "/users, the role dialog");
  await shotBoth(page, "users-rings-dialog");
  await dialog.getByRole("button", { name: "Make operator of canary" }).click();
  await expect(page.getByText(`${SCOPED.email} is now an operator of canary only.`)).toBeVisible();
  await expect(row.getByRole("list", { name: "Rings" })).toHaveText("canary");
  await shotBoth(page, "users");

  const rollout = await rolloutBeyondCanary(page);

  const context = await browser.newContext();
  const theirs = await context.newPage();
  try {
    await signIn(theirs, SCOPED);
    // A rollout over canary and another ring: visible, with the reason and no action to take.
    await theirs.goto(`/rollouts/${encodeURIComponent(rollout.id)}`);
    const note = theirs.getByTestId("read-only");
    await expect(note).toContainText(`Read-only for you: ring${rollout.other.length > 1 ? "s" : ""} ${rollout.other.join(", ")}`);
    await expect(note).toContainText("outside your rings");
    for (const name of ["Pause…", "Abort…", "Revert…", "Approve", "Roll forward to a known-good release…", "Audit log of this rollout"]) {
      await expect(theirs.getByRole("button", { name }).or(theirs.getByRole("link", { name }))).toHaveCount(0);
    }
    await expect(theirs.locator(".ring-actions button:enabled")).toHaveCount(0);
    await expectNoSeriousViolations(theirs, "a rollout, read-only");
    await shotBoth(theirs, "rollout-read-only");

    // The audit log spans the whole fleet: the page says so instead of failing.
    await theirs.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit log" }).click();
    await expect(theirs.getByRole("heading", { level: 1, name: "The audit log covers the whole fleet" })).toBeVisible();
    await expect(theirs.getByText("This concerns the whole fleet, and your rings are canary.")).toBeVisible();
    await expect(theirs.getByRole("table")).toHaveCount(0);
    await expectNoSeriousViolations(theirs, "/audit, ring-scoped");
    await shotBoth(theirs, "audit-scoped");

    // Their account says which rings they hold; the fleet-wide buttons are not offered.
    await theirs.goto("/account");
    await expect(theirs.locator("dl.facts")).toContainText("Ringscanary");
    await theirs.goto("/releases");
    await expect(theirs.getByText("you hold your role on some rings only")).toBeVisible();
    await expect(theirs.getByRole("button", { name: "Emergency brake…" })).toHaveCount(0);
    await theirs.goto("/rings");
    await expect(theirs.getByRole("table", { name: "Rings in rollout order" }).locator("tbody tr")).toHaveCount(1);
    await expect(theirs.getByRole("button", { name: "New ring" })).toHaveCount(0);
  } finally {
    await context.close();
  }
});

test("the API reference lists every operation of the document, with its role and fields", async ({ page, request }) => {
  const doc = (await (await request.get("/api/v1/openapi.json")).json()) as { paths: Record<string, Record<string, { summary: string }>> };
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));
  expect(operations.length).toBeGreaterThan(40);

  await signIn(page, ADMIN);
  await page.getByRole("link", { name: "API reference" }).first().click();
  await expect(page).toHaveURL(/\/api$/);
  await expect(page.getByRole("heading", { level: 1, name: "API reference" })).toBeVisible();
  const cards = page.locator("article.api-op h3");
  await expect(cards).toHaveCount(operations.length);
  expect((await cards.allTextContents()).map((t) => t.replace(/\s+/g, " ").trim()).sort()).toEqual([...operations].sort());

  const create = page.getByRole("article", { name: "POST /api-tokens", exact: true });
  await expect(create).toContainText("Create an API token (shown once)");
  await expect(create.locator("dl")).toContainText("Roleadmin");
  await expect(page.getByRole("article", { name: "POST /machines/{machineId}/pin", exact: true }).locator("dl")).toContainText("Roleoperator or above");
  await expect(create).toContainText("the whole fleet: tokens limited to some rings are refused");
  const fields = create.getByRole("table", { name: "Fields of POST /api-tokens" });
  await expect(fields.locator("tbody tr", { hasText: "Idempotency-Key" })).toContainText("header");
  await expect(fields.locator("tbody tr", { hasText: "expiresInDays" })).toContainText("integer");
  await expect(fields.locator("tbody tr").filter({ has: page.locator("code", { hasText: /^role$/ }) })).toContainText('"viewer" | "operator" | "admin"');

  const windows = page.getByRole("article", { name: "PATCH /rings/{ring}", exact: true }).getByRole("table");
  await expect(windows.locator("tbody tr", { hasText: "maintenanceWindows[].start" })).toContainText("required");
  // What comes back: the named schema, and its fields on demand.
  const machine = page.getByRole("article", { name: "GET /machines/{machineId}", exact: true });
  await expect(machine.locator("dl")).toContainText("200, JSON: Machine");
  await machine.getByText(/Fields of the answer/).click();
  const answer = machine.getByRole("table", { name: "Answer of GET /machines/{machineId}" });
  await expect(answer.locator("tbody tr").filter({ has: page.locator("code", { hasText: /^actions\.rollback\.why$/ }) })).toContainText("string | null");
  await machine.screenshot({ path: "test-results/screenshots/api-reference-answer.png" });
  await expect(page.getByRole("link", { name: "OpenAPI document (JSON)" })).toHaveAttribute("href", "/api/v1/openapi.json");
  await expect(page.getByText("Authorization: Bearer orch_a_…").first()).toBeVisible();
  await shotBoth(page, "api-reference");

  // Any signed-in user reads it: here the operator of canary.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL("**/signin**");
  await signIn(page, SCOPED);
  await page.goto("/api");
  await expect(cards).toHaveCount(operations.length);
});
