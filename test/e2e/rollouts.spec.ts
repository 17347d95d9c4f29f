// Rollouts end to end, as an operator drives one: add a release, plan a
// rollout from its dry run, watch the demo agents update, pause and revert
// it, pin a machine, and find it all in the audit log. Screenshots of every
// rollout page go to test-results/screenshots/, at 1366 and 1024 px.
import { createHash } from "node:crypto";
import { expect, test } from "@playwright/test";
import { ADMIN, ensureFleet, shotWide, signIn } from "./helpers";

test.describe.configure({ mode: "serial" });

const VERSION = "2027.1.1";
const REF = "exampleos/x86_64/stable";
const CHECKSUM = createHash("sha256").update(`orchard e2e ${VERSION}`).digest("hex");

test("an operator rolls a release out through two rings, pauses and reverts it, and pins a machine", async ({ page, baseURL }) => {
  test.setTimeout(360_000);
  await signIn(page, ADMIN);
  await ensureFleet(page.request, baseURL!);

  // A new release, added through the page.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Releases" }).click();
  await page.getByRole("button", { name: "Add release" }).click();
  const form = page.getByRole("form", { name: "Add release" });
  await form.getByLabel("Branch (ostree ref)").fill(REF);
  await form.getByLabel("Version").fill(VERSION);
  await form.getByLabel("Commit checksum").fill(CHECKSUM);
  await form.getByRole("button", { name: "Add release" }).click();
  await expect(page.getByRole("status").filter({ hasText: `Added release ${VERSION}` })).toBeVisible();

  // From its row to a new rollout, the release already chosen.
  const releaseRow = page.getByRole("table", { name: "Releases" }).locator("tbody tr", { hasText: VERSION });
  await releaseRow.getByRole("link", { name: "Roll out…" }).click();
  await expect(page).toHaveURL(/\/rollouts\/new\?version=2027\.1\.1/);
  await expect(page.getByLabel("Release", { exact: true })).toHaveValue(/.+/);
  await expect(page.getByText("Choose a release and at least one ring")).toBeVisible();

  // Two rings, small waves, no soak; a gate that never trips on the demo fleet's random failures.
  await page.getByRole("checkbox", { name: /canary/ }).check();
  await page.getByRole("checkbox", { name: /beta/ }).check();
  await page.getByLabel("Then these shares of each ring (%)").fill("100");
  await page.getByLabel("Soak (minutes)").fill("0");
  await page.getByLabel("Max failure rate (%)").fill("100");

  // The dry run: a wave table per ring, with the machines of each wave.
  const canaryWaves = page.getByRole("table", { name: "Waves of ring canary" });
  const betaWaves = page.getByRole("table", { name: "Waves of ring beta" });
  await expect(canaryWaves).toBeVisible();
  await expect(betaWaves).toBeVisible();
  await expect(canaryWaves.locator("tbody tr").first()).toContainText("Wave 1");
  await expect(canaryWaves.locator("tbody tr").first()).toContainText("single first machine");
  await expect(betaWaves.locator("tbody tr")).toHaveCount(2);
  await expect(betaWaves.locator(".machine-chip").first()).toContainText(/online|offline/);
  const summary = page.locator(".preview-total");
  await expect(summary).toHaveText(/^Dry run: \d+ machines? in 2 rings would update to 2027\.1\.1/);
  const planned = Number(/(\d+) machines?/.exec((await summary.textContent())!)![1]);
  expect(planned).toBeGreaterThan(1);
  await shotWide(page, "rollout-new");

  // Start it: the confirmation says how many machines in how many rings.
  await page.getByRole("button", { name: "Start rollout…" }).click();
  const confirm = page.getByRole("dialog");
  await expect(confirm).toContainText(`${planned} machines in 2 rings`);
  await confirm.getByRole("button", { name: "Start rollout" }).click();
  await expect(page).toHaveURL(/\/rollouts\/[a-z0-9]+$/);
  const rolloutUrl = page.url();
  await expect(page.getByRole("heading", { level: 1, name: `Rollout of ${VERSION}` })).toBeVisible();
  await expect(page.locator(".page-header .badge", { hasText: "Running" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "canary" })).toBeVisible();

  // The bars move as the demo agents update: wait for the first machine to succeed.
  const overall = page.getByRole("img", { name: /^Whole rollout: / });
  await expect(overall).toHaveAttribute("aria-label", /^Whole rollout: 0 of \d+ succeeded/);
  await expect(overall).toHaveAttribute("aria-label", /^Whole rollout: [1-9]\d* of \d+ succeeded/, { timeout: 180_000 });
  await expect(page.getByRole("table", { name: "Machines of this rollout" }).getByText("Succeeded").first()).toBeVisible();
  await shotWide(page, "rollout-detail");

  // Pause it: the reason is on the page, with who paused it.
  await page.getByRole("button", { name: "Pause…" }).click();
  const pause = page.getByRole("dialog");
  await expect(pause).toContainText(/downloading or staged (holds|hold)/);
  await expect(pause).toContainText(/already granted a reboot slot (goes|go) on/);
  await pause.getByLabel(/Reason/).fill("e2e: checking the kiosk screens");
  await pause.getByRole("button", { name: "Pause rollout" }).click();
  const banner = page.locator(".pause-banner");
  await expect(banner).toContainText("Paused by an operator");
  await expect(banner).toContainText("e2e: checking the kiosk screens");
  await expect(page.locator(".page-header .badge", { hasText: "Paused" })).toBeVisible();
  await shotWide(page, "rollout-paused");

  // The list shows it paused, with the reason; the state filter lives in the URL.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Rollouts" }).click();
  const list = page.getByRole("table", { name: "Rollouts, newest first" });
  const row = list.locator("tbody tr", { hasText: VERSION });
  await expect(row).toContainText("Paused");
  await expect(row).toContainText("e2e: checking the kiosk screens");
  await expect(row.getByRole("img", { name: /Rollout of 2027\.1\.1: [1-9]\d* of \d+ succeeded/ })).toBeVisible();
  await page.getByLabel("State").selectOption("paused");
  await expect(page).toHaveURL(/[?&]state=paused/);
  await expect(list.locator("tbody tr", { hasText: VERSION })).toBeVisible();
  await page.getByLabel("State").selectOption("completed");
  await expect(list.locator("tbody tr", { hasText: VERSION })).toHaveCount(0);
  await page.getByLabel("State").selectOption("");
  await shotWide(page, "rollouts");

  // Revert the whole rollout: the confirmation counts the machines it sends back.
  await page.goto(rolloutUrl);
  await page.getByRole("button", { name: "Revert…" }).click();
  const revert = page.getByRole("dialog");
  await expect(revert).toContainText(/[1-9]\d* machines? on 2027\.1\.1 \(or rebooting into it\) boots? (its|their) previous deployment/);
  await revert.getByRole("button", { name: "Revert rollout" }).click();
  await expect(page.getByRole("status").filter({ hasText: /Reverted the rollout: \d+ machines? go/ })).toBeVisible();
  await expect(page.locator(".pause-banner")).toContainText("Reverted");
  await expect(page.locator(".page-header .badge", { hasText: "Reverted" })).toBeVisible();
  await shotWide(page, "rollout-reverted");

  // Pin a machine of the stable ring to the new release from its page.
  await page.goto("/machines?ring=stable");
  await page.getByRole("table", { name: "Machines" }).locator("tbody tr").first().getByRole("link").click();
  await expect(page.getByRole("button", { name: "Pin to release…" })).toBeVisible();
  await page.getByRole("button", { name: "Pin to release…" }).click();
  const pin = page.getByRole("dialog");
  await pin.getByLabel("Release").selectOption({ label: `${VERSION} — ${REF}` });
  await pin.getByLabel(/Reason/).fill("e2e: hold this kiosk on the new image");
  await pin.getByRole("button", { name: `Pin to ${VERSION}` }).click();
  await expect(page.getByRole("status").filter({ hasText: `to ${VERSION}: it leaves every rollout` })).toBeVisible();
  await expect(page.locator(".hold-banner")).toContainText(`Pinned to ${VERSION}`);
  await expect(page.getByRole("button", { name: "Unpin…" })).toBeVisible();
  await shotWide(page, "machine-pinned");

  // The audit log has the rollout's start and pause, and the pin.
  for (const action of ["rollout.start", "rollout.pause", "machine.pin"]) {
    await page.goto(`/audit?action=${action}`);
    const audit = page.getByRole("table", { name: /Audit log/ });
    await expect(audit.locator("tbody tr td:nth-child(3)").first()).toHaveText(action);
    await expect(audit.locator("tbody tr").first()).toContainText(ADMIN.email);
  }
  await expect(page.getByRole("table", { name: /Audit log/ })).toContainText("e2e: hold this kiosk on the new image");
  await page.goto("/audit?target=rollout");
  await expect(page.getByRole("table", { name: /Audit log/ }).getByText("rollout.pause").first()).toBeVisible();
  await shotWide(page, "audit-rollouts");
});

test("rings: maintenance windows, reboot slots; releases: the emergency brake", async ({ page }) => {
  await signIn(page, ADMIN);
  await page.goto("/rings");
  await expect(page.getByRole("heading", { name: "Reboot slots" })).toBeVisible();
  await expect(page.getByRole("table", { name: "Reboot slots held" })).toBeVisible();

  // A weekday window and a blackout date on the last ring.
  const stable = page
    .getByRole("table", { name: "Rings in rollout order" })
    .locator("tbody tr")
    .filter({ has: page.getByText("stable", { exact: true }) });
  await stable.getByRole("button", { name: "Policy…" }).click();
  const policy = page.getByRole("dialog");
  await policy.getByLabel("Time zone", { exact: true }).fill("Europe/Amsterdam");
  await policy.getByRole("button", { name: "Add window" }).click();
  await policy.getByLabel("Start", { exact: true }).fill("02:00");
  await policy.getByLabel("Minutes", { exact: true }).fill("180");
  await policy.getByLabel("Date", { exact: true }).fill("2026-12-24");
  await policy.getByRole("button", { name: "Add date" }).click();
  await expect(policy.getByRole("list", { name: "Blackout dates" })).toContainText("2026-12-24");
  await shotWide(page, "ring-policy");
  await policy.getByRole("button", { name: "Save policy" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Saved the policy of ring stable" })).toBeVisible();
  await expect(stable).toContainText("Mon–Fri 02:00 for 3 h");
  await expect(stable).toContainText("Europe/Amsterdam · 1 blackout date");

  // Reshuffle asks first, and says how many machines it moves.
  await stable.getByRole("button", { name: "Reshuffle…" }).click();
  await expect(page.getByRole("dialog")).toContainText(/machines of stable gets a new place/);
  await page.getByRole("dialog").getByRole("button", { name: "Reshuffle" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Reshuffled the cohorts of ring stable" })).toBeVisible();
  await shotWide(page, "rings-windows");

  // The emergency brake quarantines the release: a red badge in its row.
  await page.goto(`/releases?q=${VERSION}`);
  const row = page.getByRole("table", { name: "Releases" }).locator("tbody tr", { hasText: VERSION });
  await row.getByRole("button", { name: "Emergency brake…" }).click();
  const brake = page.getByRole("dialog");
  await expect(brake).toContainText(/Stops \d+ rollouts? of 2027\.1\.1/);
  await expect(brake).toContainText(/Cancels \d+ staged machines?/);
  await expect(brake).toContainText("Quarantines the release");
  await brake.getByLabel(/Reason/).fill("e2e: bad image");
  await brake.getByRole("button", { name: "Brake", exact: true }).click();
  await expect(page.getByRole("status").filter({ hasText: `Release ${VERSION} is quarantined` })).toBeVisible();
  await expect(row.locator(".badge.quarantined")).toHaveText("Quarantined");
  await expect(row.getByRole("link", { name: "Roll out…" })).toHaveCount(0);
  await shotWide(page, "releases-brake");

  // Lifting the quarantine needs a reason, and puts the release back in reach.
  await row.getByRole("button", { name: "Lift quarantine…" }).click();
  const lift = page.getByRole("dialog");
  await expect(lift).toContainText("Nothing restarts by itself");
  await expect(lift.getByRole("button", { name: "Lift quarantine" })).toBeDisabled();
  await lift.getByLabel(/Reason/).fill("e2e: the image was fine after all");
  await shotWide(page, "releases-lift-quarantine");
  await lift.getByRole("button", { name: "Lift quarantine" }).click();
  await expect(page.getByRole("status").filter({ hasText: `Release ${VERSION} is no longer quarantined` })).toBeVisible();
  await expect(row.locator(".badge.quarantined")).toHaveCount(0);
  await expect(row.getByRole("link", { name: "Roll out…" })).toBeVisible();
});
