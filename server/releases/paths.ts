// Safe update paths on a branch. An operator marks a release as a floor
// (every machine older than it boots it before anything newer) or blocks a
// path (from a release straight to another). A machine's next hop toward a
// target is computed from what it runs; the agent is only ever sent that hop.
//
// Order on a branch is the order releases were registered (by a person, or
// by a release source oldest commit first). A machine running something that
// is not a release of the branch has no known place in that order: it goes
// straight to the target (floors are about steps within one stream).

export interface PathRelease {
  checksum: string;
  version: string;
  floor: boolean;
  quarantined: boolean;
}

export interface UpdatePath {
  /** The branch's releases, oldest first. */
  releases: PathRelease[];
  /** Blocked direct paths, as `from checksum → to checksum`. */
  blocked: { from: string; to: string }[];
}

export type Route =
  /** Straight to the target, or down to an older release (floors never apply to going back). */
  | { kind: "direct" }
  /** Through floors or around blocked paths: `hops` ends with the target. */
  | { kind: "hops"; hops: PathRelease[] }
  /** No allowed way from what the machine runs to the target: it is sent nothing. */
  | { kind: "dead_end"; reason: string };

const memo = new WeakMap<UpdatePath, Map<string, Route>>();

/**
 * How a machine running `from` reaches `to`: the fewest hops, each as far as
 * allowed (no hop passes over a floor, none is a blocked path or lands on a
 * braked release), or none at all.
 */
export function routeOf(path: UpdatePath, from: string | null, to: string): Route {
  let known = memo.get(path);
  if (!known) memo.set(path, (known = new Map()));
  const key = `${from ?? ""}>${to}`;
  const hit = known.get(key);
  if (hit) return hit;
  const route = computeRoute(path, from, to);
  known.set(key, route);
  return route;
}

function computeRoute(path: UpdatePath, from: string | null, to: string): Route {
  const index = new Map(path.releases.map((r, i) => [r.checksum, i]));
  const start = from === null ? undefined : index.get(from);
  const end = index.get(to);
  if (start === undefined || end === undefined || start >= end) return { kind: "direct" };
  const blocked = new Set(path.blocked.map((b) => `${b.from}>${b.to}`));
  const { releases } = path;
  const edge = (i: number, j: number) => {
    if (blocked.has(`${releases[i]!.checksum}>${releases[j]!.checksum}`)) return false;
    if (j !== end && releases[j]!.quarantined) return false;
    for (let k = i + 1; k < j; k++) if (releases[k]!.floor) return false;
    return true;
  };
  if (edge(start, end)) return { kind: "direct" };
  // Fewest hops by breadth-first search from the target backwards; among
  // equally short routes, the first hop goes as far as it can.
  const hopsLeft = new Map<number, number>([[end, 0]]);
  let frontier = [end];
  while (frontier.length > 0 && !hopsLeft.has(start)) {
    const next: number[] = [];
    for (const j of frontier) {
      for (let i = start; i < j; i++) {
        if (!hopsLeft.has(i) && edge(i, j)) {
          hopsLeft.set(i, hopsLeft.get(j)! + 1);
          next.push(i);
        }
      }
    }
    frontier = next;
  }
  if (!hopsLeft.has(start)) {
    const floor = releases.slice(start + 1, end).find((r) => r.floor && r.quarantined);
    return {
      kind: "dead_end",
      reason: floor
        ? `floor ${floor.version} is stopped by the emergency brake`
        : `no allowed path from ${releases[start]!.version} to ${releases[end]!.version}`,
    };
  }
  const hops: PathRelease[] = [];
  for (let at = start; at !== end; ) {
    const need = hopsLeft.get(at)! - 1;
    let step = -1;
    for (let j = end; j > at; j--) {
      if (hopsLeft.get(j) === need && edge(at, j)) {
        step = j;
        break;
      }
    }
    hops.push(releases[step]!);
    at = step;
  }
  return { kind: "hops", hops };
}

/** How many boots a machine on `from` needs to reach `to` (0: already there or no way). */
export function hopCount(path: UpdatePath, from: string | null, to: string): number {
  if (from === to) return 0;
  const route = routeOf(path, from, to);
  return route.kind === "hops" ? route.hops.length : route.kind === "direct" ? 1 : 0;
}
