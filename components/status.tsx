"use client";
// Colour for state, always with text beside it: the same meaning on every page.
import { type ReactNode, useEffect, useState } from "react";
import type { HealthStatus, MachineStep, PausedBy, RingPhase, RolloutState, SignatureState, UpdateState } from "@/server/vocabulary";
import { CopyButton } from "./copy-button";

/** The current time, refreshed every few seconds so that "2 min ago" stays true. */
export function useNow(everyMs = 5000) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

/** A pill: a coloured dot (colour from `badge <kind>` in globals.css) and its text. */
function Badge({ kind, title, children }: { kind: string; title?: string; children: ReactNode }) {
  return (
    <span className={`badge ${kind}`} title={title}>
      <span className="dot" aria-hidden="true" />
      {children}
    </span>
  );
}

const HEALTH_LABEL: Record<HealthStatus, string> = {
  healthy: "Healthy",
  degraded: "Degraded",
  unhealthy: "Unhealthy",
  unknown: "Unknown",
};

const UPDATE_LABEL: Record<UpdateState, string> = {
  idle: "Idle",
  downloading: "Downloading",
  staged: "Staged",
  rebooting: "Rebooting",
  verifying: "Verifying",
  succeeded: "Succeeded",
  failed: "Failed",
  rolled_back: "Rolled back",
};

/** A label for a value of one of the vocabularies (the value itself for one a newer server sent). */
function labelOf<K extends string>(labels: Record<K, string>, value: string): string {
  return (labels as Record<string, string>)[value] ?? value;
}

export const healthOptions = Object.entries(HEALTH_LABEL).map(([value, label]) => ({ value, label }));
export const updateStateOptions = Object.entries(UPDATE_LABEL).map(([value, label]) => ({ value, label }));

export function HealthBadge({ status }: { status: string }) {
  return (
    <Badge kind={`health-${status}`}>
      {labelOf(HEALTH_LABEL, status)}
    </Badge>
  );
}

export function UpdateStateBadge({ state, progress }: { state: string; progress?: number | null }) {
  const key = state.replace("-", "_");
  return (
    <Badge kind={`update-${key}`}>
      {labelOf(UPDATE_LABEL, key)}
      {progress != null && key === "downloading" ? ` ${Math.round(progress * 100)} %` : ""}
    </Badge>
  );
}

export function OnlineBadge({ online }: { online: boolean }) {
  return (
    <Badge kind={online ? "online" : "offline"}>
      {online ? "Online" : "Offline"}
    </Badge>
  );
}

/** A commit checksum shortened to 12 characters; the full value is on hover, and `copyable` adds a copy button. */
export function Checksum({ value, copyable = false }: { value: string | null | undefined; copyable?: boolean }) {
  if (!value) return <span className="muted">—</span>;
  const short = (
    <code className="checksum" title={value}>
      {value.slice(0, 12)}
    </code>
  );
  if (!copyable) return short;
  return (
    <span className="checksum-copy">
      {short}
      <CopyButton value={value} label="Copy checksum" compact />
    </span>
  );
}

function span(seconds: number) {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86_400)} d`;
}

export function RelativeTime({ value }: { value: Date | string | null | undefined }) {
  const now = useNow();
  if (!value) return <span className="muted">never</span>;
  const date = typeof value === "string" ? new Date(value) : value;
  const seconds = Math.round((now - date.getTime()) / 1000);
  let text: string;
  if (Math.abs(seconds) < 5) text = "just now";
  else if (seconds < 0) text = `in ${span(-seconds)}`;
  else text = `${span(seconds)} ago`;
  return (
    <time dateTime={date.toISOString()} title={date.toLocaleString()}>
      {text}
    </time>
  );
}

/** An absolute time with the relative one beside it: "25 Nov 2026, 18:01 (3 min ago)". */
export function DateTime({
  value,
  relative = true,
  stacked = false,
}: {
  value: Date | string | null | undefined;
  relative?: boolean;
  /** The relative time on its own line below, for narrow table cells. */
  stacked?: boolean;
}) {
  const now = useNow(60_000);
  if (!value) return <span className="muted">never</span>;
  const date = typeof value === "string" ? new Date(value) : value;
  const text = formatDateTime(date, new Date(now).getFullYear());
  if (stacked) {
    return (
      <span className="datetime-stacked">
        <time dateTime={date.toISOString()} title={date.toISOString()}>
          {text}
        </time>
        {relative && (
          <span className="muted small">
            <RelativeTime value={date} />
          </span>
        )}
      </span>
    );
  }
  return (
    <span className="nowrap">
      <time dateTime={date.toISOString()} title={date.toISOString()}>
        {text}
      </time>
      {relative && (
        <span className="muted">
          {" "}
          (<RelativeTime value={date} />)
        </span>
      )}
    </span>
  );
}

const dateTimeFormat = new Intl.DateTimeFormat("en-GB", {
  day: "numeric",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});
const thisYearFormat = new Intl.DateTimeFormat("en-GB", {
  day: "numeric",
  month: "short",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

/** "25 Nov 2026, 18:01:46", or "25 Nov, 18:01:46" when the date falls in `currentYear`. */
export function formatDateTime(date: Date, currentYear?: number) {
  return (date.getFullYear() === currentYear ? thisYearFormat : dateTimeFormat).format(date);
}

const CHECK_LABEL: Record<string, string> = { pass: "Pass", warn: "Warn", fail: "Fail" };

export function CheckBadge({ status }: { status: string }) {
  return (
    <Badge kind={`check-${status}`}>
      {CHECK_LABEL[status] ?? status}
    </Badge>
  );
}

/** A neutral or coloured pill with text: token and user states, roles. */
export function StateBadge({ tone, children }: { tone: "good" | "warn" | "bad" | "neutral" | "info"; children: ReactNode }) {
  return (
    <Badge kind={`tone-${tone}`}>
      {children}
    </Badge>
  );
}

/** Labels as key=value chips. */
export function LabelChips({ labels }: { labels: unknown }) {
  const entries =
    labels && typeof labels === "object" && !Array.isArray(labels)
      ? Object.entries(labels as Record<string, unknown>)
      : [];
  if (entries.length === 0) return <span className="muted">no labels</span>;
  return (
    <ul className="chips" aria-label="Labels">
      {entries.map(([key, value]) => (
        <li key={key} className="chip">
          <span className="chip-key">{key}</span>=<span>{String(value)}</span>
        </li>
      ))}
    </ul>
  );
}

// ---------------------------------------------------------------- rollouts

const ROLLOUT_STATE_LABEL: Record<RolloutState, string> = {
  draft: "Draft",
  running: "Running",
  paused: "Paused",
  awaiting_approval: "Awaiting approval",
  completed: "Completed",
  aborted: "Aborted",
  reverted: "Reverted",
};

export const rolloutStateOptions = Object.entries(ROLLOUT_STATE_LABEL)
  .filter(([value]) => value !== "draft")
  .map(([value, label]) => ({ value, label }));

export function RolloutStateBadge({ state }: { state: string }) {
  return (
    <Badge kind={`rollout-${state}`}>
      {labelOf(ROLLOUT_STATE_LABEL, state)}
    </Badge>
  );
}

const PAUSED_BY_LABEL: Record<PausedBy, string> = {
  operator: "an operator",
  gate: "the health gate",
  brake: "the emergency brake",
};

/** "the health gate", "an operator"…: who stopped a rollout. */
export function pausedByLabel(pausedBy: string | null | undefined) {
  return pausedBy ? labelOf(PAUSED_BY_LABEL, pausedBy) : null;
}

/** A ring's phase as shown: a started ring of a rollout that ended is "stopped" (rollout-parts.tsx). */
export type ShownRingPhase = RingPhase | "stopped";

const RING_PHASE_LABEL: Record<ShownRingPhase, string> = {
  pending: "Not started",
  active: "Active",
  awaiting_approval: "Awaiting approval",
  completed: "Completed",
  reverted: "Reverted",
  stopped: "Stopped",
};

export function RingPhaseBadge({ phase }: { phase: string }) {
  return (
    <Badge kind={`phase-${phase}`}>
      {labelOf(RING_PHASE_LABEL, phase)}
    </Badge>
  );
}

const STEP_LABEL: Record<MachineStep, string> = {
  pending: "Pending",
  assigned: "Assigned",
  downloading: "Downloading",
  staged: "Staged",
  held: "Held",
  rebooting: "Rebooting",
  verifying: "Verifying",
  succeeded: "Succeeded",
  failed: "Failed",
  rolled_back: "Rolled back",
  dark: "Dark",
  cancelled: "Cancelled",
};

const STEP_HINT: Partial<Record<MachineStep, string>> = {
  held: "Staged, waiting for the paused rollout to resume before it reboots",
  cancelled: "Its update was withdrawn (abort, brake, pin, move or rollback) before it rebooted into the release",
};

export const stepOptions = (Object.entries(STEP_LABEL) as [MachineStep, string][]).map(([value, label]) => ({ value, label }));

/** A machine's step in a rollout. Rolled back and dark are outcomes of their own, never "failed". */
export function StepBadge({ step }: { step: string }) {
  return (
    <Badge kind={`step-${step}`} title={(STEP_HINT as Record<string, string>)[step]}>
      {labelOf(STEP_LABEL, step)}
    </Badge>
  );
}

/** A red "Quarantined" pill for a release under the emergency brake. */
export function QuarantinedBadge({ since, reason }: { since?: Date | string | null; reason?: string | null }) {
  const date = since ? (typeof since === "string" ? new Date(since) : since) : null;
  const title = [date ? `Quarantined ${formatDateTime(date)}` : null, reason].filter(Boolean).join(": ");
  return (
    <Badge kind="quarantined" title={title || undefined}>
      Quarantined
    </Badge>
  );
}

const SIGNATURE_LABEL: Record<SignatureState, { label: string; tone: "good" | "warn" | "bad" | "neutral" }> = {
  valid: { label: "Signed", tone: "good" },
  unsigned: { label: "Unsigned", tone: "bad" },
  invalid: { label: "Wrong signature", tone: "bad" },
  not_checked: { label: "Not checked", tone: "neutral" },
};

/** A release's signature state, with the server's reason beside it when there is one. */
export function SignatureBadge({ state, reason }: { state: string; reason?: string | null }) {
  const { label, tone } = (SIGNATURE_LABEL as Record<string, { label: string; tone: "good" | "warn" | "bad" | "neutral" }>)[state] ?? { label: state, tone: "neutral" as const };
  return (
    <span className="signature-cell">
      <Badge kind={`tone-${tone}`} title={reason ?? undefined}>
        {label}
      </Badge>
      {reason && <span className="muted signature-reason">{reason}</span>}
    </span>
  );
}
