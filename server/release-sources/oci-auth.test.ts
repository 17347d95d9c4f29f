import { describe, expect, it } from "vitest";
import { parseWwwAuthenticate, readTokenResponse, TokenCache } from "./oci-auth";

describe("parseWwwAuthenticate", () => {
  it("reads a registry's bearer challenge with realm, service and scope", () => {
    expect(
      parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'),
    ).toEqual([
      {
        scheme: "bearer",
        params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/busybox:pull" },
      },
    ]);
  });

  it("keeps commas inside quoted values and reads the error of an insufficient_scope answer", () => {
    const [c] = parseWwwAuthenticate(
      'Bearer realm="http://127.0.0.1:9/token",service="reg",scope="repository:a/b:pull,push",error="insufficient_scope"',
    );
    expect(c.params.scope).toBe("repository:a/b:pull,push");
    expect(c.params.error).toBe("insufficient_scope");
  });

  it("reads several challenges in one header, case-insensitive scheme and parameter names, spaces and unquoted values", () => {
    expect(parseWwwAuthenticate('Basic realm="Registry Realm" , BEARER Realm=https://x/token, Service = reg')).toEqual([
      { scheme: "basic", params: { realm: "Registry Realm" } },
      { scheme: "bearer", params: { realm: "https://x/token", service: "reg" } },
    ]);
  });

  it("unescapes quoted-pairs and survives garbage without looping", () => {
    expect(parseWwwAuthenticate('Bearer realm="a\\"b"')[0].params.realm).toBe('a"b');
    expect(parseWwwAuthenticate("")).toEqual([]);
    expect(parseWwwAuthenticate('"""')).toEqual([]);
    expect(parseWwwAuthenticate("Basic")).toEqual([{ scheme: "basic", params: {} }]);
  });
});

describe("readTokenResponse", () => {
  it("takes token, else access_token, and expires_in (60 s when absent) minus a margin", () => {
    expect(readTokenResponse({ token: "t", expires_in: 300 }, 1000)).toEqual({ token: "t", expiresAt: 1000 + 290_000 });
    expect(readTokenResponse({ access_token: "a" }, 0)).toEqual({ token: "a", expiresAt: 50_000 });
    expect(readTokenResponse({ token: "", access_token: "a", expires_in: 8 }, 0)).toEqual({ token: "a", expiresAt: 6_000 });
    expect(readTokenResponse({ expires_in: 60 }, 0)).toBeNull();
    expect(readTokenResponse("token", 0)).toBeNull();
  });
});

describe("TokenCache", () => {
  it("answers until the expiry, separates credentials and scopes, and stays bounded", () => {
    const cache = new TokenCache(2);
    const alice = TokenCache.key("https://r/token", "reg", "repository:a:pull", { username: "alice", password: "1" });
    const alice2 = TokenCache.key("https://r/token", "reg", "repository:a:pull", { username: "alice", password: "2" });
    expect(alice).not.toBe(alice2);
    expect(alice).not.toContain('"1"');
    cache.set(alice, "t1", 100);
    expect(cache.get(alice, 99)).toBe("t1");
    expect(cache.get(alice2, 99)).toBeNull();
    expect(cache.get(alice, 100)).toBeNull();
    cache.set("a", "1", 1e9);
    cache.set("b", "2", 1e9);
    cache.set("c", "3", 1e9);
    expect(cache.get("a", 0)).toBeNull();
    expect(cache.get("c", 0)).toBe("3");
  });
});
