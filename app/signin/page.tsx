import type { Metadata } from "next";
import { Suspense } from "react";
import { getRuntime } from "@/server/runtime";
import { SignInForm } from "./sign-in-form";

export const metadata: Metadata = { title: "Sign in" };
// The sign-in methods are the running console's configuration, read at each request.
export const dynamic = "force-dynamic";

export default function SignInPage() {
  const { local, sso } = getRuntime().signInMethods;
  return (
    <main className="signin">
      <div className="signin-card">
        <h1>
          <span className="logo" aria-hidden="true">
            ◆
          </span>{" "}
          Orchard
        </h1>
        <p className="muted">Sign in to the fleet console.</p>
        <Suspense>
          <SignInForm local={local} sso={sso ? { name: sso.name } : null} />
        </Suspense>
      </div>
    </main>
  );
}
