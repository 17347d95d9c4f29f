// Failed sign-ins slow the guesser down, never lock the account's owner out.
//
// OWASP's Authentication Cheat Sheet counts failures per account (so that a
// guesser cannot spread over many addresses) with an exponential lockout, and
// warns that such a lockout lets anyone lock a user out; its "device cookie"
// note answers with lockouts per (account, client) plus a lockout of untrusted
// clients only. hawkBit's DoS filter and Auth0's brute-force protection key
// their limits on the client address. Here:
//
// 1. Per (account, address): after `free` failures, each further failure from
//    that address shuts it out of that account for twice as long as the last
//    (2 s, 4 s … 15 min). A guesser at one address delays only itself; the
//    owner from any other address signs in as usual. Forgotten after an hour
//    without a failure, or at a success from that address.
// 2. Per account, across addresses: failures fill a bucket of `ceiling` that
//    leaks `ceiling` failures per 15 minutes. Once it is full (a guesser
//    spread over many addresses) and until it has leaked down to half,
//    addresses that have not signed in to the account in the last 30 days
//    share the ceiling's own rate: they take turns, one attempt every
//    15 min / ceiling (18 s for 50), however many addresses guess. It
//    delays, never locks: an attempt waits at most one turn, addresses the
//    account signed in from before are never paced, and the pacing ends
//    within 7.5 minutes of the last failure.
//
// Kept in the console process's memory (as the request limits are): with
// several console processes each keeps its own.

const SECOND = 1000;
const MAX_LOCK_MS = 15 * 60 * SECOND;
const PAIR_MEMORY_MS = 60 * 60 * SECOND;
const BUCKET_LEAK_WINDOW_MS = 15 * 60 * SECOND;
const TRUST_MS = 30 * 24 * 60 * 60 * SECOND;

/** The turn of a paced attempt: the bucket's leak, so that paced guessing keeps the account at its ceiling's rate. */
export function paceMs(ceiling: number): number {
  return Math.ceil(BUCKET_LEAK_WINDOW_MS / Math.max(1, ceiling));
}
/** Bound on each map, so that a flood of made-up accounts cannot grow memory without end. */
const MAX_ENTRIES = 100_000;

export type SignInRefusal =
  | { reason: "address-backoff"; retryAfterSeconds: number }
  | { reason: "account-paced"; retryAfterSeconds: number };

interface PairState {
  failures: number;
  lockedUntil: number;
  lastFailureAt: number;
}

interface AccountState {
  /** Failures in the leaky bucket, as of `at`. */
  level: number;
  at: number;
  /** Full once, and not yet leaked down to half. */
  paced: boolean;
  /** When the next paced (untrusted) attempt may start. */
  nextPacedAt: number;
}

function remember<K, V>(map: Map<K, V>, key: K, value: V) {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_ENTRIES) map.delete(map.keys().next().value as K);
}

export class SignInGuard {
  private readonly pairs = new Map<string, PairState>();
  private readonly accounts = new Map<string, AccountState>();
  /** `account\naddress` → last successful sign-in. */
  private readonly trusted = new Map<string, number>();

  /**
   * @param free failures per (account, address) before the backoff starts
   * @param ceiling failures per account, from all addresses, per 15 minutes before untrusted addresses take turns (0: never)
   */
  constructor(
    private readonly free: number,
    private readonly ceiling: number,
  ) {}

  /**
   * Whether an attempt may go ahead now; null when it may (a paced attempt
   * then takes the account's next slot), else why not and for how long.
   */
  admit(account: string, address: string, now = Date.now()): SignInRefusal | null {
    const pair = this.pair(account, address, now);
    if (pair && pair.lockedUntil > now) {
      return { reason: "address-backoff", retryAfterSeconds: Math.ceil((pair.lockedUntil - now) / SECOND) };
    }
    if (this.isTrusted(account, address, now)) return null;
    const state = this.account(account, now);
    if (!state?.paced) return null;
    if (state.nextPacedAt > now) {
      return { reason: "account-paced", retryAfterSeconds: Math.ceil((state.nextPacedAt - now) / SECOND) };
    }
    state.nextPacedAt = now + paceMs(this.ceiling);
    return null;
  }

  fail(account: string, address: string, now = Date.now()) {
    const key = `${account}\n${address}`;
    const pair = this.pair(account, address, now) ?? { failures: 0, lockedUntil: 0, lastFailureAt: 0 };
    pair.failures++;
    pair.lastFailureAt = now;
    if (pair.failures > this.free) {
      pair.lockedUntil = now + Math.min(MAX_LOCK_MS, 2 ** (pair.failures - this.free) * SECOND);
    }
    remember(this.pairs, key, pair);

    if (this.ceiling === 0) return;
    const state = this.account(account, now) ?? { level: 0, at: now, paced: false, nextPacedAt: 0 };
    state.level = Math.min(state.level + 1, this.ceiling);
    if (state.level >= this.ceiling) state.paced = true;
    remember(this.accounts, account, state);
  }

  succeed(account: string, address: string, now = Date.now()) {
    const key = `${account}\n${address}`;
    this.pairs.delete(key);
    remember(this.trusted, key, now);
  }

  private pair(account: string, address: string, now: number): PairState | undefined {
    const key = `${account}\n${address}`;
    const pair = this.pairs.get(key);
    if (pair && pair.lockedUntil <= now && now - pair.lastFailureAt > PAIR_MEMORY_MS) {
      this.pairs.delete(key);
      return undefined;
    }
    return pair;
  }

  /** The account's bucket, leaked up to `now`. */
  private account(account: string, now: number): AccountState | undefined {
    const state = this.accounts.get(account);
    if (!state) return undefined;
    const leaked = ((now - state.at) / BUCKET_LEAK_WINDOW_MS) * this.ceiling;
    state.level = Math.max(0, state.level - leaked);
    state.at = now;
    if (state.level <= this.ceiling / 2) state.paced = false;
    if (state.level === 0) {
      this.accounts.delete(account);
      return undefined;
    }
    return state;
  }

  private isTrusted(account: string, address: string, now: number): boolean {
    const at = this.trusted.get(`${account}\n${address}`);
    return at !== undefined && now - at < TRUST_MS;
  }
}
