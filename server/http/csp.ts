// The pages' Content-Security-Policy, with a fresh nonce per request: scripts
// run only from this origin or with the nonce, never inline without it (no
// 'unsafe-inline' for scripts). Next.js reads the nonce from the request's
// Content-Security-Policy header and puts it on every script it renders, so
// the console sets the header on the request it hands to Next and on the
// answer (server/console.ts); every page is rendered per request for it
// (app/layout.tsx). Styles keep 'unsafe-inline': Next and the charts set
// inline styles, and a style cannot run code.
import { randomBytes } from "node:crypto";

export function newNonce(): string {
  return randomBytes(16).toString("base64");
}

export function pagePolicy(nonce: string): string {
  return [
    "default-src 'self'",
    // 'strict-dynamic': scripts that a nonced script loads run too (Next's chunks); 'self' for browsers without it.
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "object-src 'none'",
  ].join("; ");
}
