import { describe, expect, it } from "vitest";
import { paceMs, SignInGuard } from "./sign-in-guard";

const ACCOUNT = "ops@example.com";
const T0 = Date.parse("2026-11-30T09:00:00Z");

/** Fails `times` sign-ins of `account` from `address`, each one as soon as it is admitted; returns the clock after. */
function hammer(guard: SignInGuard, address: string, times: number, now: number, account = ACCOUNT) {
  let t = now;
  for (let i = 0; i < times; i++) {
    const refusal = guard.admit(account, address, t);
    if (refusal) t += refusal.retryAfterSeconds * 1000;
    expect(guard.admit(account, address, t)).toBeNull();
    guard.fail(account, address, t);
  }
  return t;
}

describe("sign-in backoff per (account, address)", () => {
  it("lets `free` failures through, then doubles the wait from 2 s up to 15 minutes", () => {
    const guard = new SignInGuard(5, 50);
    for (let i = 0; i < 5; i++) {
      expect(guard.admit(ACCOUNT, "198.51.100.1", T0)).toBeNull();
      guard.fail(ACCOUNT, "198.51.100.1", T0);
    }
    expect(guard.admit(ACCOUNT, "198.51.100.1", T0)).toBeNull(); // the 5th failure locks nothing yet
    guard.fail(ACCOUNT, "198.51.100.1", T0);
    expect(guard.admit(ACCOUNT, "198.51.100.1", T0)).toEqual({ reason: "address-backoff", retryAfterSeconds: 2 });
    const waits: number[] = [];
    let t = T0 + 2000;
    for (let i = 0; i < 12; i++) {
      guard.fail(ACCOUNT, "198.51.100.1", t);
      const refusal = guard.admit(ACCOUNT, "198.51.100.1", t);
      waits.push(refusal!.retryAfterSeconds);
      t += refusal!.retryAfterSeconds * 1000;
    }
    expect(waits).toEqual([4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900]);
  });

  it("never shuts the owner out from another address, however long one address guesses", () => {
    const guard = new SignInGuard(5, 50);
    const t = hammer(guard, "198.51.100.1", 200, T0);
    expect(guard.admit(ACCOUNT, "198.51.100.1", t)?.reason).toBe("address-backoff");
    expect(guard.admit(ACCOUNT, "203.0.113.9", t)).toBeNull();
    guard.succeed(ACCOUNT, "203.0.113.9", t);
  });

  it("clears an address at its success, and forgets it an hour after its last failure", () => {
    const guard = new SignInGuard(2, 50);
    hammer(guard, "198.51.100.1", 3, T0);
    expect(guard.admit(ACCOUNT, "198.51.100.1", T0)?.reason).toBe("address-backoff");
    guard.succeed(ACCOUNT, "198.51.100.1", T0 + 2000);
    expect(guard.admit(ACCOUNT, "198.51.100.1", T0 + 2000)).toBeNull();

    hammer(guard, "198.51.100.2", 3, T0);
    guard.fail(ACCOUNT, "198.51.100.2", T0 + 2000); // 4th: 4 s
    expect(guard.admit(ACCOUNT, "198.51.100.2", T0 + 61 * 60 * 1000)).toBeNull();
    guard.fail(ACCOUNT, "198.51.100.2", T0 + 61 * 60 * 1000);
    expect(guard.admit(ACCOUNT, "198.51.100.2", T0 + 61 * 60 * 1000)).toBeNull(); // counting from 1 again
  });

  it("keeps accounts apart", () => {
    const guard = new SignInGuard(1, 50);
    hammer(guard, "198.51.100.1", 3, T0, "a@example.com");
    expect(guard.admit("a@example.com", "198.51.100.1", T0)).not.toBeNull();
    expect(guard.admit("b@example.com", "198.51.100.1", T0)).toBeNull();
  });
});

describe("the account's ceiling, across addresses", () => {
  /** A guesser spread over `addresses` addresses, each failing `free` times (never backing off). */
  function spread(guard: SignInGuard, addresses: number, free: number, now: number) {
    for (let a = 0; a < addresses; a++) {
      for (let i = 0; i < free; i++) guard.fail(ACCOUNT, `10.0.${a >> 8}.${a & 255}`, now);
    }
  }

  const PACE_MS = paceMs(50);

  it("paces untrusted addresses to one turn per 15 min / ceiling (18 s) once the ceiling is passed, and delays rather than locks", () => {
    expect(PACE_MS).toBe(18_000);
    const guard = new SignInGuard(5, 50);
    guard.succeed(ACCOUNT, "192.0.2.10", T0 - 86_400_000); // the owner's office, yesterday
    spread(guard, 10, 5, T0); // 50 failures from 10 addresses, none of them locked yet

    // A new address takes the account's turn; the next one waits at most one turn.
    expect(guard.admit(ACCOUNT, "10.9.9.1", T0)).toBeNull();
    const refusal = guard.admit(ACCOUNT, "10.9.9.2", T0 + 1000);
    expect(refusal).toEqual({ reason: "account-paced", retryAfterSeconds: 17 });
    expect(guard.admit(ACCOUNT, "10.9.9.2", T0 + PACE_MS)).toBeNull();

    // The owner's known address is never paced; nor is a brand-new one kept out for longer than a slot.
    expect(guard.admit(ACCOUNT, "192.0.2.10", T0 + PACE_MS)).toBeNull();
    expect(guard.admit(ACCOUNT, "198.51.100.77", T0 + 2 * PACE_MS)).toBeNull();
  });

  it("lets the unknown addresses together guess no faster than the ceiling's rate, however many they are", () => {
    const guard = new SignInGuard(5, 50);
    spread(guard, 10, 5, T0);
    let admitted = 0;
    for (let second = 0; second < 15 * 60; second++) {
      for (let a = 0; a < 1000; a += 7) {
        const now = T0 + second * 1000;
        if (guard.admit(ACCOUNT, `10.1.${a >> 8}.${a & 255}`, now) === null) {
          admitted++;
          guard.fail(ACCOUNT, `10.1.${a >> 8}.${a & 255}`, now);
        }
      }
    }
    expect(admitted).toBe(50); // 143 addresses trying every second for 15 minutes: 50 attempts, one per 18 s
  });

  it("stops pacing once the failures have leaked down to half (7.5 minutes after the last one)", () => {
    const guard = new SignInGuard(5, 50);
    spread(guard, 20, 5, T0); // 100 failures: the bucket is full
    expect(guard.admit(ACCOUNT, "10.9.9.1", T0)).toBeNull();
    expect(guard.admit(ACCOUNT, "10.9.9.2", T0)?.reason).toBe("account-paced");
    expect(guard.admit(ACCOUNT, "10.9.9.2", T0 + 7 * 60 * 1000)).toBeNull();
    expect(guard.admit(ACCOUNT, "10.9.9.3", T0 + 7 * 60 * 1000 + 1000)?.reason).toBe("account-paced");
    const later = T0 + 7.5 * 60 * 1000;
    for (let i = 0; i < 5; i++) expect(guard.admit(ACCOUNT, `10.9.8.${i}`, later)).toBeNull();
  });

  it("never paces with a ceiling of 0", () => {
    const guard = new SignInGuard(5, 0);
    spread(guard, 100, 5, T0);
    for (let i = 0; i < 5; i++) expect(guard.admit(ACCOUNT, `10.9.8.${i}`, T0)).toBeNull();
  });

  it("is not reached by one address alone (its own backoff keeps it under the ceiling)", () => {
    const guard = new SignInGuard(5, 50);
    let t = T0;
    let failures = 0;
    while (t < T0 + 24 * 60 * 60 * 1000) {
      t = hammer(guard, "198.51.100.1", 1, t);
      failures++;
      expect(guard.admit(ACCOUNT, "10.9.9.1", t), `after ${failures} failures`).toBeNull();
      expect(guard.admit(ACCOUNT, "10.9.9.2", t), `after ${failures} failures`).toBeNull();
    }
    expect(failures).toBeLessThan(5 + 9 + 24 * 4 + 1); // 5 free, 2 s … 512 s, then one per 15 minutes
  });
});
