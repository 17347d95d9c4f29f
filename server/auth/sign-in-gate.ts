// Which requests are a sign-in, decided the way Next.js and next-auth route
// them (not by comparing strings), and the stamp that tells next-auth's
// authorize() that the console's limits have counted the request.
//
// Next.js decodes each path segment and resolves dot segments, and next-auth
// reads only the first two segments after /api/auth/ (action and provider):
// `/api/auth/callback/credentials/x`, `/api/auth/callback/%63redentials`,
// `/api/auth/x/../callback/./credentials?y#z` all sign in (seen on Next 16.4 +
// next-auth 4.24, see sign-in-gate.test.ts). The classifier below is
// deliberately wider than that: it decodes repeatedly, treats `\` and an
// encoded `/` as separators and ignores case, so that anything that might
// reach the credentials sign-in is counted; counting a request that then
// 404s costs nothing.
//
// Behind it, authorize() refuses any sign-in without the stamp, so a path that
// some future Next.js routes differently fails closed instead of bypassing
// the limits.
import { timingSafeEqual } from "node:crypto";

/** Set by the console on requests it counted as sign-ins; removed from every other request. */
export const SIGN_IN_GATE_HEADER = "x-orchard-sign-in-gate";

/** Up to this many rounds of percent-decoding (`%2563` → `%63` → `c`). */
const DECODE_ROUNDS = 4;

function decodeTolerant(text: string): string {
  let out = text;
  for (let i = 0; i < DECODE_ROUNDS; i++) {
    const next = out.replace(/(%[0-9a-fA-F]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        // Not UTF-8: decode byte by byte as Latin-1; only ASCII matters here.
        return run.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
      }
    });
    if (next === out) break;
    out = next;
  }
  return out;
}

/** The path segments of a request target as a router could end up seeing them, lower-cased. */
export function pathSegments(target: string): string[] {
  let path = target;
  if (!path.startsWith("/")) {
    // Absolute form (`POST http://host/api/… HTTP/1.1`) or garbage.
    try {
      path = new URL(path).pathname;
    } catch {
      path = `/${path}`;
    }
  }
  path = path.split(/[?#]/, 1)[0];
  path = decodeTolerant(path).replace(/\\/g, "/");
  const segments: string[] = [];
  for (const raw of path.split("/")) {
    // WHATWG URL parsing drops tabs and newlines; treat every control and space character alike.
    const segment = raw.replace(/[\u0000-\u0020\u007f]/g, "").toLowerCase();
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  return segments;
}

/**
 * Whether a request may reach next-auth's sign-in, however spelled: any
 * request to `/api/auth/callback/…` (the identity provider sends the browser
 * back there with a GET), and any but GET and HEAD to `/api/auth/signin/…`
 * (which starts a single sign-on; a GET there only shows the sign-in page).
 */
export function isSignInRequest(method: string | undefined, target: string): boolean {
  const [api, auth, action] = pathSegments(target);
  if (api !== "api" || auth !== "auth") return false;
  if (action === "callback") return true;
  return action === "signin" && method !== "GET" && method !== "HEAD";
}

/** The stamp's value for a request from `address`: the process's secret, then the address. */
export function gateStamp(secret: string, address: string): string {
  return `${secret} ${address}`;
}

/** The client address of a stamped request, or null when the stamp is missing or forged. */
export function readGateStamp(secret: string, value: string | undefined | null): string | null {
  if (!value) return null;
  const at = value.indexOf(" ");
  if (at < 0) return null;
  const given = Buffer.from(value.slice(0, at));
  const expected = Buffer.from(secret);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  return value.slice(at + 1) || null;
}
