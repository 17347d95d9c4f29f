"use client";
// One machine's timeline from `machines.timeline`: its reported state
// changes, its agent's events, its rollout steps and the operator actions on
// it, newest first, with its check-ins summarised above. A page at a time:
// "Show older" appends the next, older page. Polls like the rest of the page:
// React Query refetches every loaded page in turn, each from the cursor of the
// page above as it is now, so the list stays whole (nothing lost or twice) and
// keeps as many pages as were loaded. The source filter lives in the URL.
import { keepPreviousData, useInfiniteQuery } from "@tanstack/react-query";
import Link from "next/link";
import { type ReactNode, useMemo } from "react";
import type { RouterOutputs } from "@/components/router-types";
import { DateTime, HealthBadge, RelativeTime, StateBadge, StepBadge, UpdateStateBadge } from "@/components/status";
import { plural } from "@/components/step-bar";
import { useTRPC } from "@/components/trpc";
import { useUrlState } from "@/components/url-state";
import type { EventType } from "@/server/protocol/v1";

type Timeline = RouterOutputs["machines"]["timeline"];
type Item = Timeline["items"][number];

const SOURCES = [
  { value: "state", label: "State changes", badge: "State", tone: "info" },
  { value: "event", label: "Agent events", badge: "Agent", tone: "neutral" },
  { value: "rollout", label: "Rollout steps", badge: "Rollout", tone: "warn" },
  { value: "operator", label: "Operator actions", badge: "Operator", tone: "good" },
] as const;

const EVENT_LABEL: Record<EventType, string> = {
  "update.started": "Update started",
  "update.downloaded": "Update downloaded",
  "update.staged": "Update staged",
  "reboot.started": "Reboot started",
  "boot.verified": "Boot verified",
  "health.failed": "Health check failed",
  "rollback.performed": "Rolled back",
  "update.failed": "Update failed",
  "agent.started": "Agent started",
  "update.cancelled": "Update cancelled",
  "app.installed": "App installed",
  "app.updated": "App updated",
  "app.failed": "App update failed",
  "app.rolled-back": "App rolled back",
  "app.removed": "App removed",
};

const LIMIT = 100;

function Change({ before, after, render }: { before: string | null; after: string | null; render: (v: string) => ReactNode }) {
  return (
    <span className="tl-change">
      {before ? render(before) : <span className="muted">none</span>}
      <span aria-label="changed to"> → </span>
      {after ? render(after) : <span className="muted">none</span>}
    </span>
  );
}

function json(value: unknown) {
  if (value === null || value === undefined) return null;
  return JSON.stringify(value).replace(/,"/g, ', "').replace(/":/g, '": ');
}

function Describe({ item }: { item: Item }) {
  switch (item.source) {
    case "state":
      if (item.kind === "update")
        return (
          <>
            <span className="tl-title">Update state</span>{" "}
            <Change before={item.before} after={item.after} render={(v) => <UpdateStateBadge state={v} />} />
            {item.detail && <pre className="tl-detail">{item.detail}</pre>}
          </>
        );
      if (item.kind === "health")
        return (
          <>
            <span className="tl-title">Health</span>{" "}
            <Change before={item.before} after={item.after} render={(v) => <HealthBadge status={v} />} />
            {item.detail && <span className="tl-note">{item.detail}</span>}
          </>
        );
      return (
        <>
          <span className="tl-title">Booted deployment</span>{" "}
          <Change before={item.before} after={item.after} render={(v) => <code>{v}</code>} />
          {item.detail && <span className="tl-note">{item.detail}</span>}
        </>
      );
    case "event":
      return (
        <>
          <span className={`tl-title event event-${item.kind.replace(".", "_")}`}>{(EVENT_LABEL as Record<string, string>)[item.kind] ?? item.kind}</span>{" "}
          <code className="muted small">{item.kind}</code>
          {item.checksum && (
            <code className="muted small" title={item.checksum}>
              {" "}
              {item.checksum.slice(0, 12)}
            </code>
          )}
          {item.detail && <span className="tl-note">{item.detail}</span>}
          {Math.abs(new Date(item.agentTime).getTime() - new Date(item.at).getTime()) > 60_000 && (
            <span className="tl-note muted small">
              Agent clock: <DateTime value={item.agentTime} relative={false} />
            </span>
          )}
        </>
      );
    case "rollout":
      return (
        <>
          <span className="tl-title">
            {item.kind === "assigned" ? "Assigned to " : "Finished "}
            <Link href={`/rollouts/${encodeURIComponent(item.rolloutId)}`}>the rollout of {item.release}</Link>, wave {item.wave}
          </span>{" "}
          {item.kind !== "assigned" && <StepBadge step={item.kind} />}
          {item.detail && <span className="tl-note">{item.detail}</span>}
        </>
      );
    case "operator": {
      const before = json(item.before);
      const after = json(item.after);
      return (
        <>
          <span className="tl-title">
            <code>{item.kind}</code> by {item.actor}
          </span>
          {item.reason && (
            <span className="tl-note">
              <span className="muted">Reason:</span> {item.reason}
            </span>
          )}
          {(before || after) && (
            <span className="tl-note">
              <code>{before ?? "—"}</code> → <code>{after ?? "—"}</code>
            </span>
          )}
        </>
      );
    }
  }
}

export function MachineTimeline({ machineId }: { machineId: string }) {
  const trpc = useTRPC();
  const url = useUrlState();
  const source = url.get("timeline");
  const timeline = useInfiniteQuery(
    trpc.machines.timeline.infiniteQueryOptions(
      { machineId, limit: LIMIT },
      { getNextPageParam: (page) => page.nextCursor, placeholderData: keepPreviousData, refetchInterval: 5000 },
    ),
  );
  const pages = timeline.data?.pages;
  const data = pages?.[0];
  const loaded = useMemo(() => {
    if (!pages) return undefined;
    // The server's cursor makes pages disjoint; an entry that moved while pages were read is shown once.
    const seen = new Set<string>();
    return pages
      .flatMap((p) => p.items)
      .filter((i) => {
        if (seen.has(i.key)) return false;
        seen.add(i.key);
        return true;
      });
  }, [pages]);
  const items = loaded?.filter((i) => !source || i.source === source);
  const more = timeline.hasNextPage;
  const fetchingOlder = timeline.isFetchingNextPage;
  const showOlder = () => {
    // aria-disabled rather than disabled while loading, so that the button keeps the keyboard focus.
    if (!fetchingOlder) void timeline.fetchNextPage();
  };

  return (
    <section aria-labelledby="timeline-title" className="timeline-section">
      <div className="card-header">
        <h2 id="timeline-title">Timeline</h2>
        <label className="inline-label">
          Show
          <select value={source ?? ""} onChange={(e) => url.set({ timeline: e.target.value || undefined })}>
            <option value="">Everything</option>
            {SOURCES.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      <p className="muted section-note" aria-live="polite">
        {data ? (
          <>
            {plural(data.checkins.count, "check-in")} since it enrolled <RelativeTime value={data.checkins.enrolledAt} />
            , the last <RelativeTime value={data.checkins.lastSeenAt} />. Unchanged check-ins are counted here, not listed.
            {more ? " Newest first; older entries below." : " Newest first."}
          </>
        ) : "\u00a0"}
      </p>
      <div className="card timeline-card">
        {timeline.error && !data ? (
          <p role="alert" className="error-text">
            Could not load the timeline: {timeline.error.message}
          </p>
        ) : !items ? (
          <div className="timeline-placeholder">
            <span className="skeleton" />
            <span className="skeleton" />
            <span className="skeleton" />
          </div>
        ) : items.length === 0 ? (
          <p className="muted">
            {source ? (more ? "Nothing of this kind among the entries loaded." : "Nothing of this kind yet.") : "Nothing has happened to this machine yet."}
          </p>
        ) : (
          // Scrolls on its own: a focusable region, so that the keyboard can scroll it too.
          <div className="timeline-scroll" role="region" aria-label="Timeline entries" tabIndex={0}>
            <ol className="timeline" aria-label="Timeline, newest first">
              {items.map((item) => {
                const s = SOURCES.find((x) => x.value === item.source)!;
                return (
                  <li key={item.key} className={`tl-item tl-${item.source}`}>
                    <span className="tl-time">
                      <DateTime value={item.at} stacked />
                    </span>
                    <span className="tl-source">
                      <StateBadge tone={s.tone}>{s.badge}</StateBadge>
                    </span>
                    <span className="tl-body">
                      <Describe item={item} />
                    </span>
                  </li>
                );
              })}
            </ol>
          </div>
        )}
        {loaded && (more || loaded.length > 0) && (
          <div className="pager timeline-more">
            <span className="muted small" aria-live="polite">
              {timeline.isFetchNextPageError ? (
                <span role="alert" className="error-text">
                  Could not load older entries: {timeline.error?.message}
                </span>
              ) : (
                `${plural(loaded.length, "entry", "entries")} loaded`
              )}
            </span>
            {more ? (
              <button type="button" onClick={showOlder} aria-disabled={fetchingOlder} aria-busy={fetchingOlder}>
                {fetchingOlder ? "Loading older entries…" : "Show older"}
              </button>
            ) : (
              <span className="muted">Beginning of the timeline</span>
            )}
          </div>
        )}
      </div>
    </section>
  );
}
