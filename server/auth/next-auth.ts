// next-auth: e-mail + password sign-in and single sign-on with OpenID
// Connect, JWT sessions in an HTTP-only cookie; which of the two this console
// offers is its configuration's (server/runtime.ts, `signInMethods`).
// The JWT carries the user's id and a session id (`sid`); every use of the
// cookie looks the session up (server/sessions/sessions.ts), so sign-out,
// disabling a user, a new role or a new password end it on the server, and
// /api/auth/session does not renew an ended one. The user's role is re-read
// each time. Database work goes through the console's runtime (server/runtime.ts).
import type { NextAuthOptions } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import type { OAuthConfig } from "next-auth/providers/oauth";
import type { TokenSet } from "openid-client";
import { getRuntime, type SignInMethods } from "../runtime";
import { SESSION_LIFETIME_SECONDS } from "../sessions/sessions";
import { sameOriginUrl } from "./redirect";
import { SIGN_IN_GATE_HEADER } from "./sign-in-gate";
import { groupsOfClaim } from "./sso-groups";

/** next-auth's id of the single sign-on provider: its callback is /api/auth/callback/oidc. */
export const SSO_PROVIDER_ID = "oidc";

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

type Claims = Record<string, unknown>;
const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : null);

/**
 * The OpenID Connect provider: discovery from the issuer, the authorization
 * code flow with PKCE, state and nonce, the ID token verified (signature,
 * issuer, audience, expiry) by next-auth's openid-client. The groups claim is
 * in the ID token with some providers and only at the userinfo endpoint with
 * others: the userinfo endpoint is asked when the ID token lacks it or the
 * e-mail, and the ID token's claims win where both say something.
 */
function ssoProvider(sso: NonNullable<SignInMethods["sso"]>): OAuthConfig<Claims> {
  return {
    id: SSO_PROVIDER_ID,
    name: sso.name,
    type: "oauth",
    wellKnown: `${sso.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`,
    clientId: sso.clientId,
    clientSecret: sso.clientSecret,
    authorization: { params: { scope: sso.scopes } },
    idToken: true,
    checks: ["pkce", "state", "nonce"],
    userinfo: {
      async request({ tokens, client }) {
        // The token set of the code exchange (client.callback, with idToken: true), as next-auth passes it.
        const tokenSet = tokens as TokenSet;
        const claims = tokenSet.claims() as Claims;
        if ((claims[sso.groupsClaim] !== undefined && text(claims.email)) || !tokenSet.access_token) return claims;
        const info = (await client.userinfo(tokenSet)) as Claims;
        // OpenID Connect Core 5.3.2: a userinfo answer about anyone else is not used.
        return info.sub === claims.sub ? { ...info, ...claims } : claims;
      },
    },
    profile: (claims) => ({ id: String(claims.sub), email: text(claims.email), name: text(claims.name) ?? text(claims.preferred_username) }),
  };
}

/** The refusal page for a single sign-on the console turned down. */
const refusedUrl = (reason: string) => `/signin/refused?reason=${encodeURIComponent(reason)}`;

/**
 * next-auth's options for one request; `gate` is the console's stamp on it
 * (server/auth/sign-in-gate.ts), needed by both kinds of sign-in. Pages and
 * the session check (getServerSession) use the same callbacks with no gate.
 */
export function authOptions(gate?: string): NextAuthOptions {
  const methods = getRuntime().signInMethods;
  return {
  session: { strategy: "jwt", maxAge: SESSION_MAX_AGE_SECONDS },
  // next-auth's errors (a failed exchange with the identity provider, say) come back to the sign-in page, which words them.
  pages: { signIn: "/signin", error: "/signin" },
  providers: [
    ...(methods.sso ? [ssoProvider(methods.sso)] : []),
    ...(methods.local ? [CredentialsProvider({
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
    })] : []),
  ],
  callbacks: {
    /**
     * A single sign-on: the console maps the claim and opens the session, or
     * sends the browser to the refusal page. The user object is the one that
     * next-auth then hands to the jwt callback: it leaves here as the
     * console's user, with its session id.
     */
    async signIn({ user, account, profile }) {
      if (account?.provider !== SSO_PROVIDER_ID || !methods.sso) return true;
      const claims = (profile ?? {}) as Claims;
      try {
        const result = await getRuntime().signInWithSso(
          {
            issuer: String(claims.iss ?? ""),
            subject: String(claims.sub ?? ""),
            email: text(claims.email),
            name: text(claims.name) ?? text(claims.preferred_username),
            groups: groupsOfClaim(claims[methods.sso.groupsClaim]),
          },
          gate,
        );
        if ("refused" in result) return refusedUrl(result.refused);
        Object.assign(user, { id: result.user.id, email: result.user.email, name: result.user.name ?? result.user.email, sid: result.user.sessionId });
        return true;
      } catch (error) {
        console.error("single sign-on failed:", error);
        return refusedUrl("unavailable");
      }
    },
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
}
