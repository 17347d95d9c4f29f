import { describe, expect, it } from "vitest";
import { newNonce, pagePolicy } from "./csp";

describe("the pages' Content-Security-Policy", () => {
  it("allows scripts only from this origin or with this request's nonce, never inline without it", () => {
    const nonce = newNonce();
    const policy = pagePolicy(nonce);
    const scriptSrc = policy.split("; ").find((d) => d.startsWith("script-src "));
    expect(scriptSrc).toBe(`script-src 'self' 'nonce-${nonce}' 'strict-dynamic'`);
    expect(scriptSrc).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(policy).toMatch(/(^|; )default-src 'self'(;|$)/);
    expect(policy).toMatch(/(^|; )object-src 'none'(;|$)/);
    expect(policy).toMatch(/(^|; )frame-ancestors 'none'(;|$)/);
  });

  it("makes a new nonce for every request, in the form Next.js reads from the header", () => {
    const nonces = new Set(Array.from({ length: 100 }, newNonce));
    expect(nonces.size).toBe(100);
    for (const nonce of nonces) expect(`'nonce-${nonce}'`).toMatch(/^'nonce-([A-Za-z0-9+/_-]+={0,2})'$/);
  });
});
