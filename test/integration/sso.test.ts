// Single sign-on as the console serves it to next-auth (issue 13, item 6),
// against a real database: a user first seen is created with the role and
// rings of their groups; on every sign-in the role and rings follow the
// claim, and a change ends the user's other sessions; a user with no mapped
// group (or disabled, or whose e-mail another account has) is refused and
// nothing changes; users of single sign-on have no password; local sign-in
// can be switched off, and then no user with a password is made, by any way
// in. The browser side, against a real OpenID provider, is
// test/e2e/sso.spec.ts.
import { execFile } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiToken } from "../../server/api-tokens/api-tokens";
import { cliActor } from "../../server/audit/audit";
import { createConsoleRuntime } from "../../server/auth/sign-in";
import { gateStamp } from "../../server/auth/sign-in-gate";
import { SignInGuard } from "../../server/auth/sign-in-guard";
import { loadConfig } from "../../server/config";
import { systemClock } from "../../server/clock";
import { SignInRefused } from "../../server/runtime";
import { createCaller } from "../../server/trpc/router";
import type { SsoIdentity } from "../../server/users/sso";
import { createUser, updateUser } from "../../server/users/users";
import { detailsOf } from "../../server/trpc/init";
import { startTestConsole, type TestConsole, userPrincipal } from "../helpers/console";

const ISSUER = "https://id.example.com/realms/acme";
const SSO_ENV = {
  ORCHARD_OIDC_ISSUER: ISSUER,
  ORCHARD_OIDC_CLIENT_ID: "orchard",
  ORCHARD_OIDC_CLIENT_SECRET: "client-secret",
  ORCHARD_OIDC_GROUPS: "orchard-admins=admin,orchard-canary-ops=operator:canary+beta,orchard-stable-ops=operator:stable,orchard-viewers=viewer",
};
const sso = loadConfig(SSO_ENV).sso!;
const gateSecret = "g".repeat(43);
const gate = gateStamp(gateSecret, "192.0.2.7");

let app: TestConsole;
beforeAll(async () => {
  app = await startTestConsole(SSO_ENV);
});
afterAll(async () => {
  await app?.stop();
});

const runtime = (localSignIn = true) =>
  createConsoleRuntime({ db: app.db, guard: new SignInGuard(5, 50), gateSecret, log: app.log, sso, localSignIn });

let subjects = 0;
const person = (groups: string[], overrides: Partial<SsoIdentity> = {}): SsoIdentity => {
  subjects++;
  return { issuer: ISSUER, subject: `sub-${subjects}`, email: `person${subjects}@example.com`, name: `Person ${subjects}`, groups, ...overrides };
};

/** What a refusal must leave as it was. */
async function fingerprint() {
  const db = app.db.prisma;
  return {
    users: await db.user.findMany({ orderBy: { id: "asc" }, select: { id: true, email: true, role: true, allRings: true, rings: true } }),
    sessions: await db.session.count(),
    audit: await db.auditLog.count(),
  };
}

const signedIn = async (identity: SsoIdentity) => {
  const result = await runtime().signInWithSso(identity, gate);
  if (!("user" in result)) throw new Error(`refused: ${result.refused}`);
  return result.user;
};

describe("a user first seen through single sign-on", () => {
  it("is created with the role and rings of their groups, with no password, and the audit log says so", async () => {
    const alice = person(["everyone", "orchard-canary-ops", "orchard-viewers"]);
    const user = await signedIn(alice);
    expect(user).toMatchObject({ email: alice.email, role: "operator" });
    expect(await runtime().resolveSession(user.sessionId)).toEqual({ kind: "user", id: user.id, name: alice.email, role: "operator", rings: ["beta", "canary"] });
    const row = await app.db.prisma.user.findUniqueOrThrow({ where: { id: user.id } });
    expect(row).toMatchObject({ passwordHash: null, ssoIssuer: ISSUER, ssoSubject: alice.subject, allRings: false, rings: ["beta", "canary"], name: alice.name });
    expect(row.lastSignInAt).not.toBeNull();
    const audit = await app.db.prisma.auditLog.findMany({ where: { targetId: alice.email } });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actorLabel: "sso",
      action: "user.create",
      targetType: "user",
      after: { email: alice.email, role: "operator", rings: ["beta", "canary"], signsInWith: "sso", issuer: ISSUER, groups: ["orchard-canary-ops", "orchard-viewers"] },
    });
  });

  it("an admin group makes an unscoped admin", async () => {
    const user = await signedIn(person(["orchard-admins", "orchard-canary-ops"]));
    expect(await runtime().resolveSession(user.sessionId)).toMatchObject({ role: "admin", rings: null });
  });
});

describe("on every sign-in the role and rings follow the groups claim", () => {
  it("a change ends the user's other sessions and is audited; no change ends nothing and writes no audit row", async () => {
    const bob = person(["orchard-canary-ops"]);
    const first = await signedIn(bob);
    const second = await signedIn(bob);
    expect(await runtime().resolveSession(first.sessionId)).not.toBeNull();
    expect(await app.db.prisma.auditLog.count({ where: { targetId: bob.email } })).toBe(1);

    const third = await signedIn({ ...bob, groups: ["orchard-canary-ops", "orchard-stable-ops"] });
    expect(await runtime().resolveSession(first.sessionId)).toBeNull();
    expect(await runtime().resolveSession(second.sessionId)).toBeNull();
    expect(await runtime().resolveSession(third.sessionId)).toMatchObject({ role: "operator", rings: ["beta", "canary", "stable"] });
    const [update] = await app.db.prisma.auditLog.findMany({ where: { targetId: bob.email, action: "user.update" } });
    expect(update).toMatchObject({
      actorLabel: "sso",
      before: { role: "operator", rings: ["beta", "canary"] },
      after: { role: "operator", rings: ["beta", "canary", "stable"], sessionsEnded: 2 },
    });

    const demoted = await signedIn({ ...bob, groups: ["orchard-viewers"] });
    expect(await runtime().resolveSession(third.sessionId)).toBeNull();
    expect(await runtime().resolveSession(demoted.sessionId)).toMatchObject({ role: "viewer", rings: null });
    expect(await app.db.prisma.user.count({ where: { ssoSubject: bob.subject } })).toBe(1);
  });

  it("follows a new e-mail of the same subject, and audits it", async () => {
    const carol = person(["orchard-viewers"]);
    const before = await signedIn(carol);
    const after = await signedIn({ ...carol, email: "carol.new@example.com" });
    expect(after.id).toBe(before.id);
    expect(after.email).toBe("carol.new@example.com");
    expect(await app.db.prisma.auditLog.count({ where: { targetId: "carol.new@example.com", action: "user.update" } })).toBe(1);
  });
});

describe("refusals change nothing", () => {
  it("a user in no mapped group is refused, first seen or known", async () => {
    const before = await fingerprint();
    expect(await runtime().signInWithSso(person(["everyone", "ORCHARD-ADMINS"]), gate)).toEqual({ refused: "no-group" });
    expect(await runtime().signInWithSso(person([]), gate)).toEqual({ refused: "no-group" });
    expect(await fingerprint()).toEqual(before);

    const dave = person(["orchard-stable-ops"]);
    const session = await signedIn(dave);
    const known = await fingerprint();
    expect(await runtime().signInWithSso({ ...dave, groups: ["everyone"] }, gate)).toEqual({ refused: "no-group" });
    expect(await fingerprint()).toEqual(known);
    expect(await runtime().resolveSession(session.sessionId)).not.toBeNull();
  });

  it("a user an admin disabled is refused", async () => {
    const erin = person(["orchard-viewers"]);
    const { id } = await signedIn(erin);
    await updateUser(app.db.prisma, cliActor, { userId: id, disabled: true });
    const before = await fingerprint();
    expect(await runtime().signInWithSso(erin, gate)).toEqual({ refused: "disabled" });
    expect(await fingerprint()).toEqual(before);
  });

  it("the e-mail of a password account is refused, never taken over", async () => {
    await createUser(app.db.prisma, cliActor, { email: "local@example.com", role: "viewer", password: "local-password-1234" });
    const before = await fingerprint();
    expect(await runtime().signInWithSso(person(["orchard-admins"], { email: "LOCAL@example.com" }), gate)).toEqual({ refused: "email-taken" });
    expect(await fingerprint()).toEqual(before);
  });

  it("a claim without an e-mail is refused", async () => {
    const before = await fingerprint();
    expect(await runtime().signInWithSso(person(["orchard-viewers"], { email: null }), gate)).toEqual({ refused: "no-email" });
    expect(await runtime().signInWithSso(person(["orchard-viewers"], { email: "not an e-mail" }), gate)).toEqual({ refused: "no-email" });
    expect(await fingerprint()).toEqual(before);
  });

  it("a sign-in that did not pass the console's limits, or from another issuer, is refused", async () => {
    const before = await fingerprint();
    for (const stamp of [undefined, "", gateStamp("h".repeat(43), "192.0.2.7")]) {
      expect(await runtime().signInWithSso(person(["orchard-admins"]), stamp)).toEqual({ refused: "unavailable" });
    }
    expect(await runtime().signInWithSso(person(["orchard-admins"], { issuer: "https://evil.example" }), gate)).toEqual({ refused: "unavailable" });
    expect(await fingerprint()).toEqual(before);
  });
});

describe("users of single sign-on have no password", () => {
  it("local sign-in refuses them whatever the password; they cannot change one; their account says where they sign in", async () => {
    const frank = person(["orchard-canary-ops"]);
    const user = await signedIn(frank);
    for (const password of ["", "x".repeat(12), "$2b$12$C6UzMDM.H6dfI/f/IKcEeO5Q7p5aQYk6b1l0F3C6lqGm1m3x5v1yK"]) {
      expect(await runtime().authenticate(frank.email!, password, gate)).toBeNull();
    }
    const caller = createCaller({ db: app.db, clock: systemClock, principal: userPrincipal({ id: user.id, email: user.email, role: "operator" }, ["beta", "canary"]) });
    await expect(caller.users.changePassword({ currentPassword: "anything", newPassword: "a-new-password-1234" })).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringMatching(/single sign-on/),
    });
    expect(await caller.users.account()).toEqual({ email: frank.email, name: frank.name, role: "operator", rings: ["beta", "canary"], signsInWith: "sso" });
  });

  it("the database refuses a user with neither a password nor a single sign-on identity", async () => {
    await expect(app.db.prisma.user.create({ data: { email: "nobody@example.com", role: "viewer" } })).rejects.toThrow(/users_signs_in_somehow/);
  });
});

describe("local sign-in switched off", () => {
  it("refuses every password sign-in, a right password too, before looking at it", async () => {
    await createUser(app.db.prisma, cliActor, { email: "ops.local@example.com", role: "operator", password: "ops-password-1234" });
    expect(await runtime(true).authenticate("ops.local@example.com", "ops-password-1234", gate)).toMatchObject({ email: "ops.local@example.com" });
    await expect(runtime(false).authenticate("ops.local@example.com", "ops-password-1234", gate)).rejects.toThrow(SignInRefused);
    await expect(runtime(false).authenticate("ops.local@example.com", "ops-password-1234", gate)).rejects.toThrow(/switched off/);
    expect(runtime(false).signInMethods).toMatchObject({ local: false, sso: { issuer: ISSUER, name: "single sign-on" } });
  });
});

describe("with local sign-in switched off, no user with a password is made", () => {
  const off = { ...SSO_ENV, ORCHARD_OIDC_NAME: "Acme ID", ORCHARD_LOCAL_SIGN_IN: "off" };
  let ssoOnly: TestConsole;
  beforeAll(async () => {
    ssoOnly = await startTestConsole(off);
  });
  afterAll(async () => {
    await ssoOnly?.stop();
  });
  const WHY =
    "password: sign-in with a password is switched off on this console (ORCHARD_LOCAL_SIGN_IN=off): people sign in through Acme ID, " +
    "and each one's user is created at their first sign-in, with the role and rings their groups give";
  const bin = path.resolve(import.meta.dirname, "../../bin/orchard.js");
  const orchard = (args: string[], env: Record<string, string>) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [bin, ...args], { env: { ...process.env, LOG_LEVEL: "warn", ORCHARD_URL: "", ORCHARD_TOKEN: "", ...env } }, (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      child.stdin?.end("a-long-password-123\n");
    });

  it("refuses creating one, through tRPC, REST and the command line, naming the field, changing nothing; the server tells the users page so", async () => {
    const db = ssoOnly.db.prisma;
    // No first admin with a password: the admin comes through the groups.
    expect(await db.user.count()).toBe(0);
    const result = await createConsoleRuntime({ db: ssoOnly.db, guard: new SignInGuard(5, 50), gateSecret, log: ssoOnly.log, sso: loadConfig(off).sso, localSignIn: false }).signInWithSso(
      person(["orchard-admins"]),
      gate,
    );
    if (!("user" in result)) throw new Error(`refused: ${result.refused}`);
    const caller = createCaller({ db: ssoOnly.db, clock: systemClock, principal: userPrincipal(result.user), signIn: { passwords: false, sso: "Acme ID" } });
    const { token } = await createApiToken(db, cliActor, { name: "provisioning", role: "admin" });
    const before = { users: await db.user.findMany({ select: { id: true } }), audit: await db.auditLog.count() };

    expect(await caller.users.signInMethods()).toEqual({ passwords: false, sso: "Acme ID", newUsers: { allowed: false, why: WHY.slice("password: ".length) } });
    for (const password of [undefined, "a-long-password-123"]) {
      const refusal = await caller.users.create({ email: "ops@example.com", role: "operator", password }).catch((error: unknown) => error);
      expect(refusal).toMatchObject({ code: "CONFLICT", message: WHY });
      expect(detailsOf((refusal as { cause?: unknown }).cause)).toEqual({ appCode: "CONFLICT", field: "password" });
    }

    const api = await fetch(`${ssoOnly.url}/api/v1/users`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ email: "ops@example.com", role: "operator" }),
    });
    expect(api.status).toBe(409);
    expect(await api.json()).toMatchObject({ code: "CONFLICT", field: "password", detail: WHY });
    const methods = await fetch(`${ssoOnly.url}/api/v1/users/sign-in-methods`, { headers: { authorization: `Bearer ${token}` } });
    expect(await methods.json()).toMatchObject({ passwords: false, newUsers: { allowed: false } });

    // The command line, on the database (with the console's settings) and through the REST API: exit 1, the same words.
    const local = await orchard(["user", "create", "--email", "ops@example.com", "--role", "operator"], {
      DATABASE_URL: ssoOnly.databaseUrl,
      ORCHARD_DATA_DIR: ssoOnly.dataDir,
      ...off,
    });
    const remote = await orchard(["user", "create", "--email", "ops@example.com", "--role", "operator"], { ORCHARD_URL: ssoOnly.url, ORCHARD_TOKEN: token });
    for (const run of [local, remote]) expect([run.code, run.stderr]).toEqual([1, `orchard: ${WHY}\n`]);

    expect({ users: await db.user.findMany({ select: { id: true } }), audit: await db.auditLog.count() }).toEqual(before);
  });

  it("with passwords on, the users page is told it may create users", async () => {
    const admin = await app.db.prisma.user.findFirstOrThrow({ where: { role: "admin", passwordHash: { not: null } } });
    const caller = createCaller({ db: app.db, clock: systemClock, principal: userPrincipal(admin), signIn: { passwords: true, sso: "single sign-on" } });
    expect(await caller.users.signInMethods()).toEqual({ passwords: true, sso: "single sign-on", newUsers: { allowed: true, why: null } });
  });
});
