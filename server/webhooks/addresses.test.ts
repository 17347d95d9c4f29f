import { describe, expect, it } from "vitest";
import { forbiddenAddress, resolveTarget } from "./addresses";

describe("webhook target addresses", () => {
  it("refuses loopback, private, link-local, CGNAT, ULA and the IPv4 they hide in IPv6", () => {
    for (const [address, why] of [
      ["127.0.0.1", "loopback"],
      ["127.255.0.9", "loopback"],
      ["10.1.2.3", "private"],
      ["172.16.0.1", "private"],
      ["172.31.255.255", "private"],
      ["192.168.1.10", "private"],
      ["169.254.169.254", "link-local"],
      ["100.64.0.1", "carrier-grade NAT"],
      ["0.0.0.0", "unspecified"],
      ["::1", "loopback"],
      ["::", "unspecified"],
      ["fd00::1", "unique local"],
      ["fe80::1", "link-local"],
      ["::ffff:127.0.0.1", "loopback"],
      ["::ffff:7f00:1", "loopback"],
      ["::ffff:a9fe:a9fe", "link-local"],
      ["64:ff9b::10.0.0.1", "private"],
    ] as const) {
      expect(forbiddenAddress(address), address).toMatch(why);
    }
  });

  it("lets public addresses through", () => {
    for (const address of ["93.184.216.34", "172.32.0.1", "100.128.0.1", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:8.8.8.8"]) {
      expect(forbiddenAddress(address), address).toBeNull();
    }
  });

  it("names the field, the address and the setting when it refuses a URL", async () => {
    await expect(resolveTarget(new URL("http://127.0.0.1:9/hook"), false)).rejects.toThrow(
      /^url: 127\.0\.0\.1, a loopback address: .*ORCHARD_WEBHOOKS_ALLOW_PRIVATE=1/,
    );
    await expect(resolveTarget(new URL("http://[::1]/hook"), false)).rejects.toMatchObject({ field: "url" });
    await expect(resolveTarget(new URL("http://localhost/hook"), false)).rejects.toThrow(/localhost resolves to .*loopback/);
    expect(await resolveTarget(new URL("http://127.0.0.1:9/hook"), true)).toEqual({ address: "127.0.0.1", family: 4 });
  });
});
