// Apps per ring (issue 17) in the browser: an operator adds a Flatpak app to
// a ring's app set (a bad remote URL refused on its field), a machine of the
// ring reports the app installed, and the machine page lists it with its
// version, commit, update state and health; the machines table filters by
// the app's version, the dashboard shows app versions per ring, the timeline
// shows the app's change and its app.* event with the ref. Screenshots at
// 1366 and 414 px in test-results/screenshots/.
import { expect, type Page, test } from "@playwright/test";
import { ADMIN, ensureFleet, shotPhone, signIn, trpc } from "./helpers";

test.describe.configure({ mode: "serial" });

const KIOSK = "app/org.example.Kiosk/x86_64/stable";
const V1 = "a1".repeat(32);
const V2 = "b2".repeat(32);

const ringsTable = (page: Page) => page.getByRole("table", { name: "Rings in rollout order" });

async function agent<T>(baseURL: string, path: string, bearer: string, body: unknown): Promise<T> {
  const res = await fetch(`${baseURL}/api/agent/v1${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

test("an operator keeps an app on a ring, and its machines' apps show on the machine, machines and dashboard pages", async ({ page, baseURL }) => {
  await signIn(page, ADMIN);
  await ensureFleet(page.request, baseURL!);
  const ring = "e2e-apps";
  await trpc(page.request, "rings.create", { name: ring, branch: "exampleos/x86_64/stable" }, "mutation");
  await trpc(page.request, "releases.add", { ref: KIOSK, checksum: V1, version: "v1" }, "mutation");
  await trpc(page.request, "releases.add", { ref: KIOSK, checksum: V2, version: "v2" }, "mutation");

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Rings" }).click();
  const row = ringsTable(page).locator("tbody tr").filter({ has: page.locator("strong", { hasText: /^e2e-apps$/ }) });
  await expect(row).toContainText("apps not managed");
  await row.getByRole("button", { name: "Apps…" }).click();
  const dialog = page.getByRole("dialog", { name: `Apps of ring ${ring}` });
  await dialog.getByLabel("App (Flatpak ref)").fill(KIOSK);
  await dialog.getByLabel("Release", { exact: true }).selectOption("v1");
  await dialog.getByLabel("Remote name").fill("orchard-kiosk");
  await dialog.getByLabel("Remote URL").fill("ftp://apps.example.com/repo");
  await dialog.getByRole("button", { name: "Add app" }).click();
  await expect(dialog.getByRole("alert")).toContainText("remote.url");
  await expect(dialog.getByLabel("Remote URL")).toHaveAttribute("aria-invalid", "true");
  await dialog.getByLabel("Remote URL").fill("https://apps.example.com/repo");
  await dialog.getByRole("button", { name: "Add app" }).click();
  await expect(page.getByRole("status").filter({ hasText: `Ring ${ring} runs ${KIOSK} v1 from orchard-kiosk.` })).toBeVisible();
  await expect(row).toContainText("org.example.Kiosk v1");
  await row.getByRole("button", { name: "Apps…" }).click();
  await expect(page.getByRole("table", { name: `Apps of ring ${ring}` })).toContainText("https://apps.example.com/repo");
  await shotPhone(page, "apps-ring-dialog");
  await page.getByRole("dialog", { name: `Apps of ring ${ring}` }).getByRole("button", { name: "Cancel" }).click();
  await shotPhone(page, "apps-rings");

  // A machine of the ring is answered the app, installs it and says so.
  const { token: enrollment } = await trpc<{ token: string }>(page.request, "enrollmentTokens.create", { name: "e2e apps", ring, maxUses: 1 }, "mutation");
  const machineId = "e2e-apps-001";
  const { token } = await agent<{ token: string }>(baseURL!, "/enroll", enrollment, {
    machineId,
    hostname: `${machineId}.e2e.example.net`,
    backend: "sim",
    agentVersion: "e2e",
    os: { id: "exampleos", versionId: "2026.10", arch: "x86_64" },
  });
  const checkin = (seq: number, apps: unknown[]) =>
    agent<{ apps?: { ref: string; commit: string }[] }>(baseURL!, "/checkin", token, {
      seq,
      sentAt: new Date().toISOString(),
      bootId: `boot-${machineId}`,
      agentVersion: "1.2.0",
      deployments: [{ checksum: "c".repeat(64), ref: "exampleos/x86_64/stable", version: "2026.10.3", booted: true, staged: false, pinned: false }],
      update: { state: "idle", targetChecksum: null, progress: null, error: null },
      health: { status: "healthy", checks: [{ name: "sshd.service", status: "pass" }] },
      apps,
    });
  const answer = await checkin(1, []);
  expect(answer.apps).toEqual([expect.objectContaining({ ref: KIOSK, commit: V1 })]);
  await checkin(2, [
    {
      ref: KIOSK,
      commit: V1,
      origin: "orchard-kiosk",
      managed: true,
      update: { state: "succeeded", targetCommit: V1, error: null },
      health: { status: "healthy", checks: [{ name: "kiosk-http", status: "pass" }] },
    },
    { ref: "runtime/org.example.Platform/x86_64/1.0", commit: "d".repeat(64), origin: "orchard-kiosk", managed: true },
  ]);
  await agent(baseURL!, "/events", token, {
    events: [{ id: "0b6c7f40-8b6b-4f5e-9d7e-3c1f0e6a2b01", at: new Date().toISOString(), type: "app.installed", checksum: V1, ref: KIOSK, detail: "installed from orchard-kiosk" }],
  });

  await page.goto(`/machines/${machineId}`);
  const apps = page.getByRole("table", { name: "Installed apps and runtimes" });
  await expect(apps).toContainText(KIOSK);
  await expect(apps).toContainText("v1");
  await expect(apps).toContainText("Succeeded");
  await expect(apps).toContainText("kiosk-http");
  await expect(apps).toContainText("runtime from orchard-kiosk");
  await expect(page.getByText("App installed")).toBeVisible();
  await expect(page.locator(".tl-title", { hasText: /^App$/ }).first()).toBeVisible();
  // What the console wants: the ring's app, in words.
  await expect(page.getByRole("region", { name: "What the console wants" })).toContainText(`ring ${ring} · release v1`);
  await shotPhone(page, "apps-machine");

  // The machines table: filtered by the app's version.
  await page.goto(`/machines?app=${encodeURIComponent(KIOSK)}&appVersion=v1`);
  await expect(page.getByRole("link", { name: `${machineId}.e2e.example.net` })).toBeVisible();
  await expect(page.getByText("1 machine", { exact: true })).toBeVisible();
  await shotPhone(page, "apps-machines-filter");
  await page.goto(`/machines?app=${encodeURIComponent(KIOSK)}&appVersion=v2`);
  await expect(page.getByText("0 machines", { exact: true })).toBeVisible();

  // The dashboard: app versions per ring.
  await page.goto("/dashboard");
  const section = page.getByRole("region", { name: "App versions per ring" });
  await expect(section).toContainText(ring);
  await expect(section).toContainText("1 on v1");
  await shotPhone(page, "apps-dashboard");

  // An app rollout of v2: the machine takes it, and the rollout page speaks of the app, not the OS.
  const rollout = await trpc<{ id: string }>(
    page.request,
    "rollouts.start",
    { version: "v2", ref: KIOSK, rings: [ring], waves: [100], singleFirst: false, soakSeconds: 3600, reason: "e2e: an app rollout" },
    "mutation",
  );
  let seq = 3;
  await expect(async () => {
    const next = await checkin(seq++, [{ ref: KIOSK, commit: V1, origin: "orchard-kiosk", managed: true }]);
    expect(next.apps).toEqual([expect.objectContaining({ commit: V2 })]);
  }).toPass({ timeout: 60_000 });
  await checkin(seq++, [
    {
      ref: KIOSK,
      commit: V2,
      origin: "orchard-kiosk",
      managed: true,
      update: { state: "succeeded", targetCommit: V2, error: null },
      health: { status: "healthy", checks: [{ name: "kiosk-http", status: "pass" }] },
    },
  ]);
  await page.goto(`/rollouts/${rollout.id}`);
  const machinesTable = page.getByRole("table", { name: "Machines of this rollout" });
  await expect(machinesTable.getByRole("columnheader", { name: "App health" })).toBeVisible();
  await expect(machinesTable.locator("tbody tr").filter({ hasText: machineId })).toContainText("v1 → v2");
  await expect(page.getByText("the app's own health on machines already running its new release")).toBeVisible();
  await page.getByRole("button", { name: "Abort…" }).click();
  const abort = page.getByRole("dialog", { name: "Abort this rollout?" });
  await expect(abort).toContainText("1 machine that runs v2 stays on it");
  await expect(abort).not.toContainText("reboot");
  await shotPhone(page, "apps-rollout-abort");
  await abort.getByRole("button", { name: "Cancel" }).click();
  await trpc(page.request, "rollouts.abort", { rolloutId: rollout.id }, "mutation");
  // The machine leaves the fleet that later browser tests count.
  await trpc(page.request, "machines.retire", { machineId, reason: "e2e: apps test done" }, "mutation");
});
