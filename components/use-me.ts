"use client";
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "./trpc";

type Role = "viewer" | "operator" | "admin";
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** The signed-in user and what their role lets the page offer. The server checks every call anyway. */
export function useMe() {
  const trpc = useTRPC();
  const me = useQuery(trpc.users.me.queryOptions(undefined, { staleTime: 30_000 }));
  const role = me.data?.role;
  return {
    me: me.data ?? null,
    loading: me.isPending,
    error: me.error?.message ?? null,
    role,
    can: (needed: Role) => (role ? RANK[role] >= RANK[needed] : false),
  };
}
