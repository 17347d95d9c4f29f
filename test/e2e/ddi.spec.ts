// A SWUpdate (hawkBit DDI) device in the machines list and on its machine
// page: enrolled by its first poll with a gateway token (an enrollment
// token), marked by kind in the list, shown as backend SWUpdate with how it
// authenticates, no machine tokens, and why it has no health checks, its
// configData attributes as labels; an operator issues its target token.
// Screenshots in test-results/screenshots/ddi-machines.png, ddi-device.png
// and ddi-target-token.png.
import { expect, test } from "@playwright/test";
import { ADMIN, shot, signIn, trpc } from "./helpers";

const DEVICE = `e2e-ddi-${Date.now().toString(16)}`;

test("a DDI device shows in the machines list marked SWUpdate, and on its page as backend SWUpdate with its identity and no health checks", async ({ page, baseURL }) => {
  await signIn(page, ADMIN);
  const { token } = await trpc<{ token: string }>(page.request, "enrollmentTokens.create", { name: "e2e ddi", maxUses: 1, expiresInSeconds: 600 }, "mutation");
  const base = `${baseURL}/ddi/DEFAULT/controller/v1/${DEVICE}`;
  const headers = { authorization: `GatewayToken ${token}`, "content-type": "application/json" };
  const poll = await fetch(base, { headers });
  expect(poll.status).toBe(200);
  expect(((await poll.json()) as { config: { polling: { sleep: string } } }).config.polling.sleep).toMatch(/^\d\d:\d\d:\d\d$/);
  const config = await fetch(`${base}/configData`, { method: "PUT", headers, body: JSON.stringify({ mode: "merge", data: { hwRevision: "1.0", board: "acme-a" } }) });
  expect(config.status).toBe(200);

  await page.goto(`/machines?q=${encodeURIComponent(DEVICE)}`);
  const row = page.getByRole("row", { name: new RegExp(DEVICE) });
  await expect(row.getByText("SWUpdate · DDI")).toBeVisible();
  await shot(page, "ddi-machines");

  await page.goto(`/machines/${DEVICE}`);
  await expect(page.getByText("SWUpdate (hawkBit DDI)")).toBeVisible();
  await expect(page.getByText(/its DDI controller id, from SWUpdate: it authenticates with a gateway token/)).toBeVisible();
  await expect(page.getByText(/SWUpdate reports no health checks: a rollout counts this device done once it confirms the install/)).toBeVisible();
  await expect(page.getByText("acme-a").first()).toBeVisible();
  await expect(page.getByRole("heading", { name: "Machine tokens" })).toHaveCount(0);
  await shot(page, "ddi-device");

  // An operator gives it its own target token: shown once, and it works where the gateway token did.
  await page.getByRole("button", { name: "Issue target token…" }).click();
  await page.getByRole("button", { name: "Issue target token", exact: true }).click();
  const targetToken = (await page.locator("dialog code.secret").textContent())?.trim() ?? "";
  expect(targetToken).toMatch(/^orch_m_/);
  await shot(page, "ddi-target-token");
  await page.getByRole("button", { name: "Done" }).click();
  await expect(page.getByText(/Issued a target token for/)).toBeVisible();
  expect((await fetch(base, { headers: { authorization: `TargetToken ${targetToken}` } })).status).toBe(200);
  // The device leaves the fleet that later browser tests count.
  await trpc(page.request, "machines.retire", { machineId: DEVICE, reason: "e2e: DDI test done" }, "mutation");
});

test("a DDI device in a rollout's machine list is marked SWUpdate", async ({ page, baseURL }) => {
  await signIn(page, ADMIN);
  const suffix = Date.now().toString(16);
  const ring = `e2e-ddi-${suffix}`;
  const ref = `ddios/board/e2e-${suffix}`;
  await trpc(page.request, "rings.create", { name: ring, branch: ref }, "mutation");
  await trpc(page.request, "releases.add", { ref, checksum: "d".repeat(64), version: "1.0" }, "mutation");
  const { token } = await trpc<{ token: string }>(page.request, "enrollmentTokens.create", { name: "e2e ddi rollout", ring, maxUses: 1, expiresInSeconds: 600 }, "mutation");
  const device = `e2e-ddi-r-${suffix}`;
  expect((await fetch(`${baseURL}/ddi/DEFAULT/controller/v1/${device}`, { headers: { authorization: `GatewayToken ${token}` } })).status).toBe(200);
  const rollout = await trpc<{ id: string }>(page.request, "rollouts.start", { version: "1.0", ref, rings: [ring], waves: [100], singleFirst: false, reason: "e2e: a DDI device in a rollout" }, "mutation");
  await page.goto(`/rollouts/${rollout.id}`);
  await expect(page.getByRole("link", { name: device })).toBeVisible();
  await expect(page.getByText("SWUpdate · DDI").first()).toBeVisible();
  await shot(page, "ddi-rollout");
  await trpc(page.request, "rollouts.abort", { rolloutId: rollout.id }, "mutation");
  await trpc(page.request, "machines.retire", { machineId: device, reason: "e2e: DDI test done" }, "mutation");
});
