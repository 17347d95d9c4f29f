// Where a webhook may go. A subscription's URL is an admin's input that the
// console will POST to from inside its own network: it must not reach the
// console's loopback, the private networks around it, link-local addresses
// (cloud metadata at 169.254.169.254) or the carrier-grade NAT range. The
// host is resolved and every address checked when the subscription is saved,
// and again at each delivery, which then connects to exactly the address it
// checked (no second lookup that DNS rebinding could answer differently).
// ORCHARD_WEBHOOKS_ALLOW_PRIVATE=1 lifts the rule (tests, a lab network).
import dns from "node:dns";
import net from "node:net";
import { invalid } from "../errors";

/** Address ranges no webhook may reach, with the words an admin reads. */
const RANGES: { cidr: string; what: string }[] = [
  { cidr: "0.0.0.0/8", what: "an unspecified address" },
  { cidr: "10.0.0.0/8", what: "a private address" },
  { cidr: "100.64.0.0/10", what: "a shared (carrier-grade NAT) address" },
  { cidr: "127.0.0.0/8", what: "a loopback address" },
  { cidr: "169.254.0.0/16", what: "a link-local address" },
  { cidr: "172.16.0.0/12", what: "a private address" },
  { cidr: "192.0.0.0/24", what: "an IETF protocol address" },
  { cidr: "192.0.2.0/24", what: "a documentation address" },
  { cidr: "192.168.0.0/16", what: "a private address" },
  { cidr: "198.18.0.0/15", what: "a benchmarking address" },
  { cidr: "198.51.100.0/24", what: "a documentation address" },
  { cidr: "203.0.113.0/24", what: "a documentation address" },
  { cidr: "224.0.0.0/4", what: "a multicast address" },
  { cidr: "240.0.0.0/4", what: "a reserved address" },
  { cidr: "::/128", what: "an unspecified address" },
  { cidr: "::1/128", what: "a loopback address" },
  { cidr: "fc00::/7", what: "a unique local (private) address" },
  { cidr: "fe80::/10", what: "a link-local address" },
  { cidr: "ff00::/8", what: "a multicast address" },
  { cidr: "2001:db8::/32", what: "a documentation address" },
];

const lists = RANGES.map(({ cidr, what }) => {
  const [address, bits] = cidr.split("/");
  const list = new net.BlockList();
  list.addSubnet(address, Number(bits), net.isIPv6(address) ? "ipv6" : "ipv4");
  return { list, what, family: net.isIPv6(address) ? "ipv6" : "ipv4" };
});

/** IPv6 prefixes that carry an IPv4 address in their last 32 bits: mapped (`::ffff:0:0/96`) and NAT64 (`64:ff9b::/96`). */
const CARRIES_IPV4 = new net.BlockList();
CARRIES_IPV4.addSubnet("::ffff:0:0", 96, "ipv6");
CARRIES_IPV4.addSubnet("64:ff9b::", 96, "ipv6");

/** The IPv4 address an IPv6 address carries, if any: such an address reaches that IPv4 host. */
function embeddedIPv4(address: string): string | null {
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (dotted) return dotted[1];
  if (!CARRIES_IPV4.check(address, "ipv6")) return null;
  const [head, tail = ""] = address.toLowerCase().split("::");
  const a = head ? head.split(":") : [];
  const b = tail ? tail.split(":") : [];
  const groups = address.includes("::") ? [...a, ...Array<string>(8 - a.length - b.length).fill("0"), ...b] : a;
  const high = parseInt(groups[6], 16);
  const low = parseInt(groups[7], 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/** Why an address may not be a webhook's target ("a loopback address"), or null when it may. */
export function forbiddenAddress(address: string): string | null {
  const family = net.isIPv6(address) ? "ipv6" : net.isIPv4(address) ? "ipv4" : null;
  if (!family) return "not an IP address";
  const v4 = family === "ipv6" ? embeddedIPv4(address) : null;
  if (v4) return forbiddenAddress(v4);
  for (const range of lists) if (range.family === family && range.list.check(address, family)) return range.what;
  return null;
}

export interface ResolvedTarget {
  address: string;
  family: 4 | 6;
}

/**
 * Resolves the URL's host and checks every address it has; returns the one
 * to connect to. Throws INVALID on `field` naming the address and why.
 */
export async function resolveTarget(url: URL, allowPrivate: boolean, field = "url"): Promise<ResolvedTarget> {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  let addresses: dns.LookupAddress[];
  if (net.isIP(host)) {
    addresses = [{ address: host, family: net.isIPv6(host) ? 6 : 4 }];
  } else {
    try {
      addresses = await dns.promises.lookup(host, { all: true, verbatim: true });
    } catch (error) {
      throw invalid(field, `the host ${host} does not resolve (${(error as NodeJS.ErrnoException).code ?? "lookup failed"})`);
    }
  }
  if (addresses.length === 0) throw invalid(field, `the host ${host} has no address`);
  if (!allowPrivate) {
    for (const { address } of addresses) {
      const why = forbiddenAddress(address);
      if (why) {
        throw invalid(
          field,
          `${host === address ? address : `${host} resolves to ${address}`}, ${why}: webhooks to such addresses are refused unless the console runs with ORCHARD_WEBHOOKS_ALLOW_PRIVATE=1`,
        );
      }
    }
  }
  const chosen = addresses[0];
  return { address: chosen.address, family: chosen.family === 6 ? 6 : 4 };
}
