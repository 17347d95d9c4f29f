import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { clientAddressOf, parseTrustedProxies } from "./client-address";

function request(peer: string, forwardedFor?: string | string[]): IncomingMessage {
  return { socket: { remoteAddress: peer }, headers: forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor } } as unknown as IncomingMessage;
}

describe("client addresses behind trusted proxies", () => {
  const trusted = parseTrustedProxies("10.0.0.0/8, 192.168.1.10 fd00::/8");

  it("believes X-Forwarded-For only from a trusted peer", () => {
    expect(clientAddressOf(request("203.0.113.9", "198.51.100.1"), trusted)).toBe("203.0.113.9");
    expect(clientAddressOf(request("10.1.2.3", "198.51.100.1"), trusted)).toBe("198.51.100.1");
    expect(clientAddressOf(request("::ffff:192.168.1.10", "198.51.100.1"), trusted)).toBe("198.51.100.1");
    expect(clientAddressOf(request("fd00::1", "2001:db8::7"), trusted)).toBe("2001:db8::7");
  });

  it("takes the rightmost hop that is not a trusted proxy (what the client wrote itself is left of it)", () => {
    expect(clientAddressOf(request("10.0.0.1", "6.6.6.6, 198.51.100.1, 10.0.0.2"), trusted)).toBe("198.51.100.1");
    expect(clientAddressOf(request("10.0.0.1", ["6.6.6.6", "198.51.100.1"]), trusted)).toBe("198.51.100.1");
    // Only trusted hops: the leftmost of them.
    expect(clientAddressOf(request("10.0.0.1", "10.0.0.3, 10.0.0.2"), trusted)).toBe("10.0.0.3");
    // A hop that is no address: the proxy that reported it.
    expect(clientAddressOf(request("10.0.0.1", "198.51.100.1, garbage, 10.0.0.2"), trusted)).toBe("10.0.0.2");
    // No header from a trusted peer: the peer.
    expect(clientAddressOf(request("10.0.0.1"), trusted)).toBe("10.0.0.1");
  });

  it("trusts nobody by default", () => {
    const none = parseTrustedProxies("");
    expect(clientAddressOf(request("10.0.0.1", "198.51.100.1"), none)).toBe("10.0.0.1");
    expect(clientAddressOf(request("127.0.0.1", "198.51.100.1"), parseTrustedProxies(undefined))).toBe("127.0.0.1");
  });

  it("refuses a list entry that is no address or block, naming it", () => {
    expect(() => parseTrustedProxies("10.0.0.0/8, lb.example")).toThrow(/"lb\.example"/);
    expect(() => parseTrustedProxies("10.0.0.0/33")).toThrow(/\/33/);
    expect(() => parseTrustedProxies("fd00::/129")).toThrow(/\/129/);
  });
});
