"use client";
// My account: who is signed in, and a form to change one's own password.
// Changing it ends every session of the user, this one too: the browser is
// signed out and sent to sign in with the new password. A user of single
// sign-on has no password here: the page says where they sign in instead.
import { useMutation, useQuery } from "@tanstack/react-query";
import { signOut } from "next-auth/react";
import { type FormEvent, useState } from "react";
import { Field } from "@/components/field";
import { invalidIf, type Problem, problemOf } from "@/components/format";
import { ErrorNotice, FormFooter } from "@/components/notice";
import { useTRPC } from "@/components/trpc";

export function AccountView() {
  const trpc = useTRPC();
  const account = useQuery(trpc.users.account.queryOptions());
  const me = account.data;
  return (
    <>
      <div className="page-header">
        <h1>My account</h1>
        <p className="muted">Who you are signed in as, and how you sign in.</p>
      </div>
      <div className="stack">
        <ErrorNotice error={account.error?.message} />
        <section className="card" aria-labelledby="whoami-title">
          <h2 id="whoami-title">Signed in as</h2>
          {account.isPending ? (
            <div className="skeleton" aria-busy="true" />
          ) : (
            <dl className="facts">
              <dt>E-mail</dt>
              <dd>{me?.email}</dd>
              <dt>Role</dt>
              <dd>{me?.role}</dd>
              <dt>Rings</dt>
              <dd>{me ? (me.rings === null ? "every ring" : me.rings.join(", ")) : null}</dd>
              <dt>Signs in with</dt>
              <dd>{me?.signsInWith === "sso" ? "single sign-on" : me ? "e-mail and password" : null}</dd>
            </dl>
          )}
        </section>
        {me?.signsInWith === "sso" ? (
          <section className="card" aria-labelledby="password-title">
            <h2 id="password-title">Password</h2>
            <p className="muted">
              You sign in through single sign-on: your password, and the groups that give you your role and rings, are kept by your
              identity provider. Orchard has no password of yours to change.
            </p>
          </section>
        ) : me ? (
          <ChangePasswordForm />
        ) : null}
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
      <FormFooter error={message} pending={change.isPending} label={change.isSuccess ? "Signing out…" : "Change password"} pendingLabel="Changing…" disabled={change.isSuccess} />
    </form>
  );
}
