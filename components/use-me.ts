"use client";
import { useQuery } from "@tanstack/react-query";
import { mayAct, type Role, roleAtLeast } from "@/server/vocabulary";
import { useTRPC } from "./trpc";

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
    can: (needed: Role) => (role ? roleAtLeast(role, needed) : false),
    /** The role on the whole fleet (a new ring, the brake): not for a user limited to some rings. */
    canOnFleet: (needed: Role) => (me.data ? mayAct(me.data, needed, null) : false),
  };
}
