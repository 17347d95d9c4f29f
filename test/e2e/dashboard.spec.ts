// The operator's console of issue 5, end to end: the dashboard's counts are
// the database's (read through the machines list, a different query), its
// charts draw; two machines are pinned and unpinned from the table in one go;
// the machine's timeline and the audit log show it, and the audit CSV
// downloads with the page's filters. Screenshots in test-results/screenshots/.
import fs from "node:fs";
import { type APIRequestContext, expect, type Page, test } from "@playwright/test";
import { ADMIN, ensureFleet, shot, shotWide, signIn, trpc } from "./helpers";

test.describe.configure({ mode: "serial" });

const HEALTH = { healthy: "Healthy", degraded: "Degraded", unhealthy: "Unhealthy", unknown: "Unknown" } as const;
const UPDATE = {
  idle: "Idle",
  downloading: "Downloading",
  staged: "Staged",
  rebooting: "Rebooting",
  verifying: "Verifying",
  succeeded: "Succeeded",
  failed: "Failed",
  rolled_back: "Rolled back",
} as const;

type ListRow = { machineId: string; hostname: string; ring: string | null; bootedVersion: string | null; online: boolean };
type List = { total: number; rows: ListRow[] };

const list = (request: APIRequestContext, input: Record<string, unknown>) => trpc<List>(request, "machines.list", { pageSize: 200, ...input });

/** The counts as the database has them, each from its own filtered query of the machines list. */
async function countsFromDatabase(request: APIRequestContext) {
  const all = await list(request, {});
  const out: Record<string, number> = { total: all.total, Online: all.rows.filter((r) => r.online).length };
  out.Offline = all.total - out.Online;
  for (const [value, label] of Object.entries(HEALTH)) out[`health ${label}`] = (await list(request, { health: value, pageSize: 1 })).total;
  for (const [value, label] of Object.entries(UPDATE)) out[`update ${label}`] = (await list(request, { updateState: value, pageSize: 1 })).total;
  return out;
}

/** The counts as the dashboard shows them. */
async function countsOnPage(page: Page) {
  const out: Record<string, number> = {};
  const read = async (section: string, prefix: string) => {
    const rows = await page.locator(`section[aria-labelledby="${section}"] li.count-row`).evaluateAll((lis) =>
      lis.map((li) => [li.querySelector(".count-label")?.textContent?.trim() ?? "", li.querySelector(".count-n")?.textContent?.trim() ?? ""]),
    );
    // "…" while the counts load: never equal to a number.
    for (const [label, n] of rows) out[`${prefix}${label}`] = /\d/.test(n) ? Number(n.replace(/\D/g, "")) : NaN;
  };
  await read("count-health", "health ");
  await read("count-update-state", "update ");
  await read("count-check-ins", "");
  const header = await page.locator(".page-header p").textContent();
  out.total = Number(/([\d,]+) machines?/.exec(header ?? "")?.[1]?.replace(/,/g, "") ?? NaN);
  return out;
}

test("the dashboard shows the fleet's counts as the database has them, with both version charts", async ({ page, baseURL }) => {
  test.setTimeout(180_000);
  const cspViolations: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
  });
  await signIn(page, ADMIN);
  await expect(page).toHaveURL(/\/dashboard$/);
  await ensureFleet(page.request, baseURL!);
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Dashboard" })).toHaveAttribute("aria-current", "page");

  // The demo agents keep changing state: compare until a page refresh and the queries agree.
  await expect(async () => {
    const [shown, truth] = [await countsOnPage(page), await countsFromDatabase(page.request)];
    expect(shown).toEqual(truth);
  }).toPass({ timeout: 60_000, intervals: [1000, 2000, 5000] });

  // Versions per ring: the chart draws, and the table beside it says what the database says.
  const byRing = page.locator('section[aria-labelledby="versions-by-ring"]');
  await expect(byRing.locator(".recharts-wrapper > svg.recharts-surface")).toBeVisible();
  const rings = await trpc<{ name: string }[]>(page.request, "rings.list", undefined);
  await expect(async () => {
    for (const ring of rings) {
      const row = byRing.getByRole("row", { name: new RegExp(`^${ring.name} `) });
      const machines = await list(page.request, { ring: ring.name });
      // A ring left with no machines (an earlier browser test retired its own) has no versions to chart: no row, or 0.
      if (machines.total === 0) {
        if ((await row.count()) > 0) await expect(row.getByRole("cell").first()).toHaveText("0", { timeout: 1000 });
        continue;
      }
      await expect(row.getByRole("cell").first()).toHaveText(String(machines.total), { timeout: 1000 });
      const versions = new Map<string, number>();
      for (const m of machines.rows) versions.set(m.bootedVersion ?? "not reported", (versions.get(m.bootedVersion ?? "not reported") ?? 0) + 1);
      for (const [version, n] of versions) await expect(row).toContainText(`${n} on ${version}`, { timeout: 1000 });
      // …and the version filter of the machines list agrees.
      for (const [version, n] of versions) {
        if (version !== "not reported") expect((await list(page.request, { ring: ring.name, version, pageSize: 1 })).total).toBe(n);
      }
    }
  }).toPass({ timeout: 60_000, intervals: [1000, 2000, 5000] });

  // Versions over time: the console snapshots every 10 s in this run (playwright.config.ts).
  const history = page.locator('section[aria-labelledby="versions-over-time"]');
  await expect(history.locator(".recharts-wrapper > svg.recharts-surface")).toBeVisible({ timeout: 60_000 });
  await expect(history.locator(".recharts-legend-item").first()).toBeVisible();
  const points = await trpc<{ points: unknown[] }>(page.request, "dashboard.versionHistory", { hours: 24 });
  expect(points.points.length).toBeGreaterThanOrEqual(2);

  // The range lives in the URL.
  await history.getByLabel("Range").selectOption("6");
  await expect(page).toHaveURL(/[?&]hours=6/);
  await expect(history.locator(".recharts-wrapper > svg.recharts-surface")).toBeVisible();

  await expect(page.getByRole("heading", { name: "Active rollouts" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Needs attention" })).toBeVisible();
  for (const title of ["Dark", "Rolled back", "Failing checks", "Stuck"]) {
    await expect(page.getByRole("heading", { name: new RegExp(`^${title} `), level: 3 })).toBeVisible();
  }
  await shotWide(page, "dashboard");
  expect(cspViolations).toEqual([]);
});

test("an operator pins and unpins two machines from the table; the timeline, the audit log and its CSV show it", async ({ page, baseURL }) => {
  test.setTimeout(180_000);
  const started = new Date(Date.now() - 1000).toISOString();
  await signIn(page, ADMIN);
  await ensureFleet(page.request, baseURL!);

  // Two machines of one ring on one version, found with the table's own filters; pinned to the version they run, so nothing updates.
  const stable = await list(page.request, { ring: "stable" });
  const byVersion = new Map<string, ListRow[]>();
  for (const row of stable.rows) if (row.bootedVersion) byVersion.set(row.bootedVersion, [...(byVersion.get(row.bootedVersion) ?? []), row]);
  const [version, machines] = [...byVersion.entries()].find(([, rows]) => rows.length >= 2)!;
  await page.goto(`/machines?ring=stable&version=${encodeURIComponent(version)}`);
  const table = page.getByRole("table", { name: "Machines" });
  await expect(table.locator("tbody tr")).toHaveCount(machines.length);
  await expect(page.getByText(`${machines.length} machines`, { exact: true })).toBeVisible();
  const picked = machines.slice(0, 2).map((m) => m.hostname).sort();
  for (const hostname of picked) await table.getByRole("checkbox", { name: `Select ${hostname}` }).check();
  const bar = page.getByRole("toolbar", { name: "Bulk actions" });
  await expect(bar).toContainText("2 machines selected");
  // A refresh of the table (it polls every 5 s) keeps the selection.
  await page.waitForTimeout(6000);
  await expect(bar).toContainText("2 machines selected");
  await shot(page, "machines-bulk-selected");

  await bar.getByRole("button", { name: "Pin…", exact: true }).click();
  const dialog = page.getByRole("dialog", { name: "Pin 2 machines to a release?" });
  await expect(dialog).toBeVisible();
  const release = await dialog.getByRole("combobox").locator("option", { hasText: `${version} — ` }).first().getAttribute("value");
  await dialog.getByRole("combobox").selectOption(release!);
  await dialog.getByLabel("Reason (optional, kept in the audit log)").fill("e2e bulk pin");
  await shot(page, "machines-bulk-pin-dialog");
  await dialog.getByRole("button", { name: `Pin 2 machines to ${version}` }).click();
  await expect(page.getByRole("status").filter({ hasText: `Pinned 2 machines to ${version}.` })).toBeVisible();
  await expect(bar).toContainText("Select machines to act on several at once.");

  // The machine's timeline: the operator action, its agent's history and a check-in summary.
  const machineId = machines.find((m) => m.hostname === picked[0])!.machineId;
  await page.goto(`/machines/${encodeURIComponent(machineId)}`);
  await expect(page.locator(".hold-banner")).toContainText(`Pinned to ${version}`);
  const timeline = page.getByRole("list", { name: "Timeline, newest first" });
  await expect(timeline.locator("li").filter({ hasText: "machine.pin by admin@orchard.local" })).toContainText("e2e bulk pin");
  await expect(timeline.locator("li.tl-event").first()).toBeVisible();
  await expect(page.getByText(/\d+ check-ins? since it enrolled/)).toBeVisible();
  await page.getByLabel("Show").selectOption("operator");
  await expect(page).toHaveURL(/[?&]timeline=operator/);
  await expect(timeline.locator("li.tl-event")).toHaveCount(0);
  await expect(timeline.locator("li.tl-operator").first()).toBeVisible();
  await page.getByLabel("Show").selectOption("");
  // Older entries a page at a time, appended below, until the beginning of the timeline.
  const older = page.getByRole("button", { name: "Show older" });
  const beginning = page.getByText("Beginning of the timeline");
  await expect(older.or(beginning)).toBeVisible();
  if (await older.isVisible()) {
    const shown = await timeline.locator("li").count();
    await older.focus();
    await page.keyboard.press("Enter");
    await expect.poll(() => timeline.locator("li").count()).toBeGreaterThan(shown);
  }
  await shot(page, "machine-timeline");

  // Unpin both from the table again: the fleet is as it was for the other tests.
  await page.goto(`/machines?ring=stable&version=${encodeURIComponent(version)}`);
  for (const hostname of picked) await table.getByRole("checkbox", { name: `Select ${hostname}` }).check();
  await bar.getByRole("button", { name: "Unpin…" }).click();
  await page.getByRole("dialog", { name: "Unpin 2 machines?" }).getByRole("button", { name: "Unpin 2 machines" }).click();
  await expect(page.getByRole("status").filter({ hasText: "2 machines follow their rings and rollouts again." })).toBeVisible();

  // The audit log: both actions on both machines since the test started, and a CSV with the same filters.
  await page.goto(`/audit?from=${encodeURIComponent(started)}&target=machine`);
  const audit = page.getByRole("table", { name: /Audit log/ });
  await expect(audit.locator("tbody tr")).toHaveCount(4);
  await expect(audit.locator("tbody tr").filter({ hasText: "machine.pin" })).toHaveCount(2);
  await expect(audit.locator("tbody tr").filter({ hasText: "machine.unpin" })).toHaveCount(2);
  await expect(page.getByLabel("From", { exact: true })).not.toHaveValue("");
  await shot(page, "audit-filtered");

  const csvLink = page.getByRole("link", { name: /Download CSV/ });
  const href = await csvLink.getAttribute("href");
  expect(href).toContain(`from=${encodeURIComponent(started)}`);
  expect(href).toContain("targetType=machine");
  const [download] = await Promise.all([page.waitForEvent("download"), csvLink.click()]);
  expect(download.suggestedFilename()).toMatch(/^orchard-audit-\d{4}-\d{2}-\d{2}\.csv$/);
  const csv = fs.readFileSync((await download.path())!, "utf8").trim().split("\r\n");
  expect(csv[0]).toBe("at,actor,action,target_type,target_id,reason,before,after");
  expect(csv).toHaveLength(5);
  for (const hostname of picked) {
    const id = machines.find((m) => m.hostname === hostname)!.machineId;
    expect(csv.filter((line) => line.includes(`"machine.pin","machine","${id}","e2e bulk pin"`))).toHaveLength(1);
    expect(csv.filter((line) => line.includes(`"machine.unpin","machine","${id}"`))).toHaveLength(1);
  }

  // "To" before the test started leaves nothing (with no "From": a range that ends before it starts is refused).
  await page.getByLabel("From", { exact: true }).fill("");
  await page.getByLabel("To", { exact: true }).fill("2020-01-01T00:00");
  await expect(page).toHaveURL(/[?&]to=2020-01-01/);
  await expect(audit.getByText("No entry matches these filters")).toBeVisible();
});
