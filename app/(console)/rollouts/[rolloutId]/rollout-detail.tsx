"use client";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { useState } from "react";
import { Fact } from "@/components/fact";
import { DataTable } from "@/components/data-table";
import { formatSeconds } from "@/components/format";
import { ErrorNotice, PageState, SuccessNotice } from "@/components/notice";
import type { RouterInputs, RouterOutputs } from "@/components/router-types";
import {
  Checksum,
  DateTime,
  HealthBadge,
  pausedByLabel,
  QuarantinedBadge,
  RelativeTime,
  RingPhaseBadge,
  RolloutStateBadge,
  StateBadge,
  StepBadge,
  stepOptions,
} from "@/components/status";
import { plural, StepBar, StepLegend } from "@/components/step-bar";
import { useTRPC } from "@/components/trpc";
import { useUrlState } from "@/components/url-state";
import { useMe } from "@/components/use-me";
import { foreignUpdaterWords, isActiveRollout, isAppRef } from "@/server/vocabulary";
import { HealthComparison } from "./health-comparison";
import { percentText, ringPhaseFor, soakText, TextWithTimes, wavePlanText } from "../rollout-parts";
import { type PendingAction, type Rollout, RolloutActionDialog } from "./rollout-actions";

type Ring = Rollout["rings"][number];
type MachineRow = RouterOutputs["rollouts"]["machines"]["rows"][number];
type Step = RouterInputs["rollouts"]["machines"]["step"];

const PAGE_SIZE = 50;

function selectorText(value: unknown) {
  const selector = (value ?? {}) as { machineIds?: string[]; labels?: Record<string, string> };
  const ids = selector.machineIds ?? [];
  const labels = Object.entries(selector.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  const parts = [...ids, ...labels];
  return parts.length ? parts.join(", ") : null;
}

function BannerIcon({ kind }: { kind: "pause" | "stop" | "back" | "end" }) {
  return (
    <svg className="banner-icon" width="22" height="22" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      {kind === "pause" && (
        <>
          <circle cx="12" cy="12" r="11" fill="currentColor" opacity="0.15" />
          <rect x="7.5" y="6.5" width="3" height="11" rx="1" fill="currentColor" />
          <rect x="13.5" y="6.5" width="3" height="11" rx="1" fill="currentColor" />
        </>
      )}
      {kind === "stop" && (
        <>
          <path d="M8 1.5h8L22.5 8v8L16 22.5H8L1.5 16V8z" fill="currentColor" />
          <rect x="6" y="10.5" width="12" height="3" rx="1" fill="#fff" />
        </>
      )}
      {kind === "back" && (
        <path d="M9 5 3.5 10.5 9 16M4 10.5h10a6 6 0 0 1 0 12h-3" fill="none" stroke="currentColor" strokeWidth="2.4" strokeLinecap="round" strokeLinejoin="round" />
      )}
      {kind === "end" && <rect x="5" y="5" width="14" height="14" rx="2" fill="currentColor" />}
    </svg>
  );
}

/** The banner that says why a rollout stopped, and who stopped it. */
function StopBanner({ rollout }: { rollout: Rollout }) {
  if (!rollout.pauseReason || rollout.state === "running" || rollout.state === "completed" || rollout.state === "awaiting_approval") {
    return null;
  }
  if (rollout.state === "paused") {
    const by = rollout.pausedBy ?? "operator";
    return (
      <div className={`pause-banner ${by}`} role="status">
        <BannerIcon kind={by === "operator" ? "pause" : "stop"} />
        <div>
          <strong className="banner-title">
            {by === "brake" ? "Stopped by the emergency brake" : `Paused by ${pausedByLabel(by)}`}
          </strong>
          <p>
            <TextWithTimes text={rollout.pauseReason} />
          </p>
          {rollout.release.quarantinedAt && (
            <p>
              The release is quarantined, so the rollout cannot resume until the quarantine is lifted (Releases page): revert
              it to send its machines back, or abort it to end it where it stands.
            </p>
          )}
        </div>
      </div>
    );
  }
  return (
    <div className={`pause-banner ${rollout.state === "reverted" ? "reverted" : "ended"}`} role="status">
      <BannerIcon kind={rollout.state === "reverted" ? "back" : "end"} />
      <div>
        <strong className="banner-title">{rollout.state === "reverted" ? "Reverted" : "Aborted"}</strong>
        <p>
          <TextWithTimes text={rollout.pauseReason} />
        </p>
      </div>
    </div>
  );
}

function RingCard({
  ring,
  rollout,
  canRevert,
  onRevert,
}: {
  ring: Ring;
  rollout: Rollout;
  canRevert: boolean;
  onRevert: () => void;
}) {
  const active = isActiveRollout(rollout.state);
  const forced = selectorText(ring.forceFirst);
  const excluded = selectorText(ring.exclude);
  return (
    <section className={`card ring-card phase-card-${ring.phase}`} aria-labelledby={`ring-${ring.ring.name}`}>
      <div className="ring-card-head">
        <h3 id={`ring-${ring.ring.name}`}>
          <span className="order">{ring.position + 1}</span> {ring.ring.name}{" "}
          <RingPhaseBadge phase={ringPhaseFor(ring.phase, rollout.state)} />
        </h3>
        <dl className="facts">
          <Fact label="Machines">{ring.machines.toLocaleString()} eligible</Fact>
          <Fact label="Waves">{wavePlanText(ring.singleFirst, ring.percents as number[])}</Fact>
          <Fact label="Soak">{soakText(ring.soakSeconds)}</Fact>
          <Fact label="Gate">
            over {percentText(ring.maxFailureRate)} failures pauses, after {plural(ring.minSample, "finished machine")}
          </Fact>
          <Fact label="Dark after">{formatSeconds(ring.darkAfterSeconds)}</Fact>
          {ring.approvalRequired && (
            <Fact label="Approval">
              {ring.approvedAt ? (
                <>
                  by {ring.approvedBy} <RelativeTime value={ring.approvedAt} />
                </>
              ) : (
                "needed before it starts"
              )}
            </Fact>
          )}
          {forced && <Fact label="First">{forced}</Fact>}
          {excluded && <Fact label="Left out">{excluded}</Fact>}
          {ring.startedAt && (
            <Fact label="Started">
              <RelativeTime value={ring.startedAt} />
            </Fact>
          )}
          {ring.completedAt && (
            <Fact label="Completed">
              <RelativeTime value={ring.completedAt} />
            </Fact>
          )}
        </dl>
        {canRevert && (
          <div className="ring-actions">
            <button type="button" className="danger-outline" onClick={onRevert}>
              Revert this ring…
            </button>
          </div>
        )}
      </div>
      <div>
        {ring.phase === "reverted" && (
          <p className="muted small reverted-note">
            Reverted: the machines it had updated were sent back to their previous deployment. The steps below are where
            they stood at the revert.
          </p>
        )}
        <ol className="waves" aria-label={`Waves of ring ${ring.ring.name}`}>
          {ring.waves.map((wave) => {
            return (
              <li key={wave.number} className={`wave-row ${wave.open ? "open" : "closed"}`}>
                <span className="wave-name">
                  <strong>
                    Wave {wave.number}
                    {wave.current ? " · now" : ""}
                  </strong>
                  <span className="muted">
                    {wave.label === "1 machine" ? "single first machine" : `up to ${wave.label}`}
                  </span>
                  {wave.startingUntil && (
                    <span className="muted">
                      starting its machines a few a second until <TextWithTimes text={new Date(wave.startingUntil).toISOString()} />
                    </span>
                  )}
                  {wave.startingHeld && <span className="muted">starting no more machines until fewer are at work</span>}
                </span>
                {wave.open ? (
                  <StepBar steps={wave.steps} label={`Ring ${ring.ring.name}, wave ${wave.number}`} />
                ) : (
                  <div className="stepbar-block">
                    <div className="stepbar" role="img" aria-label={`Ring ${ring.ring.name}, wave ${wave.number}: not open yet`} />
                    <p className="stepbar-legend">
                      {ring.phase === "reverted" || !active ? "never opened" : "not open yet"}
                    </p>
                  </div>
                )}
              </li>
            );
          })}
          <li className="wave-row ring-total">
            <span className="wave-name">
              <strong>Ring total</strong>
              <span className="muted">{plural(ring.total, "machine")}</span>
            </span>
            <StepBar steps={ring.steps} total={ring.total} label={`Ring ${ring.ring.name}, all waves`} />
          </li>
        </ol>
      </div>
    </section>
  );
}

export function RolloutDetail({ rolloutId }: { rolloutId: string }) {
  const trpc = useTRPC();
  const url = useUrlState();
  const { can, canOnFleet } = useMe();
  const [action, setAction] = useState<PendingAction | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const ringFilter = url.get("ring");
  const stepFilter = url.get("step") as Step;
  const page = Math.max(0, Number.parseInt(url.get("page") ?? "0", 10) || 0);

  const query = useQuery({
    ...trpc.rollouts.get.queryOptions({ rolloutId }),
    refetchInterval: 3000,
    retry: (count, error) => error.data?.code !== "NOT_FOUND" && count < 1,
  });
  const machines = useQuery({
    ...trpc.rollouts.machines.queryOptions({ rolloutId, ring: ringFilter, step: stepFilter, page, pageSize: PAGE_SIZE }),
    placeholderData: keepPreviousData,
    refetchInterval: 4000,
    enabled: query.isSuccess,
  });

  if (query.isPending) {
    return (
      <div aria-busy="true">
        <nav className="breadcrumb" aria-label="Breadcrumb">
          <Link href="/rollouts">Rollouts</Link> / <span>{rolloutId}</span>
        </nav>
        <div className="card">
          <span className="skeleton" />
          <span className="skeleton" />
        </div>
      </div>
    );
  }
  if (!query.data) {
    if (query.error?.data?.code === "NOT_FOUND") {
      return (
        <PageState title="Rollout not found">
          <p>
            No rollout has the id <code>{rolloutId}</code>. <Link href="/rollouts">See every rollout.</Link>
          </p>
        </PageState>
      );
    }
    return (
      <PageState title="Could not load this rollout" tone="error">
        <p>{query.error?.message ?? "Unknown error."}</p>
      </PageState>
    );
  }

  const r = query.data;
  const operator = can("operator");
  const active = isActiveRollout(r.state);
  const allSteps = r.progress.steps;
  const touched = r.rings.some((ring) => ring.phase !== "pending");
  const awaiting = r.rings.find((ring) => ring.phase === "awaiting_approval");
  const waveLabel = (ring: string | undefined, wave: number) =>
    r.rings.find((x) => x.ring.name === ring)?.waves.find((w) => w.number === wave)?.label ?? null;

  const columns: ColumnDef<MachineRow, unknown>[] = [
    {
      id: "machine",
      header: "Machine",
      cell: ({ row }) => (
        <span className="stacked">
          <Link href={`/machines/${encodeURIComponent(row.original.machine.machineId)}`} className="strong">
            {row.original.machine.hostname}
          </Link>
          {row.original.machine.machineId !== row.original.machine.hostname && (
            <code className="muted small">{row.original.machine.machineId}</code>
          )}
          {foreignUpdaterWords(row.original.machine.backend) && <StateBadge tone="info">{foreignUpdaterWords(row.original.machine.backend)!.kind}</StateBadge>}
        </span>
      ),
    },
    { id: "ring", header: "Ring", cell: ({ row }) => row.original.machine.ring?.name ?? <span className="muted">none</span> },
    {
      id: "wave",
      header: "Wave",
      cell: ({ row }) => {
        const label = waveLabel(row.original.machine.ring?.name, row.original.wave);
        return (
          <span className="stacked">
            <span>{row.original.wave}</span>
            {label && <span className="muted small">{label}</span>}
          </span>
        );
      },
    },
    { id: "step", header: "Step", cell: ({ row }) => <StepBadge step={row.original.step} /> },
    {
      // What the machine ran when the rollout took it → the rollout's release; what it boots now when that is neither.
      id: "versions",
      header: "Before → target",
      cell: ({ row }) => {
        const now = row.original.machine.bootedVersion;
        const before = row.original.previousVersion;
        return (
          <span className="stacked">
            <span className="nowrap">
              {before ?? <span className="muted">unknown</span>} <span className="muted">→</span> {r.release.version}
            </span>
            {now !== r.release.version && (
              <span className="muted small">
                {machines.data?.appRollout ? `runs ${now ?? "no release of the app"} now` : `boots ${now ?? "an unknown version"} now`}
              </span>
            )}
          </span>
        );
      },
    },
    { id: "health", header: machines.data?.appRollout ? "App health" : "Health", cell: ({ row }) => <HealthBadge status={row.original.machine.healthStatus} /> },
    {
      id: "times",
      header: "Assigned · done",
      cell: ({ row }) => (
        <span className="stacked small">
          <RelativeTime value={row.original.assignedAt} />
          {row.original.finishedAt ? <RelativeTime value={row.original.finishedAt} /> : <span className="muted">not finished</span>}
        </span>
      ),
    },
    {
      id: "detail",
      header: "Failure detail",
      cell: ({ row }) =>
        row.original.detail ? (
          <details className="output">
            <summary>
              <span className="output-summary">{row.original.detail.split("\n", 1)[0]}</span>
            </summary>
            <pre>{row.original.detail}</pre>
          </details>
        ) : (
          <span className="muted">—</span>
        ),
    },
  ];

  return (
    <>
      <nav className="breadcrumb" aria-label="Breadcrumb">
        <Link href="/rollouts">Rollouts</Link> / <span aria-current="page">{r.release.version}</span>
      </nav>
      <div className="page-header detail-header">
        <div className="title-block">
          <h1>Rollout of {r.release.version}</h1>
          <p className="muted nowrap">
            <code>{r.release.branch.ref}</code> <Checksum value={r.release.checksum} copyable />
          </p>
        </div>
        <div className="badges" aria-label="Status">
          <RolloutStateBadge state={r.state} />
          {r.release.quarantinedAt && <QuarantinedBadge since={r.release.quarantinedAt} />}
        </div>
        {operator && (
          <div className="actions">
            {r.actions.pause.allowed && (
              <button type="button" onClick={() => setAction({ kind: "pause" })}>
                Pause…
              </button>
            )}
            {r.state === "paused" && (
              <button
                type="button"
                className="primary"
                disabled={!r.actions.resume.allowed}
                title={r.actions.resume.why ?? undefined}
                onClick={() => setAction({ kind: "resume" })}
              >
                Resume…
              </button>
            )}
            {r.actions.approve.allowed && (
              <button type="button" className="primary" onClick={() => setAction({ kind: "approve" })}>
                Approve {awaiting?.ring.name}…
              </button>
            )}
            {r.actions.abort.allowed && (
              <button type="button" className="danger-outline" onClick={() => setAction({ kind: "abort" })}>
                Abort…
              </button>
            )}
            {r.actions.revert.allowed && (
              <button type="button" className="danger-outline" onClick={() => setAction({ kind: "revert" })}>
                Revert…
              </button>
            )}
            {touched && !r.readOnly && (
              <Link
                className="button-link"
                href={`/rollouts/new?rings=${encodeURIComponent(r.rings.map((ring) => ring.ring.name).join(","))}&downgrade=1`}
                title="Deploy an older, known-good release to these rings as a new deployment (a new rollout that allows the downgrade)"
              >
                Roll forward to a known-good release…
              </Link>
            )}
          </div>
        )}
      </div>
      {operator && r.readOnly ? (
        <p className="notice info read-only-note" data-testid="read-only">
          <strong>Read-only for you:</strong> {r.readOnly}. Acting on a rollout (pause, resume, approve, abort, revert)
          needs every one of its rings.
        </p>
      ) : (
        operator &&
        r.state === "paused" &&
        !r.actions.resume.allowed &&
        r.actions.resume.why && <p className="muted small">Resume is not possible: {r.actions.resume.why}.</p>
      )}

      {query.error && <ErrorNotice title="Could not refresh:" error={`${query.error.message}. Showing what was last loaded.`} />}
      {result && <SuccessNotice onDismiss={() => setResult(null)}>{result}</SuccessNotice>}
      <StopBanner rollout={r} />
      {r.waitingFor && active && r.state !== "paused" && (
        <p className={`waiting-line ${r.state === "awaiting_approval" ? "approval" : ""}`} role="status">
          <strong>{r.state === "awaiting_approval" ? "Waiting for" : "Now"}:</strong>{" "}
          <span>
            <TextWithTimes text={r.waitingFor} />
          </span>
        </p>
      )}

      <section className="card summary-card" aria-labelledby="summary-title">
        <div>
          <h2 id="summary-title">Rollout</h2>
          <dl className="facts">
            <Fact label="Created by">{r.createdBy}</Fact>
            <Fact label="Started">
              <DateTime value={r.startedAt ?? r.createdAt} />
            </Fact>
            {r.finishedAt && (
              <Fact label="Finished">
                <DateTime value={r.finishedAt} />
              </Fact>
            )}
            <Fact label="Rings">{r.rings.map((ring) => ring.ring.name).join(" → ")}</Fact>
            {r.allowDowngrade && <Fact label="Downgrade">allowed (roll forward to an older release)</Fact>}
            {/* The audit log spans the whole fleet: not for a user limited to some rings. */}
            {canOnFleet("viewer") && (
              <Fact label="History">
                <Link href={`/audit?target=rollout&targetId=${encodeURIComponent(r.id)}`}>Audit log of this rollout</Link>
              </Fact>
            )}
          </dl>
        </div>
        <div className="overall">
          <h2>All rings</h2>
          <StepBar steps={allSteps} total={r.progress.total} label="Whole rollout" />
          {active && <p className="muted small">Updates every few seconds as the machines report.</p>}
        </div>
      </section>

      <h2>Rings</h2>
      <StepLegend />
      <div className="ring-cards">
        {r.rings.map((ring) => (
          <RingCard
            key={ring.ring.name}
            ring={ring}
            rollout={r}
            canRevert={operator && r.actions.revertRing[ring.ring.name]?.allowed === true}
            onRevert={() => setAction({ kind: "revert", ring: ring.ring.name })}
          />
        ))}
      </div>

      <HealthComparison rolloutId={r.id} live={active} app={isAppRef(r.release.branch.ref)} />

      <h2 id="machines-title">Machines</h2>
      <form className="filters" role="search" aria-labelledby="machines-title" onSubmit={(e) => e.preventDefault()}>
        <label>
          Ring
          <select value={ringFilter ?? ""} onChange={(e) => url.set({ ring: e.target.value, page: undefined })}>
            <option value="">All rings</option>
            {r.rings.map((ring) => (
              <option key={ring.ring.name} value={ring.ring.name}>
                {ring.ring.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Step
          <select value={stepFilter ?? ""} onChange={(e) => url.set({ step: e.target.value, page: undefined })}>
            <option value="">Any step</option>
            {stepOptions.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label} ({allSteps[o.value as keyof typeof allSteps] ?? 0})
              </option>
            ))}
          </select>
        </label>
      </form>
      <DataTable
        caption="Machines of this rollout"
        columns={columns}
        rows={machines.data?.rows}
        rowKey={(m) => m.machine.machineId}
        loading={machines.isFetching}
        error={machines.error?.message}
        empty={
          ringFilter || stepFilter
            ? "No machine of this rollout matches. Clear the filters."
            : "No machine has been assigned yet: the first wave has not opened."
        }
        paging={{
          page,
          pageSize: PAGE_SIZE,
          total: machines.data?.total ?? 0,
          onPage: (p) => url.set({ page: p || undefined }),
        }}
      />

      {operator && (
        <RolloutActionDialog
          rollout={r}
          action={action}
          onClose={() => setAction(null)}
          onDone={(message) => {
            setAction(null);
            setResult(message);
          }}
        />
      )}
    </>
  );
}
