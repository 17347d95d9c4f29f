// After the whole browser run: no token, password or hash in any log line the
// console (and its demo fleet) printed during the run, nor in any API answer
// or export an admin can read. Runs as the teardown project of the browser
// tests, so it sees everything they did: sign-ins, enrollment and API tokens
// created in the UI, agents enrolling and checking in, rollouts, audit rows.
import fs from "node:fs";
import { expect, test } from "@playwright/test";
import pg from "pg";
import { embeddedUrl } from "../../server/db/embedded";
import { loadSecretBox } from "../../server/secret-box";
import { SIGNING_SECRET_PURPOSE } from "../../server/webhooks/signing";
import { CONSOLE_LOG, DATA_DIR } from "./paths";
import { ADMIN, signIn, trpc } from "./helpers";

/** A whole token (the UI shows only its 11-character prefix). */
const TOKEN = /orch_[ema]_[A-Za-z0-9_-]{20,}/g;
/** A bcrypt hash. */
const BCRYPT = /\$2[aby]?\$\d\d\$[./A-Za-z0-9]{53}/g;

test("no token, password or hash in the run's logs or in any API answer", async ({ page }) => {
  const client = new pg.Client({ connectionString: embeddedUrl(DATA_DIR) });
  await client.connect();
  const hashes: string[] = [];
  const signingSecrets: string[] = [];
  try {
    for (const sql of [
      "SELECT token_hash AS h FROM machine_tokens",
      "SELECT token_hash AS h FROM enrollment_tokens",
      "SELECT token_hash AS h FROM api_tokens",
      "SELECT password_hash AS h FROM users WHERE password_hash IS NOT NULL",
    ]) {
      hashes.push(...(await client.query<{ h: string }>(sql)).rows.map((r) => r.h));
    }
    // Webhook signing secrets are shown once, in the answer that creates them; stored sealed under the console's key.
    const box = loadSecretBox({ NODE_ENV: "development", dataDir: DATA_DIR }, { create: false });
    const sealed = (await client.query<{ s: string }>("SELECT sealed_secret AS s FROM webhook_subscriptions")).rows.map((r) => r.s);
    signingSecrets.push(...sealed.map((s) => box.open(s, SIGNING_SECRET_PURPOSE)));
  } finally {
    await client.end();
  }
  expect(hashes.length).toBeGreaterThan(10);

  await signIn(page, ADMIN);
  const answers: string[] = [];
  const read = async (path: string, input: unknown = undefined) => answers.push(JSON.stringify(await trpc(page.request, path, input)));
  await read("users.me");
  await read("users.list");
  await read("enrollmentTokens.list");
  await read("apiTokens.list");
  await read("rings.list");
  await read("rings.leases");
  await read("releases.list", {});
  await read("rollouts.list", {});
  await read("dashboard.summary");
  const machines = await trpc<{ rows: { machineId: string }[] }>(page.request, "machines.list", { pageSize: 100 });
  answers.push(JSON.stringify(machines));
  for (const m of machines.rows.slice(0, 20)) {
    await read("machines.get", { machineId: m.machineId });
    await read("machines.timeline", { machineId: m.machineId });
  }
  await read("audit.list", { pageSize: 200 });
  const webhooks = await trpc<{ id: string }[]>(page.request, "webhooks.list", undefined);
  answers.push(JSON.stringify(webhooks));
  for (const w of webhooks) await read("webhooks.deliveries", { id: w.id });
  const csv = await page.request.get("/api/export/audit.csv");
  expect(csv.ok()).toBe(true);
  answers.push(await csv.text());

  const log = fs.readFileSync(CONSOLE_LOG, "utf8");
  expect(log.length).toBeGreaterThan(0);
  const findings: string[] = [];
  for (const [where, text] of [["console log", log], ["API answers", answers.join("\n")]] as const) {
    for (const m of text.match(TOKEN) ?? []) findings.push(`${where}: a token ${m.slice(0, 11)}…`);
    for (const m of text.match(BCRYPT) ?? []) findings.push(`${where}: a password hash ${m.slice(0, 7)}…`);
    for (const h of hashes) if (text.includes(h)) findings.push(`${where}: a stored hash ${h.slice(0, 7)}…`);
    for (const s of signingSecrets) if (text.includes(s)) findings.push(`${where}: a webhook signing secret ${s.slice(0, 8)}…`);
    for (const m of text.match(/whsec_[A-Za-z0-9+/]{20,}/g) ?? []) findings.push(`${where}: a webhook signing secret ${m.slice(0, 8)}…`);
    // The first admin's password is printed once, in the start banner, and nowhere else.
    const lines = text.split("\n").filter((line) => line.includes(ADMIN.password));
    const allowed = where === "console log" ? lines.filter((line) => line.trim() === `password: ${ADMIN.password}`).slice(0, 1) : [];
    if (lines.length > allowed.length) findings.push(`${where}: the admin password in ${lines.length - allowed.length} line(s)`);
  }
  test.info().annotations.push({
    type: "secrets",
    description: `${log.split("\n").length} log lines and ${answers.length} API answers checked against ${hashes.length} stored hashes and ${signingSecrets.length} webhook secrets`,
  });
  expect(findings).toEqual([]);
});
