// Sessions end on the server (issue 12, item 6): an old cookie is refused
// after sign-out, after its user is disabled, gets a new role or a new
// password, or is removed; re-enabling a user revives none of their sessions;
// next-auth's jwt callback (what /api/auth/session renews the cookie through)
// refuses an ended session. In the browser: test/e2e/auth.spec.ts.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { authOptions } from "../../server/auth/next-auth";
import { createConsoleRuntime } from "../../server/auth/sign-in";
import { gateStamp } from "../../server/auth/sign-in-gate";
import { SignInGuard } from "../../server/auth/sign-in-guard";
import { createUser, removeUser } from "../../server/users/users";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { signedInCookie } from "../helpers/sessions";

let app: TestConsole;
const SECRET = "s".repeat(40);
const OPS = { email: "ops@example.com", password: "ops-password-1234" };
let adminId: string;
let adminCookie: string;

beforeAll(async () => {
  app = await startTestConsole({ ORCHARD_SECRET: SECRET });
  adminId = (await app.db.prisma.user.findFirstOrThrow({ where: { role: "admin" } })).id;
  adminCookie = (await signedInCookie(app.db, adminId, SECRET)).cookie;
});

afterAll(async () => {
  await app?.stop();
});

type Answer = { status: number; body: { result?: { data: { json: unknown } }; error?: { json: { message: string; data: { code: string } } } } };

async function trpc(path: string, cookie: string, input?: unknown, mutation = false): Promise<Answer> {
  const headers = { cookie, "x-orchard-csrf": "1", "content-type": "application/json" };
  const res = mutation
    ? await fetch(`${app.url}/api/trpc/${path}`, { method: "POST", headers, body: JSON.stringify({ json: input }) })
    : await fetch(`${app.url}/api/trpc/${path}?input=${encodeURIComponent(JSON.stringify({ json: input ?? null }))}`, { headers });
  return { status: res.status, body: (await res.json()) as Answer["body"] };
}

/** A fresh operator and a signed-in cookie of theirs. */
async function freshOperator(email = OPS.email) {
  await app.db.prisma.user.deleteMany({ where: { email } });
  const { user } = await createUser(app.db.prisma, cliActor, { email, role: "operator", password: OPS.password });
  return { user, ...(await signedInCookie(app.db, user.id, SECRET)) };
}

/** What the old cookie can still do: read (a query) and act (a mutation). */
async function whatTheCookieCanDo(cookie: string) {
  const read = await trpc("rings.list", cookie);
  const act = await trpc("rings.create", cookie, { name: `r${Date.now()}`, branch: "exampleos/x86_64/stable" }, true);
  return { read: read.status, act: act.status };
}

const jwt = (token: Record<string, unknown>) =>
  authOptions().callbacks!.jwt!({ token, account: null, user: undefined as never, trigger: undefined } as never);

describe("sessions end on the server", () => {
  it("a signed-in cookie works until sign-out; after it, the old cookie is refused for reading and acting", async () => {
    const ops = await freshOperator();
    const otherBrowser = await signedInCookie(app.db, ops.user.id, SECRET);
    expect(await whatTheCookieCanDo(ops.cookie)).toEqual({ read: 200, act: 200 });

    // next-auth's sign-out event, as POST /api/auth/signout fires it with the cookie's token.
    await authOptions().events!.signOut!({ token: { sub: ops.user.id, sid: ops.sid }, session: undefined as never });
    expect(await whatTheCookieCanDo(ops.cookie)).toEqual({ read: 401, act: 401 });
    expect(await app.db.prisma.session.count({ where: { id: ops.sid } })).toBe(0);
    // Signing out of one browser leaves the user's other browsers signed in.
    expect(await whatTheCookieCanDo(otherBrowser.cookie)).toEqual({ read: 200, act: 200 });
  });

  it("the jwt callback (how /api/auth/session and every page renew the cookie) refuses an ended session", async () => {
    const ops = await freshOperator();
    await expect(jwt({ sub: ops.user.id, sid: ops.sid })).resolves.toMatchObject({ sid: ops.sid });
    await authOptions().events!.signOut!({ token: { sub: ops.user.id, sid: ops.sid }, session: undefined as never });
    await expect(jwt({ sub: ops.user.id, sid: ops.sid })).rejects.toThrow(/session has ended/);
    // A cookie from before sessions existed (no sid) is no session either.
    await expect(jwt({ sub: ops.user.id })).rejects.toThrow(/session has ended/);
  });

  it("disabling a user ends their sessions, and re-enabling them revives none", async () => {
    const ops = await freshOperator();
    expect((await trpc("users.update", adminCookie, { userId: ops.user.id, disabled: true }, true)).status).toBe(200);
    expect(await whatTheCookieCanDo(ops.cookie)).toEqual({ read: 401, act: 401 });
    expect((await trpc("users.update", adminCookie, { userId: ops.user.id, disabled: false }, true)).status).toBe(200);
    expect(await whatTheCookieCanDo(ops.cookie)).toEqual({ read: 401, act: 401 });
    await expect(jwt({ sub: ops.user.id, sid: ops.sid })).rejects.toThrow(/session has ended/);
    // Signing in again works.
    const again = await signedInCookie(app.db, ops.user.id, SECRET);
    expect(await whatTheCookieCanDo(again.cookie)).toEqual({ read: 200, act: 200 });
  });

  it("a role change ends the user's sessions", async () => {
    const ops = await freshOperator();
    expect((await trpc("users.update", adminCookie, { userId: ops.user.id, role: "viewer" }, true)).status).toBe(200);
    expect(await whatTheCookieCanDo(ops.cookie)).toEqual({ read: 401, act: 401 });
    const audit = await app.db.prisma.auditLog.findFirstOrThrow({ where: { action: "user.update", targetId: OPS.email }, orderBy: { at: "desc" } });
    expect(audit.after).toMatchObject({ role: "viewer", sessionsEnded: 1 });
    // The same update again (no change of role) ends nothing.
    const again = await signedInCookie(app.db, ops.user.id, SECRET);
    expect((await trpc("users.update", adminCookie, { userId: ops.user.id, role: "viewer" }, true)).status).toBe(200);
    expect((await whatTheCookieCanDo(again.cookie)).read).toBe(200);
  });

  it("a user changes their own password: all their sessions end, and only the new password signs in", async () => {
    const ops = await freshOperator();
    const otherBrowser = await signedInCookie(app.db, ops.user.id, SECRET);

    // A wrong current password names the field and changes nothing.
    const wrong = await trpc("users.changePassword", ops.cookie, { currentPassword: "not-it-at-all", newPassword: "a-new-password-5678" }, true);
    expect(wrong.status).toBe(400);
    expect(wrong.body.error?.json.message).toBe("currentPassword: that is not your current password");
    const short = await trpc("users.changePassword", ops.cookie, { currentPassword: OPS.password, newPassword: "short" }, true);
    expect(short.status).toBe(400);
    expect(short.body.error?.json.message).toMatch(/^newPassword: at least 12 characters/);
    expect(await whatTheCookieCanDo(ops.cookie)).toEqual({ read: 200, act: 200 });

    const changed = await trpc("users.changePassword", ops.cookie, { currentPassword: OPS.password, newPassword: "a-new-password-5678" }, true);
    expect(changed.status).toBe(200);
    expect(changed.body.result?.data.json).toEqual({ sessionsEnded: 2 });
    expect(await whatTheCookieCanDo(ops.cookie)).toEqual({ read: 401, act: 401 });
    expect(await whatTheCookieCanDo(otherBrowser.cookie)).toEqual({ read: 401, act: 401 });

    const runtime = createConsoleRuntime({ db: app.db, guard: new SignInGuard(5, 50), gateSecret: "g".repeat(43), log: app.log });
    const stamp = gateStamp("g".repeat(43), "192.0.2.1");
    expect(await runtime.authenticate(OPS.email, OPS.password, stamp)).toBeNull();
    expect(await runtime.authenticate(OPS.email, "a-new-password-5678", stamp)).toMatchObject({ email: OPS.email });
    const audit = await app.db.prisma.auditLog.findFirstOrThrow({ where: { action: "user.change-password" }, orderBy: { at: "desc" } });
    expect(audit).toMatchObject({ actorLabel: OPS.email, targetId: OPS.email, after: { sessionsEnded: 2 } });
    expect(JSON.stringify(audit)).not.toMatch(/password-5678|\$2[aby]\$/);
  });

  it("an admin removes a user (audited): their sessions end; never themselves, never the last admin", async () => {
    const ops = await freshOperator();
    const removed = await trpc("users.remove", adminCookie, { userId: ops.user.id, reason: "left the team" }, true);
    expect(removed.status).toBe(200);
    expect(await whatTheCookieCanDo(ops.cookie)).toEqual({ read: 401, act: 401 });
    expect(await app.db.prisma.user.count({ where: { email: OPS.email } })).toBe(0);
    const audit = await app.db.prisma.auditLog.findFirstOrThrow({ where: { action: "user.remove" }, orderBy: { at: "desc" } });
    expect(audit).toMatchObject({ targetId: OPS.email, reason: "left the team", before: { email: OPS.email, role: "operator", sessionsEnded: 1 } });

    const self = await trpc("users.remove", adminCookie, { userId: adminId }, true);
    expect(self.status).toBe(403);
    expect(self.body.error?.json.message).toBe("you cannot remove yourself");
    const nobody = await trpc("users.remove", adminCookie, { userId: "no-such-user" }, true);
    expect(nobody.status).toBe(400);
    expect(nobody.body.error?.json.message).toBe("userId: no such user");

    // The command line has no "yourself": the last enabled admin is refused all the same, and nothing changes.
    const audits = await app.db.prisma.auditLog.count();
    await expect(removeUser(app.db.prisma, cliActor, { userId: adminId })).rejects.toMatchObject({ code: "CONFLICT" });
    expect(await app.db.prisma.user.count({ where: { id: adminId } })).toBe(1);
    expect(await app.db.prisma.auditLog.count()).toBe(audits);
    expect((await trpc("users.me", adminCookie)).status).toBe(200);
  });

  it("two admins removing each other at once leave one admin: the second waits for the first, then is refused", async () => {
    const a = await createUser(app.db.prisma, cliActor, { email: "a.admin@example.com", role: "admin", password: OPS.password });
    const b = await createUser(app.db.prisma, cliActor, { email: "b.admin@example.com", role: "admin", password: OPS.password });
    // The first admin steps aside (disabled by the command line), leaving a and b.
    await app.db.prisma.user.update({ where: { id: adminId }, data: { disabledAt: new Date() } });
    const other = new pg.Client({ connectionString: app.databaseUrl });
    await other.connect();
    try {
      // Another removal in flight: it has locked the enabled admins and deleted b, not yet committed.
      await other.query("BEGIN");
      await other.query("SELECT id FROM users WHERE role = 'admin' AND disabled_at IS NULL ORDER BY id FOR UPDATE");
      await other.query("DELETE FROM users WHERE id = $1", [b.user.id]);
      const asB = { id: b.user.id, label: b.user.email, role: "admin" as const, rings: null };
      const removal = removeUser(app.db.prisma, asB, { userId: a.user.id }).then(
        () => "removed",
        (error: { code?: string }) => error.code,
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
      await other.query("COMMIT");
      expect(await removal).toBe("CONFLICT");
      expect(await app.db.prisma.user.count({ where: { role: "admin", disabledAt: null } })).toBe(1);
    } finally {
      await other.end();
      await app.db.prisma.user.update({ where: { id: adminId }, data: { disabledAt: null } });
      await app.db.prisma.user.deleteMany({ where: { email: { in: ["a.admin@example.com", "b.admin@example.com"] } } });
    }
  });
});
