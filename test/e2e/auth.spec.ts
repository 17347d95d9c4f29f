// Sign-in and sessions against the real console, its Next.js and next-auth
// (issue 12, items 4, 5, 6 and 9): every spelling of the sign-in path is
// counted by the per-address limit; a callbackUrl never leads off the
// console; signing out or changing one's password ends the session on the
// server (the old cookie is refused, /api/auth/session does not renew it);
// an admin removes a user; every page carries a per-request script nonce.
import http from "node:http";
import { type APIRequestContext, expect, type Page, test } from "@playwright/test";
import { ADMIN, shot, signIn, trpc } from "./helpers";

test.describe.configure({ mode: "serial" });

const SESSION_COOKIE = "next-auth.session-token";

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request sent exactly as written (no URL normalisation on the client's side). */
function raw(baseURL: string, method: string, target: string, headers: Record<string, string> = {}, body = ""): Promise<RawAnswer> {
  const base = new URL(baseURL);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: base.hostname, port: base.port, method, path: target, headers: { ...headers, host: base.host, "content-length": Buffer.byteLength(body) } },
      (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (data += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** next-auth's CSRF token and the cookie that goes with it. */
async function csrf(baseURL: string) {
  const res = await raw(baseURL, "GET", "/api/auth/csrf");
  const cookie = (res.headers["set-cookie"] ?? []).map((c) => c.split(";")[0]).join("; ");
  return { token: (JSON.parse(res.body) as { csrfToken: string }).csrfToken, cookie };
}

function sessionCookieOf(res: RawAnswer): string | null {
  const set = (res.headers["set-cookie"] ?? []).find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  return set ? set.split(";")[0] : null;
}

async function sessionCookieOfPage(page: Page): Promise<string> {
  const cookie = (await page.context().cookies()).find((c) => c.name === SESSION_COOKIE);
  if (!cookie) throw new Error("no session cookie in the browser");
  return `${cookie.name}=${cookie.value}`;
}

/** What a cookie can do: read (a query needing a viewer) and act (a mutation that gets as far as checking its input). */
async function whatTheCookieCanDo(baseURL: string, cookie: string) {
  const read = await raw(baseURL, "GET", `/api/trpc/rings.list?input=${encodeURIComponent(JSON.stringify({ json: null }))}`, { cookie });
  const act = await raw(
    baseURL,
    "POST",
    "/api/trpc/users.changePassword",
    { cookie, "x-orchard-csrf": "1", "content-type": "application/json" },
    JSON.stringify({ json: { currentPassword: "not-the-password", newPassword: "does-not-matter-here" } }),
  );
  // 400: signed in, and the wrong current password refused; 401: not signed in.
  return { read: read.status, act: act.status };
}

/** GET /api/auth/session with a cookie: the session it reports, and whether it renewed the cookie. */
async function sessionEndpoint(baseURL: string, cookie: string) {
  const res = await raw(baseURL, "GET", "/api/auth/session", { cookie });
  const renewed = sessionCookieOf(res);
  return { session: JSON.parse(res.body) as { user?: { email?: string } }, renewed: renewed !== null && renewed !== `${SESSION_COOKIE}=` };
}

test("every spelling of the sign-in path is counted by the per-address limit", async ({ baseURL }) => {
  const { token, cookie } = await csrf(baseURL!);
  const form = (email: string, password: string) =>
    new URLSearchParams({ email, password, csrfToken: token, json: "true", callbackUrl: "/dashboard" }).toString();
  const post = (target: string, body: string) =>
    raw(baseURL!, "POST", target, { cookie, "content-type": "application/x-www-form-urlencoded" }, body);

  // Each of these reached next-auth's credentials sign-in before, and only the first was counted.
  const variants = [
    "/api/auth/callback/credentials",
    "/api/auth/callback/credentials/x",
    "/api/auth/callback/%63redentials",
    "/api/auth/callback/credentials?x=1",
    "/api/auth/callback/credentials#x",
    "/api/auth/x/../callback/credentials",
    "/api/auth/callback/./credentials",
    "/api/auth/%2e%2e/auth/callback/credentials",
    "/API/auth/callback/CREDENTIALS",
    "/api//auth/callback/credentials",
    "/api/auth/callback%2Fcredentials",
  ];
  const nobody = `nobody.${Date.now()}@example.com`; // wrong passwords for nobody: no real account backs off
  let remaining: number | null = null;
  for (const target of variants) {
    const res = await post(target, form(nobody, "wrong-password-e2e"));
    expect(res.status, target).not.toBe(500);
    const left = Number(res.headers["ratelimit-remaining"]);
    expect(res.headers["ratelimit-limit"], target).toBeDefined();
    // The limit counts in fixed one-minute windows: one may end between two requests, and then this is the next one's first.
    const limit = Number(res.headers["ratelimit-limit"]);
    if (remaining !== null) expect(left, `${target} is counted`).toBe(left > remaining ? limit - 1 : remaining - 1);
    remaining = left;
  }

  // A real sign-in through a trailing segment: it works, and it is counted.
  const signedIn = await post("/api/auth/callback/credentials/anything", form(ADMIN.email, ADMIN.password));
  expect(signedIn.status).toBe(200);
  expect(sessionCookieOf(signedIn)).not.toBeNull();
  expect(Number(signedIn.headers["ratelimit-remaining"])).toBe(remaining! - 1);
  test.info().annotations.push({ type: "sign-in limit", description: `${variants.length + 1} spellings, each counted; ${remaining! - 1} left this minute` });
});

test("a real sign-in with a callbackUrl that leads elsewhere lands on the console", async ({ page, baseURL }) => {
  const origin = new URL(baseURL!).origin;
  // Were the browser sent off the console, "evil.example" answers (there is no network here), and the URL shows it.
  const leaked: string[] = [];
  await page.route((url) => url.hostname === "evil.example", (route) => {
    leaked.push(route.request().url());
    return route.fulfill({ status: 200, contentType: "text/html", body: "<title>evil</title>elsewhere" });
  });
  for (const callbackUrl of ["/\\evil.example", "/\t/evil.example"]) {
    await page.context().clearCookies();
    await page.goto(`/signin?callbackUrl=${encodeURIComponent(callbackUrl)}`);
    await signInHere(page);
    await expect(page).toHaveURL(`${origin}/dashboard`);
  }
  // A callbackUrl on the console is followed.
  await page.context().clearCookies();
  await page.goto(`/signin?callbackUrl=${encodeURIComponent("/rings")}`);
  await signInHere(page);
  await expect(page).toHaveURL(`${origin}/rings`);
  expect(leaked).toEqual([]);

  // next-auth's own answer to the sign-in POST (what a form without JavaScript would follow) stays on the console too.
  const { token, cookie } = await csrf(baseURL!);
  for (const callbackUrl of ["/\\evil.example", "/\t/evil.example"]) {
    const res = await raw(
      baseURL!,
      "POST",
      "/api/auth/callback/credentials",
      { cookie, "content-type": "application/x-www-form-urlencoded" },
      new URLSearchParams({ email: ADMIN.email, password: ADMIN.password, csrfToken: token, json: "true", callbackUrl }).toString(),
    );
    expect(res.status).toBe(200);
    expect(new URL((JSON.parse(res.body) as { url: string }).url).origin, JSON.stringify(callbackUrl)).toBe(origin);
  }
});

/** Signs in on the open sign-in page and waits until the browser has left it, for wherever it went. */
async function signInHere(page: Page, user = ADMIN) {
  const signInPage = page.url();
  await page.getByLabel("E-mail").fill(user.email);
  await page.getByLabel("Password").fill(user.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((url) => url.href !== signInPage && !url.pathname.startsWith("/signin"));
}

test("signing out ends the session on the server: the old cookie is refused, and /api/auth/session does not renew it", async ({ page, baseURL }) => {
  await signIn(page, ADMIN);
  const cookie = await sessionCookieOfPage(page);
  expect(await whatTheCookieCanDo(baseURL!, cookie)).toEqual({ read: 200, act: 400 });
  const before = await sessionEndpoint(baseURL!, cookie);
  expect(before.session.user?.email).toBe(ADMIN.email);
  expect(before.renewed).toBe(true);

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL("**/signin**");

  expect(await whatTheCookieCanDo(baseURL!, cookie)).toEqual({ read: 401, act: 401 });
  const after = await sessionEndpoint(baseURL!, cookie);
  expect(after.session).toEqual({});
  expect(after.renewed).toBe(false);
  // …and the old cookie does not open a page either.
  const dashboard = await raw(baseURL!, "GET", "/dashboard", { cookie });
  expect([302, 303, 307, 308]).toContain(dashboard.status);
  expect(dashboard.headers.location).toMatch(/\/signin/);
});

async function createUser(request: APIRequestContext, email: string, password: string, role = "viewer") {
  const users = await trpc<{ id: string; email: string }[]>(request, "users.list", undefined);
  const old = users.find((u) => u.email === email);
  if (old) await trpc(request, "users.remove", { userId: old.id }, "mutation");
  return trpc<{ user: { id: string } }>(request, "users.create", { email, role, password }, "mutation");
}

test("a user changes their password on My account: signed out everywhere, the old cookie refused, the new password signs in", async ({ page, browser, baseURL }) => {
  const user = { email: "changes.password@example.com", password: "first-password-e2e" };
  await signIn(page, ADMIN);
  await createUser(page.request, user.email, user.password);

  const context = await browser.newContext();
  const theirs = await context.newPage();
  try {
    await signIn(theirs, user);
    const oldCookie = await sessionCookieOfPage(theirs);
    await theirs.getByRole("link", { name: "My account" }).click();
    await expect(theirs.getByRole("heading", { level: 1, name: "My account" })).toBeVisible();
    const form = theirs.getByRole("form", { name: "Change password" });

    // A wrong current password: the field is named, nothing changes.
    await form.getByLabel("Current password").fill("not-my-password");
    await form.getByLabel("New password", { exact: true }).fill("second-password-e2e");
    await form.getByLabel("New password, again").fill("second-password-e2e");
    await form.getByRole("button", { name: "Change password" }).click();
    await expect(form.getByRole("alert")).toContainText("currentPassword: that is not your current password");
    expect(await whatTheCookieCanDo(baseURL!, oldCookie)).toEqual({ read: 200, act: 400 });
    await shot(theirs, "account");

    await form.getByLabel("Current password").fill(user.password);
    await form.getByRole("button", { name: "Change password" }).click();
    await theirs.waitForURL(/\/signin\?changed=password$/);
    await expect(theirs.getByRole("status")).toContainText("Your password is changed");
    expect(await whatTheCookieCanDo(baseURL!, oldCookie)).toEqual({ read: 401, act: 401 });
    expect((await sessionEndpoint(baseURL!, oldCookie)).session).toEqual({});

    await signIn(theirs, { email: user.email, password: "second-password-e2e" });
    await expect(theirs.locator(".whoami")).toContainText(user.email);
  } finally {
    await context.close();
  }
});

test("an admin removes a user from the Users page; the user's session ends with them", async ({ page, browser, baseURL }) => {
  const user = { email: "to.be.removed@example.com", password: "removed-password-e2e" };
  await signIn(page, ADMIN);
  await createUser(page.request, user.email, user.password, "operator");
  const context = await browser.newContext();
  const theirs = await context.newPage();
  try {
    await signIn(theirs, user);
    const cookie = await sessionCookieOfPage(theirs);
    expect((await whatTheCookieCanDo(baseURL!, cookie)).read).toBe(200);

    await page.goto("/users");
    const table = page.getByRole("table", { name: "Users" });
    // No way to remove yourself.
    await expect(table.locator("tbody tr", { hasText: ADMIN.email }).getByRole("button", { name: "Remove…" })).toHaveCount(0);
    await table.locator("tbody tr", { hasText: user.email }).getByRole("button", { name: "Remove…" }).click();
    const dialog = page.getByRole("dialog", { name: `Remove ${user.email}?` });
    await dialog.getByLabel(/Reason/).fill("left the team (browser test)");
    await shot(page, "users-remove");
    await dialog.getByRole("button", { name: "Remove user" }).click();
    await expect(page.getByText(`${user.email} is removed`)).toBeVisible();
    await expect(table.locator("tbody tr", { hasText: user.email })).toHaveCount(0);
    expect(await whatTheCookieCanDo(baseURL!, cookie)).toEqual({ read: 401, act: 401 });
  } finally {
    await context.close();
  }
});

test("every page carries its own script nonce, and no inline script runs without it", async ({ page, request }) => {
  const violations: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
  const nonces = new Set<string>();
  for (let i = 0; i < 2; i++) {
    for (const path of ["/signin", "/does-not-exist"]) {
      const res = await request.get(path);
      const policy = res.headers()["content-security-policy"] ?? "";
      const scriptSrc = policy.split("; ").find((d) => d.startsWith("script-src ")) ?? "";
      expect(scriptSrc, path).not.toContain("unsafe-inline");
      const nonce = /'nonce-([^']+)'/.exec(scriptSrc)?.[1];
      expect(nonce, path).toBeTruthy();
      nonces.add(nonce!);
      const html = await res.text();
      const scripts = html.match(/<script\b[^>]*>/g) ?? [];
      expect(scripts.length, path).toBeGreaterThan(0);
      for (const tag of scripts) expect(tag, path).toContain(`nonce="${nonce}"`);
    }
  }
  expect(nonces.size).toBe(4);

  // In the browser: the sign-in page and a console page run (they hydrate) with nothing refused.
  await signIn(page, ADMIN);
  await page.goto("/account");
  await expect(page.getByRole("heading", { level: 1, name: "My account" })).toBeVisible();
  await page.goto("/users");
  await expect(page.getByRole("table", { name: "Users" })).toBeVisible();
  expect(violations).toEqual([]);
});
