// axe-core on every page of the console, signed in as an admin (who sees
// every control), and on the sign-in page: no serious or critical violation
// of WCAG 2.1 A/AA, and no error in the browser's console. Each page is
// checked once its data has arrived.
import { expect, type Page, test } from "@playwright/test";
import { ADMIN, ensureFleet, expectNoSeriousViolations, signIn, trpc } from "./helpers";

test.describe.configure({ mode: "serial" });

/**
 * A rollout to look at. When the run has none yet: a rollout of the first
 * ring's own current release that leaves every machine out, so that it
 * changes nothing (completing it sets the ring to the release it has).
 */
async function someRolloutId(page: Page) {
  const list = await trpc<{ rows: { id: string }[] }>(page.request, "rollouts.list", { pageSize: 1 });
  if (list.rows[0]) return list.rows[0].id;
  const machines = await trpc<{ rows: { machineId: string }[] }>(page.request, "machines.list", { pageSize: 200 });
  const rings = await trpc<{ name: string; branch: { ref: string }; currentRelease: { version: string } | null }[]>(page.request, "rings.list", undefined);
  const ring = rings.find((r) => r.currentRelease);
  if (!ring?.currentRelease) throw new Error("no ring has a current release to roll out");
  const rollout = await trpc<{ id: string }>(
    page.request,
    "rollouts.start",
    {
      version: ring.currentRelease.version,
      ref: ring.branch.ref,
      rings: [ring.name],
      waves: [100],
      exclude: { machineIds: machines.rows.map((m) => m.machineId), labels: {} },
      reason: "accessibility check: no machine takes part",
    },
    "mutation",
  );
  return rollout.id;
}

test("the sign-in page has no serious or critical accessibility violations", async ({ page }) => {
  await page.goto("/signin");
  await expectNoSeriousViolations(page, "/signin");
});

test("every console page has no serious or critical accessibility violations", async ({ page, baseURL }) => {
  test.setTimeout(240_000);
  await signIn(page, ADMIN);
  await ensureFleet(page.request, baseURL!);
  const machines = await trpc<{ rows: { machineId: string }[] }>(page.request, "machines.list", { pageSize: 1 });
  const rolloutId = await someRolloutId(page);

  const paths = [
    "/dashboard",
    "/machines",
    `/machines/${encodeURIComponent(machines.rows[0].machineId)}`,
    "/rings",
    "/releases",
    "/releases/paths",
    "/releases/sources",
    "/rollouts",
    "/rollouts/new",
    `/rollouts/${encodeURIComponent(rolloutId)}`,
    "/enrollment-tokens",
    "/api-tokens",
    "/users",
    "/webhooks",
    "/audit",
    "/account",
    "/api",
  ];
  // Loaded afresh (server-rendered, then hydrated), no page logs an error: a hydration mismatch (React #418) included.
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`${page.url()}: ${message.text().slice(0, 300)}`);
  });
  page.on("pageerror", (error) => errors.push(`${page.url()}: ${error.message.slice(0, 300)}`));
  for (const path of paths) {
    await page.goto(path);
    if (path === "/dashboard") await expect(page.locator(".recharts-wrapper > svg.recharts-surface").first()).toBeVisible();
    await expectNoSeriousViolations(page, path);
  }
  expect(errors).toEqual([]);
});
