"use client";
import { useQuery } from "@tanstack/react-query";
import { useSyncExternalStore } from "react";
import { mayAct, type Role, roleAtLeast } from "@/server/vocabulary";
import { useTRPC } from "./trpc";

const noSubscription = () => () => {};

/**
 * False on the server and while React hydrates the page, true after: what a
 * component renders from shared query data must match the server's HTML until
 * then. (The navigation bar asks who is signed in as soon as it hydrates; a
 * page inside a Suspense boundary hydrates later and would otherwise find the
 * answer already cached and render a toolbar the server did not.)
 */
function useHydrated() {
  return useSyncExternalStore(
    noSubscription,
    () => true,
    () => false,
  );
}

/** The signed-in user and what their role lets the page offer. The server checks every call anyway. */
export function useMe() {
  const trpc = useTRPC();
  const hydrated = useHydrated();
  const query = useQuery(trpc.users.me.queryOptions(undefined, { staleTime: 30_000 }));
  const me = { data: hydrated ? query.data : undefined, isPending: !hydrated || query.isPending, error: hydrated ? query.error : null };
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
