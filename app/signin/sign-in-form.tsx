"use client";
// The sign-in form: single sign-on's button and the e-mail and password form,
// each when the console offers it. After signing in it goes to `callbackUrl`
// only when that is on the console's own origin (server/auth/redirect.ts, as
// next-auth's redirect callback decides), else to the dashboard.
import { signIn } from "next-auth/react";
import { useRouter, useSearchParams } from "next/navigation";
import { type FormEvent, useState } from "react";
import { sameOriginUrl } from "@/server/auth/redirect";

/**
 * next-auth's error codes, as it sends them back here (`?error=`), in words.
 * A refusal of the console's own (no mapped group, say) has its own page.
 */
const SIGN_IN_ERRORS: Record<string, string> = {
  OAuthSignin: "Single sign-on could not start: the identity provider did not answer. Try again in a moment.",
  OAuthCallback: "Single sign-on did not complete: the identity provider's answer was refused. Try again.",
  Callback: "Single sign-on did not complete. Try again.",
  AccessDenied: "The identity provider did not let you sign in.",
  SessionRequired: "Sign in to see that page.",
};

export function SignInForm({ local, sso }: { local: boolean; sso: { name: string } | null }) {
  const router = useRouter();
  const params = useSearchParams();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const next = () => sameOriginUrl(params.get("callbackUrl"), window.location.origin);
  const returned = params.get("error");
  const shownError = error ?? (returned && returned !== "CredentialsSignin" ? (SIGN_IN_ERRORS[returned] ?? "Sign-in did not complete. Try again.") : null);

  async function signInWithSso() {
    setBusy(true);
    setError(null);
    // next-auth posts to /api/auth/signin/oidc and sends the browser to the identity provider.
    await signIn("oidc", { callbackUrl: next() });
  }

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    const target = next();
    const result = await signIn("credentials", {
      email: String(form.get("email") ?? ""),
      password: String(form.get("password") ?? ""),
      callbackUrl: target,
      redirect: false,
    });
    setBusy(false);
    if (!result || result.status === 429) {
      setError("Too many sign-in attempts from here. Wait a minute, then try again.");
      return;
    }
    if (result.error) {
      // A refusal by the limits says so; a wrong password stays vague on purpose.
      setError(/^(Too many|Sign-in)/.test(result.error) ? result.error : "Wrong e-mail or password.");
      return;
    }
    router.replace(target);
    router.refresh();
  }

  return (
    <div className="stack">
      {params.get("changed") === "password" && !shownError && (
        <p role="status" className="notice success">
          Your password is changed. Sign in with the new one.
        </p>
      )}
      {sso && (
        <button type="button" className="primary" onClick={() => void signInWithSso()} disabled={busy}>
          Sign in with {sso.name}
        </button>
      )}
      {sso && local && <p className="signin-or muted">or with your e-mail and password</p>}
      {!local && (
        <p className="muted">Sign-in with a password is switched off here.</p>
      )}
      {shownError && (
        <p role="alert" className="error-text">
          {shownError}
        </p>
      )}
      {local && <PasswordForm onSubmit={onSubmit} busy={busy} autoFocus={!sso} />}
    </div>
  );
}

function PasswordForm({ onSubmit, busy, autoFocus }: { onSubmit: (event: FormEvent<HTMLFormElement>) => void; busy: boolean; autoFocus: boolean }) {
  return (
    <form onSubmit={onSubmit} className="stack" method="post">
      <label>
        E-mail
        <input name="email" type="email" autoComplete="username" required autoFocus={autoFocus} />
      </label>
      <label>
        Password
        <input name="password" type="password" autoComplete="current-password" required />
      </label>
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Signing in…" : "Sign in"}
      </button>
    </form>
  );
}
