// A Zincati node on its machine page: enrolled by its first graph request
// (the enrollment token in the URL), shown as backend Zincati, with its
// booted version and the reason it has no health checks. Screenshot in
// test-results/screenshots/zincati-node.png.
import { expect, test } from "@playwright/test";
import { ADMIN, shot, signIn, trpc } from "./helpers";

const NODE = `e2ezincati${Date.now().toString(16)}`.padEnd(32, "0").slice(0, 32);

test("a Zincati node shows as a machine of its token's ring, backend Zincati, with no health checks and why", async ({ page, baseURL }) => {
  await signIn(page, ADMIN);
  const { token } = await trpc<{ token: string }>(page.request, "enrollmentTokens.create", { name: "e2e zincati", maxUses: 1, expiresInSeconds: 600 }, "mutation");
  const url = new URL("v1/graph", `${baseURL}/api/zincati/${token}/`);
  for (const [key, value] of Object.entries({ basearch: "x86_64", stream: "stable", node_uuid: NODE, os_checksum: "f".repeat(64), os_version: "41.20261101.3.0", group: "default", platform: "metal" })) {
    url.searchParams.append(key, value);
  }
  const res = await fetch(url, { headers: { accept: "application/json" } });
  expect(res.status).toBe(200);
  const graph = (await res.json()) as { nodes: { payload: string }[]; edges: unknown[] };
  expect(graph.nodes[0]?.payload).toBe("f".repeat(64));

  await page.goto(`/machines/${NODE}`);
  await expect(page.getByText("Zincati (FleetLock + Cincinnati)")).toBeVisible();
  await expect(page.getByText("41.20261101.3.0").first()).toBeVisible();
  await expect(page.getByText(/Zincati reports no health checks: a rollout counts this node done/)).toBeVisible();
  await expect(page.getByText(/its node id, from Zincati: the enrollment token in its configured URLs is its only credential/)).toBeVisible();
  // The machine token enrollment made for it is the console's own: never handed out, not shown.
  await expect(page.getByRole("heading", { name: "Machine tokens" })).toHaveCount(0);
  await shot(page, "zincati-node");
});
