// next-auth: e-mail + password sign-in, JWT sessions in an HTTP-only cookie.
// The JWT carries the user's id and a session id (`sid`); every use of the
// cookie looks the session up (server/sessions/sessions.ts), so sign-out,
// disabling a user, a new role or a new password end it on the server, and
// /api/auth/session does not renew an ended one. The user's role is re-read
// each time. Database work goes through the console's runtime (server/runtime.ts).
import type { NextAuthOptions } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import { getRuntime } from "../runtime";
import { SESSION_LIFETIME_SECONDS } from "../sessions/sessions";
import { sameOriginUrl } from "./redirect";
import { SIGN_IN_GATE_HEADER } from "./sign-in-gate";

/** The cookie's lifetime; the session row's own end (sessions.ts) is what counts. */
export const SESSION_MAX_AGE_SECONDS = SESSION_LIFETIME_SECONDS;

/** Thrown by the jwt callback for a cookie whose session is over: next-auth then clears the cookie. */
class SessionEnded extends Error {
  override name = "SessionEnded";
}

function headerValue(headers: unknown, name: string): string | undefined {
  const value = (headers as Record<string, string | string[] | undefined> | undefined)?.[name];
  return Array.isArray(value) ? value[0] : value;
}

export const authOptions: NextAuthOptions = {
  session: { strategy: "jwt", maxAge: SESSION_MAX_AGE_SECONDS },
  pages: { signIn: "/signin" },
  providers: [
    CredentialsProvider({
      name: "e-mail and password",
      credentials: {
        email: { label: "E-mail", type: "email" },
        password: { label: "Password", type: "password" },
      },
      async authorize(credentials, req) {
        const email = credentials?.email;
        const password = credentials?.password;
        if (!email || !password || email.length > 254 || password.length > 200) return null;
        let user;
        try {
          // The console's stamp (sign-in-gate.ts): without it, authenticate() refuses.
          user = await getRuntime().authenticate(email, password, headerValue(req?.headers, SIGN_IN_GATE_HEADER));
        } catch (error) {
          // next-auth shows a thrown error's message to the browser: only ours, never an internal one.
          if ((error as Error)?.name === "SignInRefused") throw error;
          console.error("sign-in failed:", error);
          throw new Error("Sign-in is unavailable right now. Try again in a moment.");
        }
        return user ? { id: user.id, email: user.email, name: user.name ?? user.email, sid: user.sessionId } : null;
      },
    }),
  ],
  callbacks: {
    async jwt({ token, user }) {
      if (user) {
        // Signing in: the session was opened by authenticate().
        return { sub: user.id, name: user.name, email: user.email, sid: (user as { sid?: string }).sid };
      }
      const sessionId = typeof token.sid === "string" ? token.sid : null;
      if (!sessionId || !(await getRuntime().resolveSession(sessionId))) throw new SessionEnded("the session has ended");
      return token;
    },
    session({ session, token }) {
      if (session.user) (session.user as { id?: string }).id = token.sub;
      return session;
    },
    /** Only ever to the console's own origin (redirect.ts, the same rule as the sign-in form's). */
    redirect({ url, baseUrl }) {
      return sameOriginUrl(url, baseUrl);
    },
  },
  events: {
    async signOut({ token }) {
      const sessionId = typeof token?.sid === "string" ? token.sid : null;
      if (sessionId) await getRuntime().endSession(sessionId);
    },
  },
  logger: {
    // An ended session is the expected answer to an old cookie, not an error of the console.
    error(code, metadata) {
      const cause = (metadata as { error?: unknown; name?: string } | undefined) ?? {};
      if (cause.name === "SessionEnded" || (cause.error as Error | undefined)?.name === "SessionEnded") return;
      console.error(`[next-auth][error][${code}]`, metadata);
    },
    warn(code) {
      console.warn(`[next-auth][warn][${code}]`);
    },
    debug() {},
  },
};
