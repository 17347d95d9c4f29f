// What the Next.js side of the console (bundled separately by Next) needs from
// the custom server's process, handed over on globalThis. It keeps the Next
// bundle free of database code: sign-in, sessions and sign-out go through here.
import type { Role } from "./audit/audit";

export interface SignedInUser {
  id: string;
  email: string;
  name: string | null;
  role: Role;
  /** The session this sign-in opened: its id goes into the cookie. */
  sessionId: string;
}

/** A sign-in refused before the password was looked at; the message is for the person signing in. */
export class SignInRefused extends Error {
  override name = "SignInRefused";
}

export interface ConsoleRuntime {
  /**
   * Checks a sign-in. `gate` is the stamp the console put on the request
   * (server/auth/sign-in-gate.ts); without a valid one the sign-in is refused.
   * Throws SignInRefused when a limit refuses it; null for wrong credentials.
   */
  authenticate(email: string, password: string, gate: string | undefined): Promise<SignedInUser | null>;
  /** The user of a session still on, or null. */
  resolveSession(sessionId: string): Promise<{ id: string; role: Role } | null>;
  /** Ends a session (sign-out). */
  endSession(sessionId: string): Promise<void>;
}

const holder = globalThis as unknown as { __orchardRuntime?: ConsoleRuntime };

export function setRuntime(runtime: ConsoleRuntime | undefined) {
  holder.__orchardRuntime = runtime;
}

export function getRuntime(): ConsoleRuntime {
  const runtime = holder.__orchardRuntime;
  if (!runtime) throw new Error("the console runtime is not started (run the console with `npm start`)");
  return runtime;
}
