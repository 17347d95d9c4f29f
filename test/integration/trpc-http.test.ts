// tRPC over HTTP as the console's pages call it: the session comes from
// next-auth's cookie, mutations need the CSRF header, and the role is read
// from the database on every request.
import { createTRPCClient } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { consoleLink } from "../../components/trpc-link";
import { MAX_BATCH_SIZE } from "../../server/trpc/batch";
import type { AppRouter } from "../../server/trpc/router";
import { startTestConsole, type TestConsole } from "../helpers/console";
import { cookieFor, signedInCookie } from "../helpers/sessions";

let app: TestConsole;
const SECRET = "s".repeat(40);

beforeAll(async () => {
  app = await startTestConsole({ ORCHARD_SECRET: SECRET });
});

afterAll(async () => {
  await app?.stop();
});

async function sessionCookie(userId: string, secret = SECRET) {
  return (await signedInCookie(app.db, userId, secret)).cookie;
}

async function trpc(path: string, options: { cookie?: string; input?: unknown; mutation?: boolean; csrf?: boolean } = {}) {
  const headers: Record<string, string> = {};
  if (options.cookie) headers.cookie = options.cookie;
  if (options.csrf !== false) headers["x-orchard-csrf"] = "1";
  const input = encodeURIComponent(JSON.stringify({ json: options.input ?? null }));
  const res = options.mutation
    ? await fetch(`${app.url}/api/trpc/${path}`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify({ json: options.input }),
      })
    : await fetch(`${app.url}/api/trpc/${path}?input=${input}`, { headers });
  return { status: res.status, body: (await res.json()) as { result?: { data: { json: unknown } }; error?: { json: { message: string; data: { code: string } } } } };
}

describe("tRPC over HTTP", () => {
  it("sends an error's code, field and validation issues as data, for forms to mark the field", async () => {
    const admin = await app.db.prisma.user.findFirstOrThrow({ where: { role: "admin" } });
    const cookie = await sessionCookie(admin.id);
    const bad = await trpc("rings.create", { cookie, mutation: true, input: { name: "Not A Ring", branch: "exampleos/x86_64/stable", rebootSlots: 0 } });
    expect(bad.status).toBe(400);
    const data = (bad.body.error?.json as unknown as { data: { appCode: string; field: string; issues: { path: string }[] } }).data;
    expect(data).toMatchObject({ code: "BAD_REQUEST", appCode: "INVALID", field: "name" });
    expect(data.issues.map((i) => i.path)).toEqual(["name", "rebootSlots"]);
    await trpc("rings.create", { cookie, mutation: true, input: { name: "lab", branch: "exampleos/x86_64/stable" } });
    const twice = await trpc("rings.create", { cookie, mutation: true, input: { name: "lab", branch: "exampleos/x86_64/stable" } });
    expect(twice.status).toBe(409);
    expect((twice.body.error?.json as unknown as { data: { field: string } }).data.field).toBe("name");
  });

  it("refuses callers without a valid session", async () => {
    expect((await trpc("rings.list")).status).toBe(401);
    const admin = await app.db.prisma.user.findFirstOrThrow({ where: { role: "admin" } });
    expect((await trpc("rings.list", { cookie: await sessionCookie(admin.id, "wrong".repeat(10)) })).status).toBe(401);
    expect((await trpc("rings.list", { cookie: "next-auth.session-token=garbage" })).status).toBe(401);
    // Signed with the right secret but with no session behind it (a cookie from before sessions, or a made-up id).
    expect((await trpc("rings.list", { cookie: await cookieFor({ sub: admin.id }, SECRET) })).status).toBe(401);
    expect((await trpc("rings.list", { cookie: await cookieFor({ sub: admin.id, sid: "made-up" }, SECRET) })).status).toBe(401);
  });

  it("serves a signed-in user and re-reads the role on every request", async () => {
    const admin = await app.db.prisma.user.findFirstOrThrow({ where: { role: "admin" } });
    const cookie = await sessionCookie(admin.id);
    const me = await trpc("users.me", { cookie });
    expect(me.body.result?.data.json).toMatchObject({ kind: "user", name: "admin@orchard.local", role: "admin", rings: null });
    const created = await trpc("rings.create", { cookie, mutation: true, input: { name: "canary", branch: "exampleos/x86_64/stable" } });
    expect(created.status).toBe(200);

    await app.db.prisma.user.update({ where: { id: admin.id }, data: { role: "viewer" } });
    const refused = await trpc("rings.create", { cookie, mutation: true, input: { name: "beta", branch: "exampleos/x86_64/stable" } });
    expect(refused.status).toBe(403);
    await app.db.prisma.user.update({ where: { id: admin.id }, data: { disabledAt: new Date() } });
    expect((await trpc("rings.list", { cookie })).status).toBe(401);
    await app.db.prisma.user.update({ where: { id: admin.id }, data: { role: "admin", disabledAt: null } });
  });

  it("refuses a mutation without the CSRF header, and changes nothing", async () => {
    const admin = await app.db.prisma.user.findFirstOrThrow({ where: { role: "admin" } });
    const cookie = await sessionCookie(admin.id);
    const res = await trpc("rings.create", { cookie, mutation: true, csrf: false, input: { name: "gamma", branch: "exampleos/x86_64/stable" } });
    expect(res.status).toBe(403);
    expect(await app.db.prisma.ring.count({ where: { name: "gamma" } })).toBe(0);
  });

  it("names the bad field and hides internals", async () => {
    const admin = await app.db.prisma.user.findFirstOrThrow({ where: { role: "admin" } });
    const cookie = await sessionCookie(admin.id);
    const bad = await trpc("releases.add", { cookie, mutation: true, input: { ref: "exampleos/x86_64/stable", checksum: "nope", version: "1" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.json.message).toBe("checksum: expected 64 hex characters");
    expect(JSON.stringify(bad.body)).not.toMatch(/stack|at .*\.ts/);
  });

  it(`refuses a batch of more than ${MAX_BATCH_SIZE} calls with 400, naming the limit`, async () => {
    const admin = await app.db.prisma.user.findFirstOrThrow({ where: { role: "admin" } });
    const cookie = await sessionCookie(admin.id);
    const batch = (n: number, init: RequestInit = {}) => {
      const paths = Array.from({ length: n }, () => "users.me").join(",");
      const input = encodeURIComponent(JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [i, {}]))));
      return fetch(`${app.url}/api/trpc/${paths}?batch=1&input=${input}`, { ...init, headers: { cookie, "x-orchard-csrf": "1", ...init.headers } });
    };
    const rings = await app.db.prisma.ring.count();
    const fits = await batch(MAX_BATCH_SIZE);
    expect(fits.status).toBe(200);
    expect(((await fits.json()) as unknown[]).length).toBe(MAX_BATCH_SIZE);

    for (const res of [
      await batch(MAX_BATCH_SIZE + 1),
      await batch(300),
      // Mutations too.
      await fetch(`${app.url}/api/trpc/${Array.from({ length: 300 }, () => "rings.create").join(",")}?batch=1`, {
        method: "POST",
        headers: { cookie, "x-orchard-csrf": "1", "content-type": "application/json" },
        body: JSON.stringify({}),
      }),
    ]) {
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error?: { json: { message: string; data: { code: string } } } }[] | { error?: { json: { message: string; data: { code: string } } } };
      const error = (Array.isArray(body) ? body[0] : body).error?.json;
      expect(error?.data.code).toBe("BAD_REQUEST");
      expect(error?.message).toBe(`a batch may hold at most ${MAX_BATCH_SIZE} calls`);
    }
    expect(await app.db.prisma.ring.count()).toBe(rings);
  });

  it("the console's own client splits more calls than that into batches the server takes", async () => {
    const admin = await app.db.prisma.user.findFirstOrThrow({ where: { role: "admin" } });
    const requests: number[] = [];
    const client = createTRPCClient<AppRouter>({
      links: [
        consoleLink(`${app.url}/api/trpc`, {
          headers: { cookie: await sessionCookie(admin.id) },
          fetch: async (url, init) => {
            const res = await fetch(url, init);
            requests.push(res.status);
            return res;
          },
        }),
      ],
    });
    const calls = 2 * MAX_BATCH_SIZE + 5;
    const answers = await Promise.all(Array.from({ length: calls }, () => client.users.me.query()));
    expect(answers.every((me) => me?.name === "admin@orchard.local")).toBe(true);
    expect(requests).toEqual([200, 200, 200]);
  });
});
