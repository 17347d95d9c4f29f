"use client";
import { useQuery } from "@tanstack/react-query";
import { signOut } from "next-auth/react";
import Link from "next/link";
import { usePathname } from "next/navigation";
import { useTRPC } from "./trpc";

const LINKS = [
  { href: "/dashboard", label: "Dashboard", role: "viewer" },
  { href: "/machines", label: "Machines", role: "viewer" },
  { href: "/rings", label: "Rings", role: "viewer" },
  { href: "/rollouts", label: "Rollouts", role: "viewer" },
  { href: "/releases", label: "Releases", role: "viewer" },
  { href: "/audit", label: "Audit log", role: "viewer" },
  { href: "/enrollment-tokens", label: "Enrollment tokens", role: "admin" },
  { href: "/api-tokens", label: "API tokens", role: "admin" },
  { href: "/users", label: "Users", role: "admin" },
  { href: "/webhooks", label: "Webhooks", role: "admin" },
] as const;

export function NavBar() {
  const trpc = useTRPC();
  const me = useQuery(trpc.users.me.queryOptions());
  const pathname = usePathname();
  const isAdmin = me.data?.role === "admin";
  return (
    // An admin's longer list of links leaves less room: the e-mail gives way first (globals.css).
    <header className={isAdmin ? "navbar admin-nav" : "navbar"}>
      <Link href="/dashboard" className="brand">
        <span className="logo" aria-hidden="true">
          ◆
        </span>{" "}
        Orchard
      </Link>
      <nav aria-label="Main">
        <ul>
          {LINKS.filter((l) => l.role !== "admin" || isAdmin).map((link) => (
            <li key={link.href}>
              <Link href={link.href} aria-current={pathname.startsWith(link.href) ? "page" : undefined}>
                {link.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <div className="whoami">
        {me.data && (
          <>
            <span>{me.data.name}</span> <span className="role-badge">{me.data.role}</span>{" "}
            <Link href="/account" title={me.data.name} aria-current={pathname.startsWith("/account") ? "page" : undefined}>
              My account
            </Link>
          </>
        )}
        <button type="button" className="link-button" onClick={() => void signOut({ callbackUrl: "/signin" })}>
          Sign out
        </button>
      </div>
    </header>
  );
}
