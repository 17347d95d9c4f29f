// Helpers of the browser tests: sign-in, screenshots, axe, and a fleet that
// is there when the test needs it.
import { createHash } from "node:crypto";
import AxeBuilder from "@axe-core/playwright";
import { type APIRequestContext, expect, type Page, test } from "@playwright/test";

export const ADMIN = { email: "admin@orchard.local", password: "e2e-admin-password" };
export const FLEET_SIZE = 12;

export async function signIn(page: Page, user: { email: string; password: string }) {
  await page.goto("/signin");
  await page.getByLabel("E-mail").fill(user.email);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  // The dashboard, or the page that sent the user to sign in (callbackUrl).
  await page.waitForURL((url) => !url.pathname.startsWith("/signin"));
}

/** A full-page screenshot in test-results/screenshots/, once the page has settled. */
export async function shot(page: Page, name: string) {
  await page.waitForLoadState("networkidle").catch(() => undefined);
  await expect(page.locator(".skeleton")).toHaveCount(0);
  await page.screenshot({ path: `test-results/screenshots/${name}.png`, fullPage: true });
}

async function settle(page: Page) {
  await page.waitForLoadState("networkidle").catch(() => undefined);
  await expect(page.locator(".skeleton")).toHaveCount(0);
  await expect(page.locator("h1").first()).toBeVisible();
}

/** axe-core on the page once it has settled: no serious or critical violation of WCAG 2.1 A/AA. */
export async function expectNoSeriousViolations(page: Page, name: string) {
  await settle(page);
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const serious = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  const report = serious.map(
    (v) => `${v.id} (${v.impact}): ${v.help}\n${v.nodes.map((n) => `    ${n.target.join(" ")}: ${n.failureSummary?.split("\n").join(" ")}`).join("\n")}`,
  );
  expect(report, `axe on ${name}`).toEqual([]);
}

/** Calls a tRPC procedure as the signed-in user of `request` (superjson wire format). */
export async function trpc<T>(request: APIRequestContext, path: string, input: unknown, kind: "query" | "mutation" = "query"): Promise<T> {
  const res =
    kind === "query"
      ? await request.get(`/api/trpc/${path}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`)
      : await request.post(`/api/trpc/${path}`, { headers: { "x-orchard-csrf": "1" }, data: { json: input } });
  const body = (await res.json()) as { result?: { data: { json: T } }; error?: { json?: { message: string } } };
  if (!res.ok() || !body.result) throw new Error(`${path}: ${res.status()} ${JSON.stringify(body.error ?? body)}`);
  return body.result.data.json;
}

async function machineCount(request: APIRequestContext) {
  return (await trpc<{ total: number }>(request, "machines.list", { pageSize: 1 })).total;
}

/**
 * Waits for the demo fleet of the web server (ORCHARD_DEMO_AGENTS) to enroll
 * FLEET_SIZE machines. When the fleet simulator does not deliver them in
 * time, enrolls the missing ones through the agent protocol itself (and says
 * so in the report), so that the pages still have a fleet to show.
 */
export async function ensureFleet(request: APIRequestContext, baseURL: string) {
  const deadline = Date.now() + 45_000;
  let count = await machineCount(request);
  while (count < FLEET_SIZE && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    count = await machineCount(request);
  }
  if (count >= FLEET_SIZE) return;
  test.info().annotations.push({
    type: "fleet",
    description: `the demo fleet enrolled ${count} of ${FLEET_SIZE} machines; the test enrolled the rest over the agent protocol`,
  });
  await seedMachines(request, baseURL, FLEET_SIZE - count);
}

const DEMO_REF = "exampleos/x86_64/stable";
const demoChecksum = (version: string) => createHash("sha256").update(`exampleos ${version}`).digest("hex");

/** Enrolls `count` machines across the demo rings and has each check in once, as a real agent would. */
async function seedMachines(request: APIRequestContext, baseURL: string, count: number) {
  const rings = await trpc<{ name: string }[]>(request, "rings.list", undefined);
  for (let i = 0; i < count; i++) {
    const ring = rings.length ? rings[i % rings.length].name : undefined;
    const { token } = await trpc<{ token: string }>(
      request,
      "enrollmentTokens.create",
      { name: `e2e seed ${i}`, ring, maxUses: 1, expiresInSeconds: 3600 },
      "mutation",
    );
    await enrollMachine(baseURL, token, `e2e-${String(i).padStart(3, "0")}`, { site: "e2e" });
  }
}

/**
 * Enrolls one machine with an enrollment token through the agent protocol and
 * has it check in once, booted on the demo's factory release, as a real agent
 * would.
 */
export async function enrollMachine(baseURL: string, enrollmentToken: string, machineId: string, labels: Record<string, string> = {}) {
  const factory = { checksum: demoChecksum("2026.10.3"), version: "2026.10.3" };
  const agent = async (path: string, bearer: string, body: unknown) => {
    const res = await fetch(`${baseURL}/api/agent/v1${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { token: string };
  };
  const enrolled = await agent("/enroll", enrollmentToken, {
    machineId,
    hostname: `${machineId}.e2e.example.net`,
    backend: "sim",
    agentVersion: "e2e",
    os: { id: "exampleos", versionId: "2026.10", arch: "x86_64" },
    labels,
  });
  await agent("/checkin", enrolled.token, {
    seq: 1,
    sentAt: new Date().toISOString(),
    bootId: `boot-${machineId}`,
    agentVersion: "e2e",
    deployments: [{ checksum: factory.checksum, ref: DEMO_REF, version: factory.version, booted: true, staged: false, pinned: false }],
    update: { state: "idle", targetChecksum: null, progress: null, error: null },
    health: { status: "healthy", checks: [{ name: "sshd.service", status: "pass" }] },
  });
}

/** The same screenshot at 1366 and at 414 px wide (`name-414.png`): a desktop and a phone. */
export async function shotPhone(page: Page, name: string) {
  const size = page.viewportSize() ?? { width: 1366, height: 900 };
  await shot(page, name);
  await page.setViewportSize({ width: 414, height: size.height });
  await shot(page, `${name}-414`);
  await page.setViewportSize(size);
}

/** The same screenshot at 1366 and at 1024 px wide (`name-1024.png`), for pages that must hold at both. */
export async function shotWide(page: Page, name: string) {
  const size = page.viewportSize() ?? { width: 1366, height: 900 };
  await shot(page, name);
  await page.setViewportSize({ width: 1024, height: size.height });
  await shot(page, `${name}-1024`);
  await page.setViewportSize(size);
}
