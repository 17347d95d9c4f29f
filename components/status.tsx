"use client";
// Colour for state, always with text beside it: the same meaning on every page.
import { useEffect, useState } from "react";

/** The current time, refreshed every few seconds so that "2 min ago" stays true. */
function useNow(everyMs = 5000) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

const HEALTH_LABEL: Record<string, string> = {
  healthy: "Healthy",
  degraded: "Degraded",
  unhealthy: "Unhealthy",
  unknown: "Unknown",
};

const UPDATE_LABEL: Record<string, string> = {
  idle: "Idle",
  downloading: "Downloading",
  staged: "Staged",
  rebooting: "Rebooting",
  verifying: "Verifying",
  succeeded: "Succeeded",
  failed: "Failed",
  rolled_back: "Rolled back",
  "rolled-back": "Rolled back",
};

export const healthOptions = Object.entries(HEALTH_LABEL).map(([value, label]) => ({ value, label }));
export const updateStateOptions = Object.entries(UPDATE_LABEL)
  .filter(([value]) => value !== "rolled-back")
  .map(([value, label]) => ({ value, label }));

export function HealthBadge({ status }: { status: string }) {
  return (
    <span className={`badge health-${status}`}>
      <span className="dot" aria-hidden="true" />
      {HEALTH_LABEL[status] ?? status}
    </span>
  );
}

export function UpdateStateBadge({ state, progress }: { state: string; progress?: number | null }) {
  const key = state.replace("-", "_");
  return (
    <span className={`badge update-${key}`}>
      <span className="dot" aria-hidden="true" />
      {UPDATE_LABEL[key] ?? state}
      {progress != null && key === "downloading" ? ` ${Math.round(progress * 100)} %` : ""}
    </span>
  );
}

export function OnlineBadge({ online }: { online: boolean }) {
  return (
    <span className={`badge ${online ? "online" : "offline"}`}>
      <span className="dot" aria-hidden="true" />
      {online ? "Online" : "Offline"}
    </span>
  );
}

export function Checksum({ value }: { value: string | null | undefined }) {
  if (!value) return <span className="muted">—</span>;
  return (
    <code className="checksum" title={value}>
      {value.slice(0, 12)}
    </code>
  );
}

export function RelativeTime({ value }: { value: Date | string | null | undefined }) {
  const now = useNow();
  if (!value) return <span className="muted">never</span>;
  const date = typeof value === "string" ? new Date(value) : value;
  const seconds = Math.round((now - date.getTime()) / 1000);
  let text: string;
  if (Math.abs(seconds) < 5) text = "just now";
  else if (seconds < 60) text = `${seconds} s ago`;
  else if (seconds < 3600) text = `${Math.floor(seconds / 60)} min ago`;
  else if (seconds < 86_400) text = `${Math.floor(seconds / 3600)} h ago`;
  else text = `${Math.floor(seconds / 86_400)} d ago`;
  return (
    <time dateTime={date.toISOString()} title={date.toLocaleString()}>
      {text}
    </time>
  );
}
