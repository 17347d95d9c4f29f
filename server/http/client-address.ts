// The client's address of a request: the peer's, or, when the peer is one of
// the configured trusted proxies (ORCHARD_TRUSTED_PROXIES, none by default),
// the address that proxy reports in X-Forwarded-For. Behind a load balancer
// every request comes from the balancer: without this, the per-address
// limits (agents, REST API, sign-in) would count the whole fleet as one
// client. Only trusted peers are believed, and of the X-Forwarded-For list
// only the hops they appended: the rightmost address that is not a trusted
// proxy is the client (what is left of it, the client wrote itself).
import type { IncomingMessage } from "node:http";
import net from "node:net";

/** A list of trusted proxies: addresses and CIDR blocks, IPv4 and IPv6. */
export interface TrustedProxies {
  has(address: string): boolean;
  /** As configured, for messages. */
  readonly spec: string[];
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) is 10.0.0.1. */
export function plainAddress(address: string): string {
  const a = address.trim();
  return a.toLowerCase().startsWith("::ffff:") && net.isIPv4(a.slice(7)) ? a.slice(7) : a;
}

/**
 * Parses a comma- or space-separated list of addresses and CIDR blocks
 * (`10.0.0.0/8, 192.168.1.10, fd00::/8`); throws naming the first bad entry.
 */
export function parseTrustedProxies(spec: string | undefined): TrustedProxies {
  const entries = (spec ?? "").split(/[\s,]+/).filter(Boolean);
  const list = new net.BlockList();
  for (const entry of entries) {
    const [address, prefix, ...rest] = entry.split("/");
    const family = net.isIP(address);
    if (family === 0 || rest.length > 0) throw new Error(`"${entry}" is not an IP address or CIDR block`);
    const type = family === 4 ? "ipv4" : "ipv6";
    if (prefix === undefined) {
      list.addAddress(address, type);
      continue;
    }
    const bits = Number(prefix);
    if (!/^\d+$/.test(prefix) || bits > (family === 4 ? 32 : 128)) throw new Error(`"${entry}": bad prefix length /${prefix}`);
    list.addSubnet(address, bits, type);
  }
  return {
    spec: entries,
    has(address: string) {
      const a = plainAddress(address);
      const family = net.isIP(a);
      if (family === 0 || entries.length === 0) return false;
      return list.check(a, family === 4 ? "ipv4" : "ipv6");
    },
  };
}

/** The client's address as `trusted` proxies report it (see the file's head). */
export function clientAddressOf(req: IncomingMessage, trusted: TrustedProxies): string {
  const peer = plainAddress(req.socket.remoteAddress ?? "unknown");
  if (!trusted.has(peer)) return peer;
  const header = req.headers["x-forwarded-for"];
  const hops = (Array.isArray(header) ? header.join(",") : (header ?? ""))
    .split(",")
    .map((h) => plainAddress(h))
    .filter(Boolean);
  let client = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i];
    // A hop that is no address was not written by a proxy we trust: the one that reported it is as far as we know.
    if (net.isIP(hop) === 0) break;
    client = hop;
    if (!trusted.has(hop)) break;
  }
  return client;
}

const addresses = new WeakMap<IncomingMessage, string>();

/** Records the request's client address (the server does this first thing for every request). */
export function setClientAddress(req: IncomingMessage, address: string) {
  addresses.set(req, address);
}

/** The request's client address: as recorded by the server, else its peer's. */
export function clientAddress(req: IncomingMessage): string {
  return addresses.get(req) ?? plainAddress(req.socket.remoteAddress ?? "unknown");
}
