// next-auth: e-mail + password sign-in, JWT sessions in an HTTP-only cookie.
// The session carries only the user's id; every request re-reads the user's
// role, so a role change or a disabled account takes effect at once.
import type { NextAuthOptions } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import { getRuntime } from "../runtime";
import { sameOriginUrl } from "./redirect";
import { SIGN_IN_GATE_HEADER } from "./sign-in-gate";

export const SESSION_MAX_AGE_SECONDS = 12 * 60 * 60;

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
        return user ? { id: user.id, email: user.email, name: user.name ?? user.email } : null;
      },
    }),
  ],
  callbacks: {
    jwt({ token, user }) {
      if (user) token.sub = user.id;
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
};
