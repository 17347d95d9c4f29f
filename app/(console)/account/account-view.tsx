"use client";
// My account: who is signed in, and a form to change one's own password.
// Changing it ends every session of the user, this one too: the browser is
// signed out and sent to sign in with the new password.
import { useMutation } from "@tanstack/react-query";
import { signOut } from "next-auth/react";
import { type FormEvent, useState } from "react";
import { Field } from "@/components/field";
import { invalidIf, type Problem, problemOf } from "@/components/format";
import { ErrorNotice } from "@/components/notice";
import { useTRPC } from "@/components/trpc";
import { useMe } from "@/components/use-me";

export function AccountView() {
  const { me, loading } = useMe();
  return (
    <>
      <div className="page-header">
        <h1>My account</h1>
        <p className="muted">Who you are signed in as, and your password.</p>
      </div>
      <div className="stack">
        <section className="card" aria-labelledby="whoami-title">
          <h2 id="whoami-title">Signed in as</h2>
          {loading ? (
            <div className="skeleton" aria-busy="true" />
          ) : (
            <dl className="facts">
              <dt>E-mail</dt>
              <dd>{me?.name}</dd>
              <dt>Role</dt>
              <dd>{me?.role}</dd>
            </dl>
          )}
        </section>
        <ChangePasswordForm />
      </div>
    </>
  );
}

function ChangePasswordForm() {
  const trpc = useTRPC();
  const [mismatch, setMismatch] = useState(false);
  const change = useMutation(
    trpc.users.changePassword.mutationOptions({
      // Every session of this user has ended on the server: clear this browser's cookie and sign in anew.
      onSuccess: () => void signOut({ callbackUrl: "/signin?changed=password" }),
    }),
  );
  const problem: Problem | null = mismatch
    ? { message: "newPassword: the two new passwords differ", field: "newPassword" }
    : problemOf(change.error);
  const message = problem?.message;

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const newPassword = String(form.get("newPassword") ?? "");
    if (newPassword !== String(form.get("repeatPassword") ?? "")) {
      setMismatch(true);
      return;
    }
    setMismatch(false);
    change.mutate({ currentPassword: String(form.get("currentPassword") ?? ""), newPassword });
  }

  return (
    <form className="card form-card" onSubmit={submit} aria-labelledby="change-password-title">
      <h2 id="change-password-title">Change password</h2>
      <p className="muted">All your sessions end, this one included: you sign in again with the new password.</p>
      <div className="form-grid">
        <Field label="Current password">
          {(field) => (
            <input
              {...field}
              name="currentPassword"
              type="password"
              required
              maxLength={200}
              autoComplete="current-password"
              {...invalidIf(problem, "currentPassword")}
            />
          )}
        </Field>
        <Field label="New password" hint="at least 12 characters">
          {(field) => (
            <input
              {...field}
              name="newPassword"
              type="password"
              required
              minLength={12}
              maxLength={200}
              autoComplete="new-password"
              {...invalidIf(problem, "newPassword")}
            />
          )}
        </Field>
        <Field label="New password, again">
          {(field) => (
            <input {...field} name="repeatPassword" type="password" required minLength={12} maxLength={200} autoComplete="new-password" />
          )}
        </Field>
      </div>
      <ErrorNotice error={message} />
      <div className="form-actions">
        <button type="submit" className="primary" disabled={change.isPending || change.isSuccess}>
          {change.isPending ? "Changing…" : change.isSuccess ? "Signing out…" : "Change password"}
        </button>
      </div>
    </form>
  );
}
