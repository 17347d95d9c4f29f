import { getServerSession } from "next-auth";
import Link from "next/link";
import { redirect } from "next/navigation";
import type { ReactNode } from "react";
import { NavBar } from "@/components/nav-bar";
import { TrpcProviders } from "@/components/trpc";
import { authOptions } from "@/server/auth/next-auth";

export const dynamic = "force-dynamic";

export default async function ConsoleLayout({ children }: { children: ReactNode }) {
  const session = await getServerSession(authOptions());
  if (!session) redirect("/signin");
  return (
    <TrpcProviders>
      <NavBar />
      <main className="page">{children}</main>
      <footer className="console-footer">
        <Link href="/api">API reference</Link>
        <a href="/api/v1/openapi.json">OpenAPI document</a>
      </footer>
    </TrpcProviders>
  );
}
