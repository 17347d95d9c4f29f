import { describe, expect, it } from "vitest";
import { gateStamp, isSignInRequest, pathSegments, readGateStamp } from "./sign-in-gate";

// Each of these signed in against Next.js 16.4 + next-auth 4.24 as built
// here (POST with a valid CSRF token and the right password), before the
// console counted anything but the exact path. test/e2e/auth.spec.ts sends
// them to the real console and sees each one counted.
const SIGN_IN_VARIANTS = [
  "/api/auth/callback/credentials",
  "/api/auth/callback/credentials/x",
  "/api/auth/callback/credentials/x/y/z",
  "/api/auth/callback/%63redentials",
  "/api/auth/callback/credentials?x=1",
  "/api/auth/callback/credentials#x",
  "/api/auth/x/../callback/credentials",
  "/api/auth/callback/./credentials",
  "/api/auth/%2e%2e/auth/callback/credentials",
];

// These did not sign in (404, next-auth's 400, or a 308 to a path that is
// counted when followed) but are counted anyway: the classifier is wider on purpose.
const COUNTED_ANYWAY = [
  "/api/auth/callback%2Fcredentials",
  "/api/auth%2Fcallback/credentials",
  "//api/auth/callback/credentials",
  "/api//auth/callback//credentials",
  "/api/auth/callback/credentials/",
  "/API/Auth/Callback/CREDENTIALS",
  "/api/auth/callback/%2563redentials",
  "/%61pi/%61uth/callback/credentials",
  "/api\\auth\\callback\\credentials",
  "/api/auth/callback/credentials;x",
  "/api/auth/callback/\tcredentials",
  "/api/auth/callback/credentials%00",
  "/api/auth/callback/github",
  "/api/auth/signin/credentials",
  "http://127.0.0.1:3000/api/auth/callback/credentials",
  "/api/auth/callback/%E0%A4%A", // malformed escape: decoded as far as it goes
];

const NOT_SIGN_IN = [
  "/api/auth/session",
  "/api/auth/csrf",
  "/api/auth/signout",
  "/api/auth/_log",
  "/api/authx/callback/credentials",
  "/api/auth/callbackx/credentials",
  "/api/trpc/users.me",
  "/signin",
  "/",
];

describe("which requests are sign-ins", () => {
  it.each(SIGN_IN_VARIANTS)("counts POST %s (it signs in)", (path) => {
    expect(isSignInRequest("POST", path)).toBe(true);
  });

  it.each(COUNTED_ANYWAY)("counts POST %s too", (path) => {
    expect(isSignInRequest("POST", path)).toBe(true);
  });

  it.each(NOT_SIGN_IN)("does not count POST %s", (path) => {
    expect(isSignInRequest("POST", path)).toBe(false);
  });

  it("counts every method that next-auth could treat as a sign-in: GET and HEAD too for a callback (single sign-on returns with a GET)", () => {
    for (const method of ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", undefined]) {
      expect(isSignInRequest(method, "/api/auth/callback/credentials"), String(method)).toBe(true);
      expect(isSignInRequest(method, "/api/auth/callback/oidc?code=x&state=y"), String(method)).toBe(true);
    }
    for (const method of ["POST", "PUT", undefined]) expect(isSignInRequest(method, "/api/auth/signin/oidc"), String(method)).toBe(true);
    // GET /api/auth/signin/… only sends the browser to the sign-in page.
    expect(isSignInRequest("GET", "/api/auth/signin/oidc")).toBe(false);
    expect(isSignInRequest("HEAD", "/api/auth/signin/credentials")).toBe(false);
  });

  it("splits a target into the segments a router sees", () => {
    expect(pathSegments("/a/%2e%2e/b/./C%2Fd?e#f")).toEqual(["b", "c", "d"]);
    expect(pathSegments("/../../x")).toEqual(["x"]);
    expect(pathSegments("https://example.com/A//B/")).toEqual(["a", "b"]);
  });
});

describe("the gate's stamp", () => {
  const secret = "s".repeat(43);

  it("carries the address of a request the console counted", () => {
    expect(readGateStamp(secret, gateStamp(secret, "203.0.113.7"))).toBe("203.0.113.7");
    expect(readGateStamp(secret, gateStamp(secret, "::ffff:127.0.0.1"))).toBe("::ffff:127.0.0.1");
  });

  it("refuses a missing, forged or empty stamp", () => {
    expect(readGateStamp(secret, undefined)).toBeNull();
    expect(readGateStamp(secret, "")).toBeNull();
    expect(readGateStamp(secret, "203.0.113.7")).toBeNull();
    expect(readGateStamp(secret, gateStamp("t".repeat(43), "203.0.113.7"))).toBeNull();
    expect(readGateStamp(secret, gateStamp("short", "203.0.113.7"))).toBeNull();
    expect(readGateStamp(secret, `${secret} `)).toBeNull();
  });
});
