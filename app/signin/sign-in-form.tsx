"use client";
// The sign-in form. After signing in it goes to `callbackUrl` only when that
// is on the console's own origin (server/auth/redirect.ts, as next-auth's
// redirect callback decides), else to the dashboard.
import { signIn } from "next-auth/react";
import { useRouter, useSearchParams } from "next/navigation";
import { type FormEvent, useState } from "react";
import { sameOriginUrl } from "@/server/auth/redirect";

export function SignInForm() {
  const router = useRouter();
  const params = useSearchParams();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    const next = sameOriginUrl(params.get("callbackUrl"), window.location.origin);
    const result = await signIn("credentials", {
      email: String(form.get("email") ?? ""),
      password: String(form.get("password") ?? ""),
      callbackUrl: next,
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
    router.replace(next);
    router.refresh();
  }

  return (
    <form onSubmit={onSubmit} className="stack" method="post">
      {params.get("changed") === "password" && !error && (
        <p role="status" className="notice success">
          Your password is changed. Sign in with the new one.
        </p>
      )}
      <label>
        E-mail
        <input name="email" type="email" autoComplete="username" required autoFocus />
      </label>
      <label>
        Password
        <input name="password" type="password" autoComplete="current-password" required />
      </label>
      {error && (
        <p role="alert" className="error-text">
          {error}
        </p>
      )}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Signing in…" : "Sign in"}
      </button>
    </form>
  );
}
