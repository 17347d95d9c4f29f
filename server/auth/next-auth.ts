// next-auth: e-mail + password sign-in, JWT sessions in an HTTP-only cookie.
// The session carries only the user's id; every request re-reads the user's
// role, so a role change or a disabled account takes effect at once.
import type { NextAuthOptions } from "next-auth";
import CredentialsProvider from "next-auth/providers/credentials";
import { getRuntime } from "../runtime";
import { sameOriginUrl } from "./redirect";

export const SESSION_MAX_AGE_SECONDS = 12 * 60 * 60;

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
      async authorize(credentials) {
        const email = credentials?.email;
        const password = credentials?.password;
        if (!email || !password || email.length > 254 || password.length > 200) return null;
        const user = await getRuntime().authenticate(email, password);
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
