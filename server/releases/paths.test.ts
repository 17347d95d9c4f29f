import { describe, expect, it } from "vitest";
import { hopCount, type PathRelease, routeOf, type UpdatePath } from "./paths";

const rel = (version: string, more: Partial<PathRelease> = {}): PathRelease => ({
  checksum: version.replaceAll(".", "").padStart(64, "0"),
  version,
  floor: false,
  quarantined: false,
  ...more,
});

const c = (version: string) => rel(version).checksum;
const versions = (path: UpdatePath, from: string | null, to: string) => {
  const route = routeOf(path, from, to);
  return route.kind === "hops" ? route.hops.map((h) => h.version) : route.kind;
};

describe("routeOf", () => {
  const plain: UpdatePath = { releases: [rel("1.0"), rel("1.1"), rel("1.2"), rel("1.3")], blocked: [] };

  it("goes straight to the target without floors or blocked paths", () => {
    expect(versions(plain, c("1.0"), c("1.3"))).toBe("direct");
  });

  it("goes straight back to an older release, floors or not", () => {
    const floors: UpdatePath = { ...plain, releases: plain.releases.map((r) => ({ ...r, floor: true })) };
    expect(versions(floors, c("1.3"), c("1.0"))).toBe("direct");
  });

  it("sends a machine two floors behind through both floors in order", () => {
    const path: UpdatePath = {
      releases: [rel("1.0"), rel("1.1", { floor: true }), rel("1.2"), rel("1.3", { floor: true }), rel("1.4")],
      blocked: [],
    };
    expect(versions(path, c("1.0"), c("1.4"))).toEqual(["1.1", "1.3", "1.4"]);
    expect(versions(path, c("1.1"), c("1.4"))).toEqual(["1.3", "1.4"]);
    expect(versions(path, c("1.2"), c("1.4"))).toEqual(["1.3", "1.4"]);
    expect(versions(path, c("1.3"), c("1.4"))).toBe("direct");
    expect(hopCount(path, c("1.0"), c("1.4"))).toBe(3);
    expect(hopCount(path, c("1.3"), c("1.4"))).toBe(1);
    expect(hopCount(path, c("1.4"), c("1.4"))).toBe(0);
  });

  it("goes to a floor that is itself the target in one hop", () => {
    const path: UpdatePath = { releases: [rel("1.0"), rel("1.1", { floor: true })], blocked: [] };
    expect(versions(path, c("1.0"), c("1.1"))).toBe("direct");
  });

  it("goes around a blocked path as far as allowed", () => {
    const path: UpdatePath = { ...plain, blocked: [{ from: c("1.0"), to: c("1.3") }] };
    expect(versions(path, c("1.0"), c("1.3"))).toEqual(["1.2", "1.3"]);
    expect(versions(path, c("1.1"), c("1.3"))).toBe("direct");
  });

  it("is a dead end when every way is blocked", () => {
    const path: UpdatePath = {
      releases: [rel("1.0"), rel("1.1")],
      blocked: [{ from: c("1.0"), to: c("1.1") }],
    };
    expect(routeOf(path, c("1.0"), c("1.1"))).toEqual({ kind: "dead_end", reason: "no allowed path from 1.0 to 1.1" });
    expect(hopCount(path, c("1.0"), c("1.1"))).toBe(0);
  });

  it("never hops onto a braked release, and a braked floor is a dead end", () => {
    const around: UpdatePath = {
      releases: [rel("1.0"), rel("1.1", { quarantined: true }), rel("1.2")],
      blocked: [{ from: c("1.0"), to: c("1.2") }],
    };
    expect(routeOf(around, c("1.0"), c("1.2")).kind).toBe("dead_end");
    const floor: UpdatePath = { releases: [rel("1.0"), rel("1.1", { floor: true, quarantined: true }), rel("1.2")], blocked: [] };
    expect(routeOf(floor, c("1.0"), c("1.2"))).toEqual({ kind: "dead_end", reason: "floor 1.1 is stopped by the emergency brake" });
  });

  it("sends a machine whose deployment is not a release of the branch straight to the target", () => {
    const path: UpdatePath = { releases: [rel("1.0"), rel("1.1", { floor: true }), rel("1.2")], blocked: [] };
    expect(versions(path, "f".repeat(64), c("1.2"))).toBe("direct");
    expect(versions(path, null, c("1.2"))).toBe("direct");
  });

  it("takes the fewest hops, the first as far as it can", () => {
    // 1.0 → 1.3 blocked and 1.0 → 1.2 blocked: 1.0 → 1.1 → 1.3 (two hops), not 1.1 → 1.2 → 1.3.
    const path: UpdatePath = {
      ...plain,
      blocked: [
        { from: c("1.0"), to: c("1.3") },
        { from: c("1.0"), to: c("1.2") },
      ],
    };
    expect(versions(path, c("1.0"), c("1.3"))).toEqual(["1.1", "1.3"]);
  });
});
