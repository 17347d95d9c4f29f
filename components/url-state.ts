"use client";
// Filters, sort, page and page size live in the URL so that a view can be shared.
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useCallback } from "react";

export function useUrlState() {
  const params = useSearchParams();
  const router = useRouter();
  const pathname = usePathname();
  const get = useCallback((key: string) => params.get(key) ?? undefined, [params]);
  const set = useCallback(
    (changes: Record<string, string | number | undefined | null>) => {
      const next = new URLSearchParams(params.toString());
      for (const [key, value] of Object.entries(changes)) {
        if (value === undefined || value === null || value === "") next.delete(key);
        else next.set(key, String(value));
      }
      const query = next.toString();
      router.replace(query ? `${pathname}?${query}` : pathname, { scroll: false });
    },
    [params, router, pathname],
  );
  return { get, set };
}

/** The page sizes a server-paged table offers, and the one a URL without `size` gets. */
export const PAGE_SIZES = [10, 50, 200] as const;
export const DEFAULT_PAGE_SIZE = 50;

/** The page size a URL's `size` asks for, when it is one the tables offer. */
export function pageSizeOf(value: string | undefined): number {
  const size = Number(value);
  return (PAGE_SIZES as readonly number[]).includes(size) ? size : DEFAULT_PAGE_SIZE;
}

/** What a URL says for a page size: nothing for the default one. */
export function pageSizeParam(size: number): number | undefined {
  return size === DEFAULT_PAGE_SIZE ? undefined : size;
}
