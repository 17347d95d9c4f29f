"use client";
// The pages only admins use (users, tokens, webhooks): the server's answer
// about who is signed in decides, and anyone else is told whom to ask.
import type { ReactNode } from "react";
import { AdminsOnly, PageState } from "./notice";
import { useMe } from "./use-me";

export function AdminGate({ what, children }: { what: string; children: ReactNode }) {
  const { role, loading, error } = useMe();
  if (loading) return <div className="skeleton" aria-busy="true" />;
  if (error) {
    return (
      <PageState title="Could not check your role" tone="error">
        <p>{error}</p>
      </PageState>
    );
  }
  if (role !== "admin") return <AdminsOnly what={what} />;
  return <>{children}</>;
}
