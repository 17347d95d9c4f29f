// What the Next.js side of the console (bundled separately by Next) needs from
// the custom server's process, handed over on globalThis. It keeps the Next
// bundle free of database code: sign-in, sessions and sign-out go through here.
import type { Role } from "./audit/audit";
import type { SsoIdentity } from "./users/sso";
import type { SsoRefusal } from "./vocabulary";

export interface SignedInUser {
  id: string;
  email: string;
  name: string | null;
  role: Role;
  /** The session this sign-in opened: its id goes into the cookie. */
  sessionId: string;
}

/** How people sign in to this console. */
export interface SignInMethods {
  /** With an e-mail and a password (ORCHARD_LOCAL_SIGN_IN). */
  local: boolean;
  /** Through an OpenID Connect identity provider, when one is configured: what next-auth's provider needs. */
  sso: {
    issuer: string;
    clientId: string;
    clientSecret: string;
    scopes: string;
    groupsClaim: string;
    /** What the sign-in button calls the provider. */
    name: string;
  } | null;
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
  signInMethods: SignInMethods;
  /**
   * Signs in a user the identity provider vouched for (next-auth checked the
   * ID token, state, nonce and PKCE): the user, or why they are refused. The
   * gate's stamp is needed as for authenticate().
   */
  signInWithSso(identity: SsoIdentity, gate: string | undefined): Promise<{ user: SignedInUser } | { refused: SsoRefusal }>;
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
