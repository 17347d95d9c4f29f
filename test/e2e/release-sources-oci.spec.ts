// A container registry source added on the Release sources page: a real
// registry (Debian's docker-registry, behind htpasswd) holding images built
// with umoci and pushed with skopeo, one signed with a cosign key. The
// operator gives the registry, repository, tag pattern, credentials and the
// key; the console reads it through the distribution API and the releases
// page shows each image with its signature state. The password is never
// shown again.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { Layout, pushSignature, type Registry, requireTools, signingKey, skopeoInspect, startRegistry, writeHtpasswd } from "../helpers/oci-registry";
import { ADMIN, expectNoSeriousViolations, shot, signIn } from "./helpers";

const BRANCH = "registry.example/e2e/os";
const NAME = "e2e/os";
const PASSWORD = "e2e-registry-s3cret";
const key = signingKey();
let registry: Registry;
let tmp: string;

test.beforeAll(async () => {
  await requireTools("docker-registry", "skopeo", "umoci");
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "orch-e2e-oci-"));
  const htpasswd = path.join(tmp, "htpasswd");
  await writeHtpasswd(htpasswd, { ci: PASSWORD });
  registry = await startRegistry(path.join(tmp, "registry"), { kind: "htpasswd", path: htpasswd });
  const layout = await Layout.create(path.join(tmp, "layout"));
  const creds = `ci:${PASSWORD}`;
  await layout.build("43.1", "empty", { "usr/lib/os-release": "VERSION_ID=43.1\n" }, { labels: { "org.opencontainers.image.version": "43.1", "org.opencontainers.image.title": "E2E OS 43.1" } });
  await layout.push("43.1", registry, NAME, "43.1", { creds });
  const digest = String((await skopeoInspect(registry, `${NAME}:43.1`, { creds })).Digest);
  await pushSignature(path.join(tmp, "sig"), registry, NAME, digest, key.privateKey, { creds });
  await layout.build("43.2", "43.1", { "usr/share/motd": "43.2\n" }, { labels: { "org.opencontainers.image.version": "43.2", "org.opencontainers.image.title": "E2E OS 43.2" } });
  await layout.push("43.2", registry, NAME, "43.2", { creds });
});

test.afterAll(async () => {
  await registry?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test("an operator adds a registry source with credentials and a cosign key, and sees its images as releases", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await signIn(page, ADMIN);
  await page.goto("/releases/sources");
  await page.getByRole("button", { name: "Add source" }).click();
  await page.getByRole("radio", { name: /Container registry/ }).check();
  await expect(page.getByRole("heading", { name: "Add a container registry repository" })).toBeVisible();
  await page.getByLabel("Name", { exact: true }).fill("e2e-bootc");
  await page.getByLabel("Branch").fill(BRANCH);
  await page.getByLabel("Registry URL").fill(registry.url);
  await page.getByLabel("Repository", { exact: true }).fill(NAME);
  await page.getByLabel("Tag pattern").fill("43.*");
  // A user name without a password: the server names the field.
  await page.getByLabel("User name").fill("ci");
  await page.getByRole("button", { name: "Add source" }).last().click();
  await expect(page.getByText(/give both username and password/)).toBeVisible();
  await expect(page.getByLabel("Password or token")).toHaveAttribute("aria-invalid", "true");
  await page.getByLabel("Password or token").fill(PASSWORD);
  await page.getByLabel("Cosign public key (PEM)").fill(key.publicKeyPem);
  await shot(page, "release-sources-add-oci-1366");
  await page.getByRole("button", { name: "Add source" }).last().click();
  await expect(page.getByText(/Added source e2e-bootc/)).toBeVisible();
  const row = page.getByRole("row", { name: /e2e-bootc/ });
  await expect(row.getByText("In sync")).toBeVisible({ timeout: 30_000 });
  await expect(row.getByText("2 release(s)")).toBeVisible();
  await expect(row.getByText(/cosign\s*sha256:[0-9a-f]{16}/)).toBeVisible();
  await expect(page.locator("body")).not.toContainText(PASSWORD);
  await expectNoSeriousViolations(page, "/releases/sources");
  await shot(page, "release-sources-oci-1366");

  await page.goto(`/releases?ref=${encodeURIComponent(BRANCH)}`);
  const signed = page.getByRole("row", { name: /43\.1/ });
  await expect(signed.getByText("Signed")).toBeVisible();
  await expect(signed.getByText("from e2e-bootc")).toBeVisible();
  const unsigned = page.getByRole("row", { name: /43\.2/ });
  await expect(unsigned.getByText("Unsigned", { exact: true })).toBeVisible();
  await expect(unsigned.getByRole("link", { name: "Roll out…" })).toHaveCount(0);
  await shot(page, "releases-oci-1366");
  expect(errors).toEqual([]);
});
