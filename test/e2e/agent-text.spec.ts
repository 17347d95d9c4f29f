// Nothing an agent reports is rendered as HTML: a machine whose host name,
// update error and health check output carry markup shows that markup as
// text, on the machines list and on its own page, and runs none of it.
import { expect, test } from "@playwright/test";
import { ADMIN, shot, signIn, trpc } from "./helpers";

const MARKUP = `<img src=x onerror="window.__agentXss=1"><b>bold</b>`;

test("text from an agent is shown as text, never as HTML", async ({ page, baseURL }) => {
  await signIn(page, ADMIN);
  const { token } = await trpc<{ token: string }>(page.request, "enrollmentTokens.create", { name: "e2e markup", maxUses: 1, expiresInSeconds: 600 }, "mutation");
  const agent = async (path: string, bearer: string, body: unknown) => {
    const res = await fetch(`${baseURL}/api/agent/v1${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(res.ok, `${path}: ${res.status}`).toBe(true);
    return (await res.json()) as { token: string };
  };
  const enrolled = await agent("/enroll", token, { machineId: "e2e-markup", hostname: `host${MARKUP}`, backend: "sim", agentVersion: "e2e" });
  await agent("/checkin", enrolled.token, {
    seq: 1,
    sentAt: new Date().toISOString(),
    agentVersion: "e2e",
    deployments: [{ checksum: "c".repeat(64), ref: "exampleos/x86_64/stable", version: "markup", booted: true, staged: false, pinned: false }],
    update: { state: "failed", targetChecksum: null, progress: null, error: `pull failed ${MARKUP}` },
    health: { status: "unhealthy", checks: [{ name: "app-check", status: "fail", output: `exit 1 ${MARKUP}` }] },
  });

  await page.goto("/machines?q=e2e-markup");
  await expect(page.getByText(`host${MARKUP}`).first()).toBeVisible();
  await page.goto("/machines/e2e-markup");
  await expect(page.getByText(`host${MARKUP}`).first()).toBeVisible();
  await expect(page.getByText(`exit 1 ${MARKUP}`).first()).toBeVisible();
  await expect(page.getByText(`pull failed ${MARKUP}`).first()).toBeVisible();
  // None of it became an element, and none of it ran.
  await expect(page.locator('img[src="x"], main b:text-is("bold")')).toHaveCount(0);
  expect(await page.evaluate(() => (window as unknown as { __agentXss?: number }).__agentXss)).toBeUndefined();
  await shot(page, "machine-with-markup");
  // Out of the fleet the other tests count.
  await trpc(page.request, "machines.retire", { machineId: "e2e-markup", reason: "e2e: markup test done" }, "mutation");
});
