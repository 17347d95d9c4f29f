import { describe, expect, it } from "vitest";
import { sameOriginUrl } from "./redirect";

const ORIGIN = "https://orchard.example.com";
const HOME = `${ORIGIN}/dashboard`;

// Each one leads, read as a browser reads it, somewhere other than the console.
const ELSEWHERE = [
  "/\\evil.example", // `/\evil.example`: the browser reads `//evil.example`
  "/\\/evil.example",
  "\\\\evil.example",
  "/\t/evil.example", // a tab is dropped: `//evil.example`
  "/\t\\evil.example",
  "/\n/evil.example",
  "/\r\n/evil.example",
  "\t//evil.example",
  " //evil.example",
  "//evil.example",
  "///evil.example",
  "////evil.example/dashboard",
  "https://evil.example",
  "https://evil.example/dashboard",
  "HTTPS://EVIL.EXAMPLE",
  "http://orchard.example.com/dashboard", // same host, other scheme
  "https://orchard.example.com:8443/dashboard", // same host, other port
  "https://orchard.example.com.evil.example/",
  "https://orchard.example.com@evil.example/",
  "https://evil.example#@orchard.example.com",
  "javascript:alert(document.domain)",
  "JaVaScRiPt:alert(1)",
  "java\tscript:alert(1)",
  "data:text/html,<script>alert(1)</script>",
  "vbscript:msgbox(1)",
  "blob:https://orchard.example.com/uuid", // same origin, but not a page of the console
  "file:///etc/passwd",
  "//evil.example/%2F..",
  "/%5C%5Cevil.example/../", // stays a path here: see below
];

describe("sameOriginUrl", () => {
  it.each(ELSEWHERE.filter((t) => !t.startsWith("/%5C")))("sends %j to the dashboard, not elsewhere", (target) => {
    expect(sameOriginUrl(target, ORIGIN)).toBe(HOME);
  });

  it.each([
    ["/machines", `${ORIGIN}/machines`],
    ["/machines?ring=beta&sort=hostname#top", `${ORIGIN}/machines?ring=beta&sort=hostname#top`],
    ["machines", `${ORIGIN}/machines`],
    ["/rollouts/../audit", `${ORIGIN}/audit`],
    [`${ORIGIN}/rings`, `${ORIGIN}/rings`],
    ["https://user:pass@orchard.example.com/rings", `${ORIGIN}/rings`], // credentials dropped
    ["https://ORCHARD.example.com/rings", `${ORIGIN}/rings`],
    ["https://orchard.example.com:443/rings", `${ORIGIN}/rings`],
    ["/%5Cevil.example", `${ORIGIN}/%5Cevil.example`], // encoded: a path on the console, never a host
    ["/%5C%5Cevil.example/../", `${ORIGIN}/`],
    ["/%09/evil.example", `${ORIGIN}/%09/evil.example`],
    ["/\tevil.example", `${ORIGIN}/evil.example`], // the tab is dropped: a path
    ["https:evil.example", `${ORIGIN}/evil.example`], // same scheme, no slashes: relative, as browsers read it
    ["https:/evil.example", `${ORIGIN}/evil.example`],
  ])("keeps %j on the console as %s", (target, expected) => {
    expect(sameOriginUrl(target, ORIGIN)).toBe(expected);
  });

  it("never answers anything a browser would take off the console", () => {
    for (const target of ELSEWHERE) {
      const answer = sameOriginUrl(target, ORIGIN);
      expect(answer.startsWith(`${ORIGIN}/`), target).toBe(true);
      expect(new URL(answer).origin, target).toBe(ORIGIN);
      // Followed as a link from a page of the console, it stays there too.
      expect(new URL(answer, `${ORIGIN}/signin`).origin, target).toBe(ORIGIN);
    }
  });

  it("falls back for nothing, garbage and non-strings", () => {
    expect(sameOriginUrl(null, ORIGIN)).toBe(HOME);
    expect(sameOriginUrl(undefined, ORIGIN)).toBe(HOME);
    expect(sameOriginUrl("", ORIGIN)).toBe(HOME);
    expect(sameOriginUrl("http://[::1", ORIGIN)).toBe(HOME);
    expect(sameOriginUrl(42 as unknown as string, ORIGIN)).toBe(HOME);
    expect(sameOriginUrl("https://evil.example", ORIGIN, "/signin")).toBe(`${ORIGIN}/signin`);
  });

  it("works with a console on a port and a path-less origin given with a trailing slash", () => {
    expect(sameOriginUrl("/\\evil.example", "http://127.0.0.1:3300/")).toBe("http://127.0.0.1:3300/dashboard");
    expect(sameOriginUrl("/machines", "http://127.0.0.1:3300/")).toBe("http://127.0.0.1:3300/machines");
  });
});
