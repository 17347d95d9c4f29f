// Single sign-on in the browser (issue 13, item 6), against a real OpenID
// Connect provider that the test starts (`oidc-provider`, see
// oidc-provider.ts) and two consoles of its own configured against it, each
// on its own PostgreSQL database: one beside local sign-in, one with local
// sign-in switched off. The browser goes through the provider's own login and
// consent pages and lands signed in with the role and rings its groups map
// to; a user in no mapped group gets the refusal page; with local sign-in off
// the password form is gone and its endpoint refuses.
import { randomBytes } from "node:crypto";
import { type Browser, expect, type Page, test } from "@playwright/test";
import pg from "pg";
import { type ConsoleProcess, consoleProcessSlot, removeConsoleProcess, startConsoleProcess } from "../helpers/console-process";
import { adminUrl, withDatabase } from "../helpers/databases";
import { expectNoSeriousViolations, shot } from "./helpers";
import { type RunningProvider, startOidcProvider } from "./oidc-provider";

test.describe.configure({ mode: "serial" });

const CLIENT = { id: "orchard-console", secret: `secret-${randomBytes(12).toString("hex")}` };
const GROUPS = "orchard-admins=admin,orchard-canary-ops=operator:canary+beta,orchard-viewers=viewer";
const USERS = {
  alice: { email: "alice@acme.example", name: "Alice Ops", groups: ["staff", "orchard-canary-ops"] },
  ada: { email: "ada@acme.example", name: "Ada Admin", groups: ["orchard-admins", "orchard-viewers"] },
  nora: { email: "nora@acme.example", name: "Nora Nobody", groups: ["staff", "marketing"] },
};

let provider: RunningProvider;
let beside: ConsoleProcess;
let ssoOnly: ConsoleProcess;
const databases: string[] = [];

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function freshDatabase(): Promise<string> {
  const name = `orchard_e2e_sso_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
  await admin((client) => client.query(`CREATE DATABASE "${name}"`));
  databases.push(name);
  return withDatabase(name);
}

/** A query on a console's own database. */
async function query<T extends pg.QueryResultRow>(slot: ConsoleProcess, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: slot.databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

test.beforeAll(async () => {
  test.setTimeout(180_000);
  beside = await consoleProcessSlot(await freshDatabase());
  ssoOnly = await consoleProcessSlot(await freshDatabase());
  provider = await startOidcProvider({
    clientId: CLIENT.id,
    clientSecret: CLIENT.secret,
    redirectUris: [beside, ssoOnly].map((slot) => `${slot.url}/api/auth/callback/oidc`),
    users: USERS,
  });
  const env = (slot: ConsoleProcess, localSignIn: "on" | "off") => ({
    ORCHARD_SERVE_PAGES: "true",
    // The browser run's own console (playwright.config.ts) has built the pages already.
    ORCHARD_AUTO_BUILD: "false",
    ORCHARD_URL: slot.url,
    ORCHARD_ADMIN_PASSWORD: "e2e-admin-password",
    ORCHARD_OIDC_ISSUER: provider.issuer,
    ORCHARD_OIDC_CLIENT_ID: CLIENT.id,
    ORCHARD_OIDC_CLIENT_SECRET: CLIENT.secret,
    ORCHARD_OIDC_GROUPS: GROUPS,
    ORCHARD_OIDC_SCOPES: "openid email profile groups",
    ORCHARD_OIDC_NAME: "Acme ID",
    ORCHARD_LOCAL_SIGN_IN: localSignIn,
  });
  beside.env = env(beside, "on");
  ssoOnly.env = env(ssoOnly, "off");
  await Promise.all([startConsoleProcess(beside), startConsoleProcess(ssoOnly)]);
});

test.afterAll(async () => {
  for (const slot of [beside, ssoOnly]) if (slot) await removeConsoleProcess(slot);
  await provider?.stop();
  await admin(async (client) => {
    for (const name of databases) await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  });
});

/** Through the provider's own pages: its login form (any password; the login is the user's subject), then its consent. */
async function signInAtProvider(page: Page, subject: string) {
  await page.getByRole("button", { name: "Sign in with Acme ID" }).click();
  await page.waitForURL((url) => url.origin === provider.issuer);
  await page.locator('input[name="login"]').fill(subject);
  await page.locator('input[name="password"]').fill("any-password-at-the-provider");
  await page.getByRole("button", { name: "Sign-in" }).click();
  await page.getByRole("button", { name: "Continue" }).click();
}

/** Who the browser is signed in as on a console (users.me), null when nobody. */
async function me(page: Page, slot: ConsoleProcess) {
  const res = await page.request.get(`${slot.url}/api/trpc/users.me?input=${encodeURIComponent(JSON.stringify({ json: null }))}`);
  return ((await res.json()) as { result: { data: { json: unknown } } }).result.data.json;
}

/** A browser of its own (cookies and all), as a second person or machine would have. */
async function freshPage(browser: Browser) {
  const context = await browser.newContext();
  return context.newPage();
}

test("a user first seen signs in through the provider and lands with the role and rings of their groups", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    // The console's pages only: the provider's are not ours to judge.
    if (message.type() === "error" && page.url().startsWith(beside.url)) errors.push(`${page.url()}: ${message.text().slice(0, 300)}`);
  });
  await page.goto(`${beside.url}/signin`);
  await expect(page.getByRole("button", { name: "Sign in with Acme ID" })).toBeVisible();
  await expect(page.getByLabel("E-mail")).toBeVisible();
  await shot(page, "sso-signin");
  await expectNoSeriousViolations(page, "the sign-in page with single sign-on");

  await signInAtProvider(page, "alice");
  await page.waitForURL(`${beside.url}/dashboard`);
  expect(await me(page, beside)).toMatchObject({ kind: "user", name: USERS.alice.email, role: "operator", rings: ["beta", "canary"] });

  await page.goto(`${beside.url}/account`);
  const facts = page.locator("dl.facts");
  await expect(facts).toContainText("alice@acme.example");
  await expect(facts).toContainText("operator");
  await expect(facts).toContainText("beta, canary");
  await expect(facts).toContainText("single sign-on");
  await expect(page.getByRole("heading", { name: "Change password" })).toHaveCount(0);
  await expect(page.getByText("Orchard has no password of yours to change")).toBeVisible();
  await shot(page, "sso-account");
  await expectNoSeriousViolations(page, "the account page of a user of single sign-on");

  const [row] = await query<{ password_hash: string | null; role: string; all_rings: boolean; rings: string[]; sso_issuer: string }>(
    beside,
    "SELECT password_hash, role, all_rings, rings, sso_issuer FROM users WHERE email = $1",
    [USERS.alice.email],
  );
  expect(row).toEqual({ password_hash: null, role: "operator", all_rings: false, rings: ["beta", "canary"], sso_issuer: provider.issuer });
  const audit = await query<{ actor_label: string; action: string }>(beside, "SELECT actor_label, action FROM audit_log WHERE target_id = $1", [USERS.alice.email]);
  expect(audit).toEqual([{ actor_label: "sso", action: "user.create" }]);
  expect(errors).toEqual([]);
});

test("the role follows the groups claim at the next sign-in, which ends the user's other sessions", async ({ page, browser }) => {
  await page.goto(`${beside.url}/signin`);
  await signInAtProvider(page, "alice");
  await page.waitForURL(`${beside.url}/dashboard`);
  expect(await me(page, beside)).toMatchObject({ role: "operator", rings: ["beta", "canary"] });

  // The identity provider moves alice to the admins; she signs in from another browser.
  provider.users.set("alice", { ...USERS.alice, groups: ["orchard-admins"] });
  const other = await freshPage(browser);
  await other.goto(`${beside.url}/signin`);
  await signInAtProvider(other, "alice");
  await other.waitForURL(`${beside.url}/dashboard`);
  expect(await me(other, beside)).toMatchObject({ role: "admin", rings: null });
  // The first browser's session ended with the change: its next page is the sign-in.
  await page.goto(`${beside.url}/rings`);
  await page.waitForURL((url) => url.pathname === "/signin");
  await other.context().close();
  provider.users.set("alice", USERS.alice);
});

test("a user in no mapped group gets a clear refusal page, and nothing is created", async ({ page }) => {
  await page.goto(`${beside.url}/signin`);
  await signInAtProvider(page, "nora");
  await page.waitForURL((url) => url.origin === beside.url && url.pathname === "/signin/refused");
  expect(new URL(page.url()).searchParams.get("reason")).toBe("no-group");
  const refusal = page.getByRole("alert").filter({ hasText: "Your account has no access to Orchard" });
  await expect(refusal).toBeVisible();
  await expect(refusal).toContainText("none of the groups that this console gives a role to");
  await shot(page, "sso-refused");
  await expectNoSeriousViolations(page, "the refusal page");
  expect(await query(beside, "SELECT id FROM users WHERE email = $1", [USERS.nora.email])).toEqual([]);
  // Not signed in, and not a loop: the way back is the sign-in page, which stays put.
  expect(await me(page, beside)).toBeNull();
  await page.getByRole("link", { name: "Back to sign-in" }).click();
  await page.waitForURL(`${beside.url}/signin`);
  await expect(page.getByRole("button", { name: "Sign in with Acme ID" })).toBeVisible();
});

test("with local sign-in off, the password form is gone, its endpoint refuses, and single sign-on works", async ({ page }) => {
  // No first admin with a password was made: admins come through the groups.
  expect(await query(ssoOnly, "SELECT id FROM users")).toEqual([]);
  await page.goto(`${ssoOnly.url}/signin`);
  await expect(page.getByRole("button", { name: "Sign in with Acme ID" })).toBeVisible();
  await expect(page.getByText("Sign-in with a password is switched off here.")).toBeVisible();
  await expect(page.getByLabel("E-mail")).toHaveCount(0);
  await expect(page.getByLabel("Password")).toHaveCount(0);
  await shot(page, "sso-only-signin");
  await expectNoSeriousViolations(page, "the sign-in page with local sign-in off");

  // The endpoint behind the form refuses, with next-auth's CSRF token and all.
  const csrf = (await (await page.request.get(`${ssoOnly.url}/api/auth/csrf`)).json()) as { csrfToken: string };
  const providers = (await (await page.request.get(`${ssoOnly.url}/api/auth/providers`)).json()) as Record<string, unknown>;
  expect(Object.keys(providers)).toEqual(["oidc"]);
  const attempt = await page.request.post(`${ssoOnly.url}/api/auth/callback/credentials`, {
    form: { email: "admin@orchard.local", password: "e2e-admin-password", csrfToken: csrf.csrfToken, json: "true" },
    maxRedirects: 0,
  });
  expect(attempt.status()).toBe(400);
  expect((await page.context().cookies()).filter((c) => c.name === "next-auth.session-token")).toEqual([]);

  await signInAtProvider(page, "ada");
  await page.waitForURL(`${ssoOnly.url}/dashboard`);
  expect(await me(page, ssoOnly)).toMatchObject({ name: USERS.ada.email, role: "admin", rings: null });

  // The users page says how each user signs in.
  await page.goto(`${ssoOnly.url}/users`);
  const row = page.getByRole("row").filter({ hasText: USERS.ada.email });
  await expect(row).toContainText("single sign-on");
  // No user with a password can be made here: the page says what the server says, and offers no form.
  await expect(page.getByTestId("no-new-users")).toContainText(
    "No new users here: sign-in with a password is switched off on this console (ORCHARD_LOCAL_SIGN_IN=off): people sign in through Acme ID",
  );
  await expect(page.getByRole("button", { name: "New user" })).toHaveCount(0);
  await shot(page, "sso-users");
  await page.setViewportSize({ width: 414, height: 900 });
  await shot(page, "sso-users-414");
  await page.setViewportSize({ width: 1366, height: 900 });
  await expectNoSeriousViolations(page, "the users page with a user of single sign-on");
});

test("an identity provider that does not answer: the sign-in page says so, and nothing else happens", async ({ page }) => {
  await provider.stop();
  await page.goto(`${ssoOnly.url}/signin?callbackUrl=${encodeURIComponent("/rings")}`);
  await page.getByRole("button", { name: "Sign in with Acme ID" }).click();
  await page.waitForURL((url) => url.origin === ssoOnly.url && url.pathname === "/signin" && url.searchParams.get("error") === "OAuthSignin");
  await expect(page.getByRole("alert").filter({ hasText: "Single sign-on could not start" })).toContainText("the identity provider did not answer");
  await expect(page.getByRole("button", { name: "Sign in with Acme ID" })).toBeEnabled();
  await shot(page, "sso-provider-down");
  expect(await me(page, ssoOnly)).toBeNull();
});
