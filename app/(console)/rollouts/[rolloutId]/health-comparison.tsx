"use client";
// The rollout's A/B view from `rollouts.comparison`: per ring, the machines
// already on the new release next to those still on the old one: how many
// are unhealthy on each side, and the new side's failures and rollbacks.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import type { RouterOutputs } from "@/components/router-types";
import { StateBadge } from "@/components/status";
import { useTRPC } from "@/components/trpc";
import { percentText } from "../rollout-parts";

type Ring = RouterOutputs["rollouts"]["comparison"][number];
type Side = Ring["newRelease"];

function HealthSplit({ side }: { side: Side }) {
  if (side.machines === 0) return <span className="muted">no machines</span>;
  const parts = [
    side.healthy && `${side.healthy} healthy`,
    side.degraded && `${side.degraded} degraded`,
    side.unhealthy && `${side.unhealthy} unhealthy`,
    side.unknown && `${side.unknown} unknown`,
  ].filter(Boolean);
  return (
    <span className="stacked">
      <span>
        <strong>{percentText(side.unhealthyRate)}</strong> unhealthy
      </span>
      <span className="muted small">
        of {side.machines.toLocaleString()}: {parts.join(", ")}
      </span>
    </span>
  );
}

/** New side against old, in words: colour only ever beside the text. */
function Verdict({ ring }: { ring: Ring }) {
  if (ring.newRelease.machines === 0) return <span className="muted">no machine on the new release yet</span>;
  if (ring.oldRelease.machines === 0) return <span className="muted">every machine on the new release</span>;
  const diff = ring.newRelease.unhealthyRate - ring.oldRelease.unhealthyRate;
  if (diff > 0.005) return <StateBadge tone="bad">New release worse by {percentText(diff)}</StateBadge>;
  if (diff < -0.005) return <StateBadge tone="good">New release better by {percentText(-diff)}</StateBadge>;
  return <StateBadge tone="neutral">No difference</StateBadge>;
}

export function HealthComparison({ rolloutId, live, app }: { rolloutId: string; live: boolean; app: boolean }) {
  const trpc = useTRPC();
  const query = useQuery({
    ...trpc.rollouts.comparison.queryOptions({ rolloutId }),
    placeholderData: keepPreviousData,
    refetchInterval: live ? 5000 : 30_000,
  });
  return (
    <section aria-labelledby="comparison-title" className="comparison">
      <h2 id="comparison-title">Health: new release against old</h2>
      <p className="muted section-note">
        {app
          ? "In each ring, the app's own health on machines already running its new release next to those still on the old one (or without the app), and what the rollout's finished machines came to."
          : "In each ring, machines already booted into the new release next to those still on the old one, and what the rollout's finished machines came to."}
      </p>
      <div className="table-wrap">
        <table className="data-table" aria-busy={query.isFetching || undefined}>
          <caption className="sr-only">Health of machines on the new release against the old, per ring</caption>
          <thead>
            <tr>
              <th scope="col">Ring</th>
              <th scope="col">On the new release</th>
              <th scope="col">On the old release</th>
              <th scope="col">Comparison</th>
              <th scope="col">Rollout failures</th>
              <th scope="col">Rollbacks</th>
            </tr>
          </thead>
          <tbody>
            {query.error && !query.data ? (
              <tr>
                <td colSpan={6} className="table-message error-text" role="alert">
                  {query.error.message}
                </td>
              </tr>
            ) : !query.data ? (
              <tr className="skeleton-row">
                <td colSpan={6}>
                  <span className="skeleton" />
                </td>
              </tr>
            ) : query.data.length === 0 ? (
              <tr>
                <td colSpan={6} className="table-message muted">
                  This rollout has no rings.
                </td>
              </tr>
            ) : (
              query.data.map((ring) => (
                <tr key={ring.ring}>
                  <th scope="row">{ring.ring}</th>
                  <td>
                    <HealthSplit side={ring.newRelease} />
                  </td>
                  <td>
                    <HealthSplit side={ring.oldRelease} />
                  </td>
                  <td>
                    <Verdict ring={ring} />
                  </td>
                  <td>
                    {ring.rollout.finished === 0 ? (
                      <span className="muted">none finished</span>
                    ) : (
                      <span className="stacked">
                        <strong>{percentText(ring.rollout.failureRate)}</strong>
                        <span className="muted small">
                          {ring.rollout.failed} failed, {ring.rollout.dark} dark of {ring.rollout.finished} finished
                        </span>
                      </span>
                    )}
                  </td>
                  <td>
                    {ring.rollout.finished === 0 ? (
                      <span className="muted">none finished</span>
                    ) : (
                      <span className="stacked">
                        <strong>{percentText(ring.rollout.rollbackRate)}</strong>
                        <span className="muted small">
                          {ring.rollout.rolledBack} rolled back of {ring.rollout.finished}
                        </span>
                      </span>
                    )}
                  </td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
    </section>
  );
}
