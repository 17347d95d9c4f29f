// Sign-in, sessions and sign-out as the console process serves them to
// next-auth (through server/runtime.ts): the gate's stamp, the backoff, the
// password check and the session row, with a log line for each outcome; and
// the sign-in through single sign-on (server/users/sso.ts).
import type { SsoConfig } from "../config";
import type { Database } from "../db/client";
import type { Logger } from "../logger";
import { type ConsoleRuntime, SignInRefused } from "../runtime";
import { endSession, resolveSession, startSession } from "../sessions/sessions";
import { signInWithSso } from "../users/sso";
import { authenticateUser } from "../users/users";
import { readGateStamp } from "./sign-in-gate";
import type { SignInGuard } from "./sign-in-guard";

export interface SignInOptions {
  db: Database;
  guard: SignInGuard;
  /** The secret of the gate's stamp (this process's own, random at start). */
  gateSecret: string;
  log: Logger;
  /** Single sign-on, when configured. */
  sso?: SsoConfig | null;
  /** Sign-in with a password; true unless switched off. */
  localSignIn?: boolean;
}

export function createConsoleRuntime({ db, guard, gateSecret, log, sso = null, localSignIn = true }: SignInOptions): ConsoleRuntime {
  return {
    signInMethods: {
      local: localSignIn,
      sso: sso && {
        issuer: sso.issuer,
        clientId: sso.clientId,
        clientSecret: sso.clientSecret,
        scopes: sso.scopes,
        groupsClaim: sso.groupsClaim,
        name: sso.name,
      },
    },
    async authenticate(email, password, gate) {
      if (!localSignIn) {
        log.warn("sign-in refused: sign-in with a password is switched off");
        throw new SignInRefused("Sign-in with a password is switched off here: sign in through single sign-on.");
      }
      const address = readGateStamp(gateSecret, gate);
      if (address === null) {
        // The console counts and stamps every request that can reach the sign-in; one without the stamp got past it.
        log.warn("sign-in refused: the request did not pass the console's sign-in limits");
        throw new SignInRefused("Sign-in refused. Sign in from the console's sign-in page.");
      }
      const account = email.trim().toLowerCase();
      const refusal = guard.admit(account, address);
      if (refusal) {
        log.warn({ account, address, ...refusal }, "sign-in refused: backing off");
        throw new SignInRefused(
          refusal.reason === "address-backoff"
            ? `Too many failed sign-ins for this account from here: try again in ${refusal.retryAfterSeconds} s.`
            : `Too many failed sign-ins for this account from elsewhere: try again in ${refusal.retryAfterSeconds} s.`,
        );
      }
      const user = await authenticateUser(db.prisma, account, password);
      if (!user) {
        guard.fail(account, address);
        log.warn({ account, address }, "sign-in failed");
        return null;
      }
      guard.succeed(account, address);
      const sessionId = await startSession(db.prisma, user.id);
      log.info({ account, address, role: user.role }, "signed in");
      return { ...user, sessionId };
    },
    async signInWithSso(identity, gate) {
      const address = readGateStamp(gateSecret, gate);
      if (address === null) {
        log.warn("single sign-on refused: the request did not pass the console's sign-in limits");
        return { refused: "unavailable" };
      }
      if (!sso || identity.issuer !== sso.issuer) {
        log.warn({ issuer: identity.issuer }, "single sign-on refused: not the configured identity provider");
        return { refused: "unavailable" };
      }
      const result = await signInWithSso(db.prisma, identity, sso.groups);
      if (!result.signedIn) {
        log.warn({ account: identity.email, subject: identity.subject, address, groups: identity.groups, reason: result.refused }, "single sign-on refused");
        return { refused: result.refused };
      }
      const { user } = result;
      log.info(
        { account: user.email, address, role: user.role, rings: user.rings, created: result.created, sessionsEnded: result.sessionsEnded },
        "signed in through single sign-on",
      );
      return { user: { id: user.id, email: user.email, name: user.name, role: user.role, sessionId: result.sessionId } };
    },
    resolveSession: (sessionId) => resolveSession(db.prisma, sessionId),
    async endSession(sessionId) {
      await endSession(db.prisma, sessionId);
      log.info("signed out: session ended");
    },
  };
}
