// Sign-in, sessions and sign-out as the console process serves them to
// next-auth (through server/runtime.ts): the gate's stamp, the backoff, the
// password check and the session row, with a log line for each outcome.
import type { Database } from "../db/client";
import type { Logger } from "../logger";
import { type ConsoleRuntime, SignInRefused } from "../runtime";
import { endSession, resolveSession, startSession } from "../sessions/sessions";
import { authenticateUser } from "../users/users";
import { readGateStamp } from "./sign-in-gate";
import type { SignInGuard } from "./sign-in-guard";

export interface SignInOptions {
  db: Database;
  guard: SignInGuard;
  /** The secret of the gate's stamp (this process's own, random at start). */
  gateSecret: string;
  log: Logger;
}

export function createConsoleRuntime({ db, guard, gateSecret, log }: SignInOptions): ConsoleRuntime {
  return {
    async authenticate(email, password, gate) {
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
    resolveSession: (sessionId) => resolveSession(db.prisma, sessionId),
    async endSession(sessionId) {
      await endSession(db.prisma, sessionId);
      log.info("signed out: session ended");
    },
  };
}
