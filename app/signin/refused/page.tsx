// Where a single sign-on the console turned down ends: what happened, in
// words, and the way back. Never a loop: nothing here signs in by itself.
import type { Metadata } from "next";
import Link from "next/link";
import { isSsoRefusal, type SsoRefusal } from "@/server/vocabulary";

export const metadata: Metadata = { title: "Sign-in refused" };
// The reason comes from the query: rendered per request.
export const dynamic = "force-dynamic";

const WHY: Record<SsoRefusal, { title: string; text: string }> = {
  "no-group": {
    title: "Your account has no access to Orchard",
    text: "Your identity provider vouched for you, but you are in none of the groups that this console gives a role to. Ask an administrator to add you to one of Orchard's groups, then sign in again.",
  },
  disabled: {
    title: "Your Orchard account is disabled",
    text: "An administrator of this console disabled your account. Ask them to enable it.",
  },
  "email-taken": {
    title: "Your e-mail belongs to another Orchard account",
    text: "This console already has an account with your e-mail that signs in another way (with a password, say). Ask an administrator to remove that account, then sign in through single sign-on again.",
  },
  "no-email": {
    title: "Your identity provider sent no e-mail address",
    text: "Orchard names each user by their e-mail address, and the identity provider sent none for you. Ask an administrator to release the e-mail claim to Orchard.",
  },
  unavailable: {
    title: "Single sign-on did not complete",
    text: "The console could not complete your sign-in. Try again in a moment; if it keeps happening, tell an administrator.",
  },
};

export default async function SignInRefusedPage({ searchParams }: { searchParams: Promise<{ reason?: string | string[] }> }) {
  const { reason } = await searchParams;
  const why = WHY[isSsoRefusal(typeof reason === "string" ? reason : null) ? (reason as SsoRefusal) : "unavailable"];
  return (
    <main className="signin">
      <div className="signin-card stack">
        <h1>
          <span className="logo" aria-hidden="true">
            ◆
          </span>{" "}
          Orchard
        </h1>
        <div role="alert" className="notice error">
          <h2>{why.title}</h2>
          <p>{why.text}</p>
        </div>
        <p>
          <Link href="/signin">Back to sign-in</Link>
        </p>
      </div>
    </main>
  );
}
