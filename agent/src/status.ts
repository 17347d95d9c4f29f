// `orchard-agent status`: the agent's state on disk, for people and scripts.
// The machine token never leaves the state file.
import { reportedState } from "./plan.ts";
import type { AgentState } from "./store.ts";

function named(d: { checksum: string; version: string | null } | null | undefined) {
  if (!d) return "none";
  return d.version ? `${d.version} (${d.checksum.slice(0, 12)})` : d.checksum.slice(0, 12);
}

export function statusJson(state: AgentState) {
  const { token: _token, queue, ...rest } = state;
  return { ...rest, queuedEvents: queue.length };
}

export function formatStatus(state: AgentState): string {
  const u = state.update;
  const last = state.lastCheckin;
  const labels = Object.entries(state.labels).map(([k, v]) => `${k}=${v}`);
  const update = [
    reportedState(u.phase),
    u.target ? named(u.target) : null,
    u.progress !== null ? `${Math.round(u.progress * 100)} %` : null,
  ]
    .filter(Boolean)
    .join(" ");
  const rows: [string, string][] = [
    ["machine", `${state.machineId} (${state.backend} backend), host name ${state.hostname}`],
    ["console", state.server],
    ["labels", labels.length > 0 ? labels.join(" ") : "none"],
    ["booted", last ? `${named(last.booted)} (at the last check-in)` : "unknown: no check-in yet"],
    ["last check-in", last ? `${last.at}: action ${last.action}, desired ${named(last.desired)}` : "never"],
    ["update", update],
    ...(u.error ? [["error", u.error] as [string, string]] : []),
    ["seq", String(state.seq)],
    ["queued events", String(state.queue.length)],
    ["denied", state.denylist.length > 0 ? state.denylist.map((c) => c.slice(0, 12)).join(" ") : "none"],
    ["reboot slot", state.holdsRebootLock ? "held" : "not held"],
    ...appRows(state),
  ];
  return rows.map(([key, value]) => `${key.padEnd(14)}${value}`).join("\n");
}

/** v1.2: one row per app the agent manages or was asked for, with its last change. */
function appRows(state: AgentState): [string, string][] {
  const { consoleSentApps, managed, apps } = state.apps;
  if (!consoleSentApps) return [["apps", "not managed by the console"]];
  const refs = [...new Set([...managed, ...Object.keys(apps)])];
  if (refs.length === 0) return [["apps", "none"]];
  return refs.map((ref) => {
    const a = apps[ref];
    const change = a ? `${a.state}${a.targetCommit ? ` ${a.targetCommit.slice(0, 12)}` : ""}${a.error ? `: ${a.error.split("\n")[0]}` : ""}` : "";
    return ["app", `${ref}${managed.includes(ref) ? "" : " (not managed)"} ${change}`.trim()];
  });
}
