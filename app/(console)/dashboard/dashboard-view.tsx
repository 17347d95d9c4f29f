"use client";
// The fleet at a glance: is it healthy, how are the rollouts going, which
// machines need a look. Polls every 5 s; the previous answer stays on screen
// while the next one loads, and every block keeps its height.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import type { ReactNode } from "react";
import type { RouterOutputs } from "@/components/router-types";
import {
  HealthBadge,
  OnlineBadge,
  RelativeTime,
  RolloutStateBadge,
  UpdateStateBadge,
  updateStateOptions,
} from "@/components/status";
import { plural, StepBar } from "@/components/step-bar";
import { useTRPC } from "@/components/trpc";
import { useUrlState } from "@/components/url-state";
import { RingSteps, TextWithTimes } from "../rollouts/rollout-parts";
import { NOT_REPORTED, sortVersions, VersionHistoryChart, VersionsByRingChart, versionColours } from "./version-charts";

type Summary = RouterOutputs["dashboard"]["summary"];
type Rollout = Summary["activeRollouts"][number];
type AttentionRow = Summary["attention"]["dark"][number];

const POLL_MS = 5000;
const HISTORY_RANGES = [
  { hours: 6, label: "6 hours" },
  { hours: 24, label: "24 hours" },
  { hours: 24 * 7, label: "7 days" },
  { hours: 24 * 30, label: "30 days" },
];

export function DashboardView() {
  const trpc = useTRPC();
  const url = useUrlState();
  const hoursParam = Number(url.get("hours"));
  const hours = HISTORY_RANGES.some((r) => r.hours === hoursParam) ? hoursParam : 24;

  const summary = useQuery({
    ...trpc.dashboard.summary.queryOptions(),
    placeholderData: keepPreviousData,
    refetchInterval: POLL_MS,
  });
  const history = useQuery({
    ...trpc.dashboard.versionHistory.queryOptions({ hours }),
    placeholderData: keepPreviousData,
    refetchInterval: 30_000,
  });
  const data = summary.data;
  const colours = versionColours(
    sortVersions([
      ...(data?.versionsByRing.flatMap((r) => Object.keys(r.versions)) ?? []),
      ...(history.data?.versions.map((v) => v ?? NOT_REPORTED) ?? []),
    ]),
  );

  return (
    <>
      <div className="page-header">
        <h1>Dashboard</h1>
        <p className="muted" aria-live="polite">
          {data ? (
            <>
              {plural(data.total, "machine")} · updated <RelativeTime value={data.serverTime} />
            </>
          ) : "\u00a0"}
        </p>
      </div>
      {summary.error && (
        <div role="alert" className="notice error">
          <strong>The dashboard could not be refreshed.</strong> {summary.error.message}
          {data ? " The figures below are from the last successful refresh." : ""}
        </div>
      )}

      {/* The rows are the same before the data arrives (counts pending), so nothing moves when it does. */}
      <div className="grid dash-cards">
        <CountCard title="Health" loading={!data}>
          {(["healthy", "degraded", "unhealthy", "unknown"] as const).map((h) => (
            <CountRow
              key={h}
              label={<HealthBadge status={h} />}
              n={data ? (data.byHealth[h] ?? 0) : null}
              total={data?.total ?? 0}
              href={`/machines?health=${h}`}
              what={h[0].toUpperCase() + h.slice(1)}
            />
          ))}
        </CountCard>
        <CountCard title="Update state" loading={!data}>
          {updateStateOptions.map((o) => (
            <CountRow
              key={o.value}
              label={<UpdateStateBadge state={o.value} />}
              n={data ? (data.byUpdateState[o.value] ?? 0) : null}
              total={data?.total ?? 0}
              href={`/machines?update=${o.value}`}
              what={o.label}
            />
          ))}
        </CountCard>
        <CountCard title="Check-ins" loading={!data} note={`Offline: silent for more than three check-in intervals of its ring.${livenessAge(data)}`}>
          <CountRow label={<OnlineBadge online />} n={data?.online ?? null} total={data?.total ?? 0} what="Online" />
          <CountRow label={<OnlineBadge online={false} />} n={data?.offline ?? null} total={data?.total ?? 0} what="Offline" />
        </CountCard>
      </div>

      <div className="grid dash-charts">
        <section className="card" aria-labelledby="versions-by-ring">
          <h2 id="versions-by-ring">Versions per ring</h2>
          <p className="muted section-note">Booted version of every machine, by ring.</p>
          {!data ? (
            <div className="chart chart-placeholder">
              <span className="skeleton" />
            </div>
          ) : data.versionsByRing.length === 0 ? (
            <p className="chart chart-empty muted">No machines yet.</p>
          ) : (
            <>
              <VersionsByRingChart rings={data.versionsByRing} colours={colours} />
              <RingVersionTable rings={data.versionsByRing} />
            </>
          )}
        </section>
        <section className="card" aria-labelledby="versions-over-time">
          <div className="card-header">
            <h2 id="versions-over-time">Versions over time</h2>
            <label className="inline-label">
              Range
              <select value={hours} onChange={(e) => url.set({ hours: Number(e.target.value) === 24 ? undefined : e.target.value })}>
                {HISTORY_RANGES.map((r) => (
                  <option key={r.hours} value={r.hours}>
                    last {r.label}
                  </option>
                ))}
              </select>
            </label>
          </div>
          <p className="muted section-note">Machines per booted version, from the console&apos;s periodic snapshots.</p>
          {history.error && !history.data ? (
            <p className="chart chart-empty error-text" role="alert">
              {history.error.message}
            </p>
          ) : !history.data ? (
            <div className="chart chart-placeholder">
              <span className="skeleton" />
            </div>
          ) : history.data.points.length < 2 ? (
            <p className="chart chart-empty muted">
              {history.data.points.length === 0
                ? "No snapshot in this range yet. The console records which versions run where every few minutes."
                : "One snapshot so far; the chart appears with the next one."}
            </p>
          ) : (
            <VersionHistoryChart history={history.data} colours={colours} />
          )}
        </section>
      </div>

      <section className="card dash-section" aria-labelledby="active-rollouts">
        <div className="card-header">
          <h2 id="active-rollouts">Active rollouts</h2>
          <Link href="/rollouts">All rollouts</Link>
        </div>
        {!data ? (
          <div className="rollout-placeholder">
            <span className="skeleton" />
          </div>
        ) : data.activeRollouts.length === 0 ? (
          <p className="muted">No rollout under way.</p>
        ) : (
          <ul className="active-rollouts">
            {data.activeRollouts.map((r) => (
              <ActiveRollout key={r.id} rollout={r} />
            ))}
          </ul>
        )}
      </section>

      <section className="card dash-section" aria-labelledby="needs-attention">
        <h2 id="needs-attention">Needs attention</h2>
        {!data ? (
          <div className="rollout-placeholder">
            <span className="skeleton" />
          </div>
        ) : (
          <div className="grid attention-grid">
            <AttentionList
              title="Dark"
              note="In a rollout and silent past its dark deadline."
              rows={data.attention.dark}
              count={data.attention.darkCount}
              detail={(r) => r.detail}
            />
            <AttentionList
              title="Update failed"
              note="The last update failed before it was booted; the machine runs its previous deployment."
              rows={data.attention.failed}
              count={data.byUpdateState.failed ?? 0}
              detail={(r) => r.detail}
              more="/machines?update=failed"
            />
            <AttentionList
              title="Rolled back"
              note="The last update was rolled back to the previous deployment."
              rows={data.attention.rolledBack}
              count={data.byUpdateState.rolled_back ?? 0}
              detail={(r) => r.detail}
              more="/machines?update=rolled_back"
            />
            <AttentionList
              title="Failing checks"
              note="Unhealthy: at least one health check fails."
              rows={data.attention.failing}
              count={data.byHealth.unhealthy ?? 0}
              detail={(r) => (r.detail ? `failing: ${r.detail}` : null)}
              more="/machines?health=unhealthy"
            />
            <AttentionList
              title="Stuck"
              note={`In one update step for more than ${Math.round(data.attention.stuckAfterSeconds / 60)} min.`}
              rows={data.attention.stuck}
              count={data.attention.stuckCount}
              detail={(r) => (r.detail ? `${r.detail}` : null)}
            />
          </div>
        )}
      </section>
    </>
  );
}

/** How long before the page's answer online and offline were counted (a large fleet is counted every few seconds), when a second or more. */
function livenessAge(data: { serverTime: Date; livenessAt: Date } | undefined) {
  if (!data) return "";
  const seconds = Math.floor((data.serverTime.getTime() - data.livenessAt.getTime()) / 1000);
  return seconds >= 1 ? ` Counted ${seconds} s before the rest of this page.` : "";
}

function CountCard({ title, loading, note, children }: { title: string; loading: boolean; note?: string; children: ReactNode }) {
  const id = `count-${title.toLowerCase().replace(/\W+/g, "-")}`;
  return (
    <section className="card count-card" aria-labelledby={id} aria-busy={loading || undefined}>
      <h2 id={id}>{title}</h2>
      <ul className="count-list">{children}</ul>
      {note && <p className="muted small card-note">{note}</p>}
    </section>
  );
}

function CountRow({ label, n, total, href, what }: { label: ReactNode; n: number | null; total: number; href?: string; what: string }) {
  if (n === null) {
    return (
      <li className="count-row">
        <span className="count-label">{label}</span>
        <span className="count-meter" aria-hidden="true" />
        <span className="count-n count-pending" aria-label={`${what}: loading`}>
          …
        </span>
      </li>
    );
  }
  const share = total ? (n / total) * 100 : 0;
  return (
    <li className="count-row">
      <span className="count-label">{label}</span>
      <span className="count-meter" aria-hidden="true">
        <span style={{ width: `${share}%` }} />
      </span>
      {href && n > 0 ? (
        <Link href={href} className="count-n" aria-label={`${what}: ${plural(n, "machine")}`}>
          {n.toLocaleString()}
        </Link>
      ) : (
        <span className="count-n" aria-label={`${what}: ${plural(n, "machine")}`}>
          {n.toLocaleString()}
        </span>
      )}
    </li>
  );
}

function RingVersionTable({ rings }: { rings: Summary["versionsByRing"] }) {
  return (
    <table className="mini-table">
      <caption className="sr-only">Machines per version in each ring</caption>
      <thead>
        <tr>
          <th scope="col">Ring</th>
          <th scope="col">Machines</th>
          <th scope="col">Online</th>
          <th scope="col">Versions</th>
        </tr>
      </thead>
      <tbody>
        {rings.map((r) => (
          <tr key={r.ring ?? ""}>
            <th scope="row">
              {r.ring ? <Link href={`/machines?ring=${encodeURIComponent(r.ring)}`}>{r.ring}</Link> : <span className="muted">no ring</span>}
            </th>
            <td>{r.total.toLocaleString()}</td>
            <td>{r.online.toLocaleString()}</td>
            <td>
              {sortVersions(Object.keys(r.versions))
                .map((v) => `${r.versions[v].toLocaleString()} on ${v}`)
                .join(" · ")}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ActiveRollout({ rollout }: { rollout: Rollout }) {
  return (
    <li className="active-rollout">
      <div className="active-rollout-head">
        <Link href={`/rollouts/${encodeURIComponent(rollout.id)}`} className="strong">
          {rollout.release.version}
        </Link>
        <code className="muted small">{rollout.release.branch.ref}</code>
        <RolloutStateBadge state={rollout.state} />
        <RingSteps rings={rollout.rings} rolloutState={rollout.state} />
      </div>
      <StepBar steps={rollout.progress.steps} total={rollout.progress.total} label={`Rollout of ${rollout.release.version}`} size="small" />
      {rollout.pauseReason && rollout.state !== "running" ? (
        <p className="pause-reason">
          <strong>{rollout.state === "paused" ? "Paused: " : "Stopped: "}</strong>
          <TextWithTimes text={rollout.pauseReason} />
        </p>
      ) : rollout.waitingFor ? (
        <p className="muted small">
          Waiting: <TextWithTimes text={rollout.waitingFor} />
        </p>
      ) : null}
    </li>
  );
}

function AttentionList({
  title,
  note,
  rows,
  count,
  detail,
  more,
}: {
  title: string;
  note: string;
  rows: AttentionRow[];
  /** All machines of this kind; the list shows at most 25. */
  count: number;
  detail: (row: AttentionRow) => string | null;
  more?: string;
}) {
  const id = `attention-${title.toLowerCase().replace(/\W+/g, "-")}`;
  return (
    <section className="attention" aria-labelledby={id}>
      <h3 id={id}>
        {title} <span className={`count-pill ${count ? "tone-bad" : "tone-neutral"}`}>{count.toLocaleString()}</span>
      </h3>
      <p className="muted small">{note}</p>
      {rows.length === 0 ? (
        <p className="muted">None.</p>
      ) : (
        <ul className="attention-list">
          {rows.map((r) => (
            <li key={r.machineId}>
              <Link href={`/machines/${encodeURIComponent(r.machineId)}`} className="strong">
                {r.hostname}
              </Link>{" "}
              <span className="muted small">{r.ring ?? "no ring"}</span>
              {detail(r) && <span className="attention-detail">{detail(r)}</span>}
              {r.since && (
                <span className="muted small">
                  since <RelativeTime value={r.since} />
                </span>
              )}
            </li>
          ))}
        </ul>
      )}
      {count > rows.length && (
        <p className="small">
          {more ? (
            <Link href={more}>All {count.toLocaleString()} on the machines page</Link>
          ) : (
            <span className="muted">Showing {rows.length} of {count.toLocaleString()}.</span>
          )}
        </p>
      )}
    </section>
  );
}
