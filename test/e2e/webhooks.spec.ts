// The webhooks page as an admin uses it: subscribe a receiver this test runs
// on 127.0.0.1 (the console runs with ORCHARD_WEBHOOKS_ALLOW_PRIVATE=1), copy
// the secret shown once, send a test event and read its delivery and the
// receiver's answer on the page. The receiver verifies the signature with the
// Standard Webhooks library. axe finds no serious violation in any state.
import http from "node:http";
import type { AddressInfo } from "node:net";
import AxeBuilder from "@axe-core/playwright";
import { expect, type Page, test } from "@playwright/test";
import { Webhook } from "standardwebhooks";
import { ADMIN, shot, signIn } from "./helpers";

let receiver: http.Server;
let receiverUrl: string;
let secret = "";
const verified: { id: string; type: string }[] = [];
const refused: string[] = [];

test.beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      try {
        const payload = new Webhook(secret).verify(body, req.headers as Record<string, string>) as { type: string };
        verified.push({ id: String(req.headers["webhook-id"]), type: payload.type });
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("thanks, seen it");
      } catch (error) {
        refused.push((error as Error).message);
        res.writeHead(401);
        res.end("bad signature");
      }
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/e2e-${Date.now()}`;
});

test.afterAll(async () => {
  receiver.closeAllConnections();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

async function expectNoSeriousViolations(page: Page, state: string) {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const serious = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
  expect(serious, `axe on /webhooks, ${state}`).toEqual([]);
}

test("an admin subscribes a receiver, sends it a test event and reads the answer", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await signIn(page, ADMIN);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Webhooks" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Webhooks" })).toBeVisible();

  await page.getByRole("button", { name: "New webhook" }).click();
  const form = page.getByRole("form", { name: "New webhook" });
  await form.getByLabel("URL").fill(receiverUrl);
  await form.getByLabel("Description (optional)").fill("On-call channel");
  await form.getByRole("checkbox", { name: /Machine rolled back/ }).check();
  await expectNoSeriousViolations(page, "the form open");
  await shot(page, "webhooks-form");
  await form.getByRole("button", { name: "Subscribe" }).click();

  const secretBox = page.getByTestId("new-secret");
  await expect(secretBox).toHaveText(/^whsec_[A-Za-z0-9+/]{32}$/);
  secret = (await secretBox.textContent())!;
  await expectNoSeriousViolations(page, "the secret shown");
  await shot(page, "webhooks-secret");
  await page.getByRole("button", { name: "I have copied it" }).click();
  await expect(page.getByTestId("new-secret")).toHaveCount(0);

  const row = page.getByRole("row").filter({ hasText: receiverUrl });
  await expect(row).toContainText("On-call channel");
  await expect(row).toContainText("machine.rolled_back");
  await row.getByRole("button", { name: "Send a test event" }).click();
  const deliveries = page.getByRole("region", { name: "Recent deliveries" });
  await expect(deliveries.getByRole("row").filter({ hasText: "Test event" })).toContainText("Delivered");
  await expect(deliveries).toContainText("HTTP 200");
  await expect(deliveries).toContainText("thanks, seen it");
  expect(verified).toEqual([{ id: expect.stringMatching(/^msg_/), type: "webhook.test" }]);
  expect(refused).toEqual([]);
  await expect(row).toContainText("Delivered");
  await expectNoSeriousViolations(page, "a delivery shown");
  await shot(page, "webhooks-deliveries");

  // A new secret: asked first, shown once; the old one stops and the next delivery verifies with the new one.
  await row.getByRole("button", { name: "New secret…" }).click();
  await expect(page.getByRole("dialog")).toContainText("The current secret stops working at once");
  await expectNoSeriousViolations(page, "the new-secret dialog");
  await shot(page, "webhooks-rotate-dialog");
  await page.setViewportSize({ width: 414, height: 900 });
  await shot(page, "webhooks-rotate-dialog-414");
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.getByRole("dialog").getByRole("button", { name: "Make a new secret" }).click();
  await expect(page.getByRole("heading", { name: `New signing secret for ${receiverUrl}` })).toBeVisible();
  const rotated = (await page.getByTestId("new-secret").textContent())!;
  expect(rotated).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
  expect(rotated).not.toBe(secret);
  await expectNoSeriousViolations(page, "the new secret shown");
  await shot(page, "webhooks-rotated");
  await page.setViewportSize({ width: 414, height: 900 });
  await shot(page, "webhooks-rotated-414");
  await page.setViewportSize({ width: 1366, height: 900 });
  secret = rotated;
  await page.getByRole("button", { name: "I have copied it" }).click();
  await row.getByRole("button", { name: "Send a test event" }).click();
  await expect.poll(() => verified.length).toBe(2);
  expect(refused).toEqual([]);

  // Removing it asks first, then drops it from the list.
  await row.getByRole("button", { name: "Remove…" }).click();
  await expectNoSeriousViolations(page, "the remove dialog");
  await page.getByRole("dialog").getByRole("button", { name: "Remove webhook" }).click();
  await expect(page.getByRole("row").filter({ hasText: receiverUrl })).toHaveCount(0);
  expect(errors).toEqual([]);
});
