// Where to send a browser after signing in or out: a `callbackUrl` is only
// ever followed to the console's own origin. Used by the sign-in form and by
// next-auth's `redirect` callback, so that both decide alike.
//
// The URL is resolved against the console's origin the way the browser will
// resolve it, and the origins compared; comparing strings is what let
// `/\evil.example` and `/<tab>/evil.example` through (the browser reads both
// as `//evil.example`, another site). Pure: runs in the browser too.

export const DEFAULT_AFTER_SIGN_IN = "/dashboard";

/**
 * `target` as an absolute URL on `origin` (scheme, host and port equal),
 * without any user name or password in it; `fallback` on `origin` when
 * `target` is missing, unparsable or anywhere else.
 */
export function sameOriginUrl(target: string | null | undefined, origin: string, fallback = DEFAULT_AFTER_SIGN_IN): string {
  const base = new URL(origin);
  const home = new URL(fallback, base.origin).href;
  if (typeof target !== "string" || target === "") return home;
  let url: URL;
  try {
    url = new URL(target, base.origin);
  } catch {
    return home;
  }
  if (url.protocol !== base.protocol || url.host !== base.host || url.origin !== base.origin) return home;
  // Rebuilt from the parts, so that nothing but this origin can lead it.
  return `${base.origin}${url.pathname}${url.search}${url.hash}`;
}
