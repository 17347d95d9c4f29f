// Sign-in as the console serves it to next-auth (issue 12, items 4 and 9):
// only with the stamp of the console's sign-in gate (which counted the
// request), backing off per (account, address) so that a guesser shuts only
// itself out. The HTTP side (every spelling of the path counted, on the real
// Next.js) is test/e2e/auth.spec.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliActor } from "../../server/audit/audit";
import { createConsoleRuntime } from "../../server/auth/sign-in";
import { gateStamp } from "../../server/auth/sign-in-gate";
import { SignInGuard } from "../../server/auth/sign-in-guard";
import { SignInRefused } from "../../server/runtime";
import { createUser } from "../../server/users/users";
import { startTestConsole, type TestConsole } from "../helpers/console";

let app: TestConsole;
const OPS = { email: "ops@example.com", password: "ops-password-1234" };
const gateSecret = "g".repeat(43);

beforeAll(async () => {
  app = await startTestConsole();
  await createUser(app.db.prisma, cliActor, { email: OPS.email, role: "operator", password: OPS.password });
});

afterAll(async () => {
  await app?.stop();
});

const fresh = () => createConsoleRuntime({ db: app.db, guard: new SignInGuard(5, 50), gateSecret, log: app.log });

describe("sign-in as the console serves it to next-auth", () => {
  it("refuses a sign-in that did not pass the console's limits (no stamp, or a forged one), before looking at the password", async () => {
    const runtime = fresh();
    for (const gate of [undefined, "", "192.0.2.1", gateStamp("h".repeat(43), "192.0.2.1")]) {
      await expect(runtime.authenticate(OPS.email, OPS.password, gate)).rejects.toBeInstanceOf(SignInRefused);
    }
    const user = await runtime.authenticate(OPS.email, OPS.password, gateStamp(gateSecret, "192.0.2.1"));
    expect(user).toMatchObject({ email: OPS.email, role: "operator" });
    // The sign-in opened a session that the cookie will carry.
    expect(await runtime.resolveSession(user!.sessionId)).toMatchObject({ kind: "user", name: OPS.email, role: "operator", rings: null });
  });

  it("a guesser at one address shuts only itself out: the owner signs in from another address", async () => {
    const runtime = fresh();
    const attacker = gateStamp(gateSecret, "198.51.100.66");
    for (let i = 0; i < 6; i++) expect(await runtime.authenticate(OPS.email, `guess-${i}-xxxxxx`, attacker)).toBeNull();
    await expect(runtime.authenticate(OPS.email, OPS.password, attacker)).rejects.toThrow(
      /Too many failed sign-ins for this account from here: try again in 2 s/,
    );
    expect(await runtime.authenticate(OPS.email, OPS.password, gateStamp(gateSecret, "203.0.113.5"))).toMatchObject({ email: OPS.email });
  });

  it("paces addresses the account does not know once many addresses fail, but not the address it signed in from", async () => {
    const runtime = createConsoleRuntime({ db: app.db, guard: new SignInGuard(5, 10), gateSecret, log: app.log });
    const owner = gateStamp(gateSecret, "192.0.2.10");
    expect(await runtime.authenticate(OPS.email, OPS.password, owner)).not.toBeNull();
    // One guess from each of many addresses: past the account's ceiling of 10, unknown addresses take turns.
    let paced: unknown = null;
    let guesses = 0;
    while (!paced && guesses < 30) {
      try {
        expect(await runtime.authenticate(OPS.email, "wrong-password-x", gateStamp(gateSecret, `10.0.0.${guesses}`))).toBeNull();
      } catch (error) {
        paced = error;
      }
      guesses++;
    }
    expect(guesses).toBeGreaterThan(10);
    expect((paced as Error).message).toMatch(/^Too many failed sign-ins for this account from elsewhere: try again in \d+ s\.$/);
    // The right password from an unknown address is paced too (it waits its turn)…
    await expect(runtime.authenticate(OPS.email, OPS.password, gateStamp(gateSecret, "10.0.1.2"))).rejects.toBeInstanceOf(SignInRefused);
    // …but the address the owner signed in from is not.
    expect(await runtime.authenticate(OPS.email, OPS.password, owner)).toMatchObject({ email: OPS.email });
  });
});
