import { describe, expect, it } from "vitest";
import { bearerToken, generateToken, hashesEqual, hashToken, tokenKind } from "./tokens";

describe("tokens", () => {
  it("generates distinct, typed tokens and keeps only their hash", () => {
    const a = generateToken("machine");
    const b = generateToken("machine");
    expect(a.token).not.toBe(b.token);
    expect(a.token).toMatch(/^orch_m_[A-Za-z0-9_-]{32}$/);
    expect(a.hash).toBe(hashToken(a.token));
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.prefix).toBe(a.token.slice(0, 11));
    expect(tokenKind(generateToken("enrollment").token)).toBe("enrollment");
    expect(tokenKind("something")).toBeNull();
  });

  it("compares hashes in constant time and refuses malformed ones", () => {
    const h = hashToken("x");
    expect(hashesEqual(h, hashToken("x"))).toBe(true);
    expect(hashesEqual(h, hashToken("y"))).toBe(false);
    expect(hashesEqual(h, "")).toBe(false);
    expect(hashesEqual("", "")).toBe(false);
  });

  it("reads bearer tokens", () => {
    expect(bearerToken("Bearer orch_m_abc")).toBe("orch_m_abc");
    expect(bearerToken("bearer   orch_m_abc ")).toBe("orch_m_abc");
    expect(bearerToken("Basic abc")).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
    expect(bearerToken(`Bearer ${"a".repeat(300)}`)).toBeNull();
  });
});
