"use client";
import { useQuery } from "@tanstack/react-query";
import { MachineApps } from "./machine-apps";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { useState } from "react";
import { Fact } from "@/components/fact";
import { DataTable } from "@/components/data-table";
import { CopyButton } from "@/components/copy-button";
import { ErrorNotice, PageState, SuccessNotice } from "@/components/notice";
import type { RouterOutputs } from "@/components/router-types";
import {
  CheckBadge,
  Checksum,
  DateTime,
  HealthBadge,
  LabelChips,
  OnlineBadge,
  QuarantinedBadge,
  RelativeTime,
  RolloutStateBadge,
  StateBadge,
  StepBadge,
  UpdateStateBadge,
} from "@/components/status";
import { useTRPC } from "@/components/trpc";
import { useMe } from "@/components/use-me";
import type { Deployment, HealthCheck } from "@/server/protocol/v1";
import { BACKEND_LABELS, foreignUpdaterWords, holdsOwnCredentials, reportsHealth } from "@/server/vocabulary";
import {
  MoveDialog,
  PinDialog,
  ReenrollDialog,
  RetireDialog,
  RollbackDialog,
  TargetTokenDialog,
  rollbackOf,
  UnpinDialog,
} from "./machine-actions";
import { LabelsDialog } from "./labels-dialog";
import { MachineTimeline } from "./machine-timeline";

type Machine = RouterOutputs["machines"]["get"];
type TokenRow = Machine["tokens"][number];
type RolloutRow = Machine["rollouts"][number];
type DeploymentRow = Deployment & { position: number };
type CheckRow = HealthCheck & { position: number };


/** The reported deployments, in boot order (stored as JSON: read defensively). */
function deploymentsOf(machine: Machine): DeploymentRow[] {
  if (!Array.isArray(machine.deployments)) return [];
  return (machine.deployments as unknown as Deployment[]).map((d, position) => ({ ...d, position }));
}

function checksOf(machine: Machine): CheckRow[] {
  if (!Array.isArray(machine.healthChecks)) return [];
  return (machine.healthChecks as unknown as HealthCheck[]).map((c, position) => ({ ...c, position }));
}

/** The console's answer to the machine, as the server words it (the same answer its agent gets). */
function Desired({ machine }: { machine: Machine }) {
  const answer = machine.answer;
  return (
    <>
      <span className="badges">
        <StateBadge tone={answer.tone}>{answer.title}</StateBadge>
        {answer.desired && answer.action !== "none" && (
          <span className="muted small">
            {answer.action === "rollback" ? "rollback to" : "update to"} <Checksum value={answer.desired.checksum} copyable />
          </span>
        )}
      </span>
      <p>{answer.detail}</p>
      {answer.rolloutId && (
        <p className="muted small">
          <Link href={`/rollouts/${encodeURIComponent(answer.rolloutId)}`}>The rollout it comes from</Link>
        </p>
      )}
    </>
  );
}

const rolloutColumns: ColumnDef<RolloutRow, unknown>[] = [
  {
    id: "release",
    header: "Rollout",
    cell: ({ row }) => (
      <Link href={`/rollouts/${encodeURIComponent(row.original.rollout.id)}`} className="strong">
        {row.original.rollout.release.version}
      </Link>
    ),
  },
  { id: "state", header: "Rollout state", cell: ({ row }) => <RolloutStateBadge state={row.original.rollout.state} /> },
  { id: "wave", header: "Wave", cell: ({ row }) => row.original.wave },
  { id: "step", header: "Step", cell: ({ row }) => <StepBadge step={row.original.step} /> },
  { id: "previous", header: "Previous version", cell: ({ row }) => row.original.previousVersion ?? <span className="muted">unknown</span> },
  { id: "assignedAt", header: "Assigned", cell: ({ row }) => <DateTime value={row.original.assignedAt} stacked /> },
  {
    id: "detail",
    header: "Detail",
    cell: ({ row }) => (row.original.detail ? <span className="detail-text">{row.original.detail}</span> : <span className="muted">—</span>),
  },
];

const deploymentColumns: ColumnDef<DeploymentRow, unknown>[] = [
  { id: "position", header: "#", cell: ({ row }) => row.original.position + 1 },
  {
    // ostree's A/B: the first deployment boots next, the second is what a rollback returns to.
    id: "role",
    header: "Role",
    cell: ({ row }) =>
      row.original.position === 0 ? (
        <StateBadge tone="info">Default</StateBadge>
      ) : row.original.position === 1 ? (
        <StateBadge tone="neutral">Rollback</StateBadge>
      ) : (
        <span className="muted">—</span>
      ),
  },
  {
    id: "booted",
    header: "Booted",
    cell: ({ row }) =>
      row.original.booted ? <StateBadge tone="good">Booted</StateBadge> : <span className="muted">—</span>,
  },
  { id: "version", header: "Version", cell: ({ row }) => row.original.version ?? <span className="muted">unknown</span> },
  { id: "checksum", header: "Checksum", cell: ({ row }) => <Checksum value={row.original.checksum} copyable /> },
  { id: "ref", header: "Ref", cell: ({ row }) => <code>{row.original.ref}</code> },
  {
    id: "staged",
    header: "Staged",
    cell: ({ row }) => (row.original.staged ? <StateBadge tone="info">Staged</StateBadge> : <span className="muted">no</span>),
  },
  {
    id: "pinned",
    header: "Pinned",
    cell: ({ row }) => (row.original.pinned ? <StateBadge tone="neutral">Pinned</StateBadge> : <span className="muted">no</span>),
  },
];

const checkColumns: ColumnDef<CheckRow, unknown>[] = [
  { id: "name", header: "Check", cell: ({ row }) => <code>{row.original.name}</code> },
  { id: "status", header: "Result", cell: ({ row }) => <CheckBadge status={row.original.status} /> },
  {
    id: "output",
    header: "Output",
    cell: ({ row }) =>
      row.original.output ? (
        <details className="output">
          <summary>
            <span className="output-summary">{row.original.output.split("\n", 1)[0]}</span>
          </summary>
          <pre>{row.original.output}</pre>
        </details>
      ) : (
        <span className="muted">no output</span>
      ),
  },
];

const tokenColumns: ColumnDef<TokenRow, unknown>[] = [
  { id: "prefix", header: "Prefix", cell: ({ row }) => <code>{row.original.prefix}…</code> },
  { id: "createdAt", header: "Created", cell: ({ row }) => <DateTime value={row.original.createdAt} stacked /> },
  { id: "lastUsedAt", header: "Last used", cell: ({ row }) => <RelativeTime value={row.original.lastUsedAt} /> },
  {
    id: "status",
    header: "Status",
    cell: ({ row }) =>
      row.original.revokedAt ? (
        <span className="nowrap">
          <StateBadge tone="neutral">Revoked</StateBadge> <RelativeTime value={row.original.revokedAt} />
        </span>
      ) : (
        <StateBadge tone="good">Active</StateBadge>
      ),
  },
];

export function MachineDetail({ machineId }: { machineId: string }) {
  const trpc = useTRPC();
  const { canOnFleet } = useMe();
  const [dialog, setDialog] = useState<"move" | "retire" | "pin" | "unpin" | "rollback" | "reenroll" | "labels" | "targetToken" | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const query = useQuery({
    ...trpc.machines.get.queryOptions({ machineId }),
    refetchInterval: 5000,
    retry: (count, error) => error.data?.code !== "NOT_FOUND" && count < 1,
  });

  if (query.isPending) {
    return (
      <div aria-busy="true">
        <nav className="breadcrumb" aria-label="Breadcrumb">
          <Link href="/machines">Machines</Link> / <span>{machineId}</span>
        </nav>
        <div className="page-header">
          <h1>{machineId}</h1>
        </div>
        <div className="grid">
          {[0, 1, 2].map((i) => (
            <div key={i} className="card">
              <span className="skeleton" />
              <span className="skeleton" />
              <span className="skeleton" />
            </div>
          ))}
        </div>
      </div>
    );
  }
  if (!query.data) {
    if (query.error?.data?.code === "NOT_FOUND") {
      return (
        <PageState title="Machine not found">
          <p>
            No machine has the id <code>{machineId}</code>. It may never have enrolled, or the link is mistyped.
          </p>
        </PageState>
      );
    }
    return (
      <PageState title="Could not load this machine" tone="error">
        <p>{query.error?.message ?? "Unknown error."}</p>
      </PageState>
    );
  }

  const m = query.data;
  const deployments = deploymentsOf(m);
  const checks = checksOf(m);
  const retired = m.retiredAt !== null;
  const os = [m.osId, m.osVersionId, m.osArch].filter(Boolean).join(" ");
  const hold = rollbackOf(m);
  const closeDialog = () => setDialog(null);
  const dialogDone = (text: string) => {
    setDialog(null);
    setResult(text);
  };

  return (
    <>
      <nav className="breadcrumb" aria-label="Breadcrumb">
        <Link href="/machines">Machines</Link> / <span aria-current="page">{m.hostname}</span>
      </nav>
      <div className="page-header detail-header">
        <div className="title-block">
          <h1>{m.hostname}</h1>
          <p className="muted nowrap">
            <code>{m.machineId}</code> <CopyButton value={m.machineId} label="Copy machine id" compact />
          </p>
        </div>
        <div className="badges" aria-label="Status">
          <HealthBadge status={m.healthStatus} />
          <UpdateStateBadge state={m.updateState} progress={m.updateProgress} />
          <OnlineBadge online={m.online} />
        </div>
        <div className="actions">
          {/* The audit log spans the whole fleet: not for a user limited to some rings (the timeline below is theirs). */}
          {canOnFleet("viewer") && (
            <Link className="button-link" href={`/audit?target=machine&targetId=${encodeURIComponent(m.machineId)}`}>
              Audit history
            </Link>
          )}
          {/* The server says what this caller may do to the machine now (its role, its rings, the machine's state). */}
          {m.actions.move.allowed && (
            <button type="button" onClick={() => setDialog("move")}>
              Move to ring…
            </button>
          )}
          {m.actions.pin.allowed && (
            <button type="button" onClick={() => setDialog("pin")}>
              {m.pinnedRelease ? "Pin to another release…" : "Pin to release…"}
            </button>
          )}
          {m.actions.unpin.allowed && (
            <button type="button" onClick={() => setDialog("unpin")}>
              {m.pinnedRelease ? "Unpin…" : "Release hold…"}
            </button>
          )}
          {/* Beside the other actions, a rollback the machine cannot take says why. */}
          {(m.actions.rollback.allowed || m.actions.pin.allowed) && (
            <button
              type="button"
              disabled={!m.actions.rollback.allowed}
              title={m.actions.rollback.why ?? undefined}
              onClick={() => setDialog("rollback")}
            >
              Roll back…
            </button>
          )}
          {m.actions.retire.allowed && (
            <button type="button" className="danger-outline" onClick={() => setDialog("retire")}>
              Retire…
            </button>
          )}
          {m.actions.allowReenroll.allowed && (
            <button type="button" onClick={() => setDialog("reenroll")}>
              Allow re-enrollment…
            </button>
          )}
          {m.actions.issueTargetToken.allowed && (
            <button type="button" onClick={() => setDialog("targetToken")}>
              Issue target token…
            </button>
          )}
        </div>
      </div>

      {query.error && (
        <ErrorNotice title="Could not refresh:" error={`${query.error.message}. Showing what was last loaded.`} />
      )}
      {result && <SuccessNotice onDismiss={() => setResult(null)}>{result}</SuccessNotice>}
      {m.pinnedRelease && (
        <div className="hold-banner pinned" role="status">
          <p>
            <strong>Pinned to {m.pinnedRelease.version}</strong>{" "}
            {m.pinnedRelease.quarantinedAt && <QuarantinedBadge since={m.pinnedRelease.quarantinedAt} />}{" "}
            <span>
              since <DateTime value={m.pinnedAt} />
              {m.pinAllowsDowngrade ? " · downgrade allowed" : ""} · out of every rollout until unpinned
            </span>
          </p>
        </div>
      )}
      {!m.pinnedRelease && hold && (
        <div className="hold-banner" role="status">
          <p>
            <strong>
              {hold.hold ? "Held on rollback to" : "Rolling back to"} {hold.version ?? hold.checksum.slice(0, 12)}
            </strong>{" "}
            <Checksum value={hold.checksum} /> {hold.reason && <span className="muted">· {hold.reason}</span>}
          </p>
        </div>
      )}
      {retired && (
        <div className="notice warning" role="status">
          <strong>Retired</strong> <DateTime value={m.retiredAt} />. Its agent is refused on every call until the machine
          enrolls again.
        </div>
      )}

      <div className="grid detail-grid">
        <section className="card" aria-labelledby="facts-title">
          <h2 id="facts-title">Machine</h2>
          <dl className="facts">
            <Fact label="Ring">
              {m.ring ? (
                <Link href={`/machines?ring=${encodeURIComponent(m.ring.name)}`}>{m.ring.name}</Link>
              ) : (
                <span className="muted">none</span>
              )}
            </Fact>
            <Fact label="Last seen">
              <span className="nowrap">
                <OnlineBadge online={m.online} /> <RelativeTime value={m.lastSeenAt} />
              </span>
            </Fact>
            <Fact label="Booted">
              {m.bootedVersion ?? <span className="muted">unknown</span>} <Checksum value={m.bootedChecksum} />
            </Fact>
            <Fact label="Agent">{m.agentVersion}</Fact>
            <Fact label="Backend">{BACKEND_LABELS[m.backend]}</Fact>
            <Fact label="OS">{os || <span className="muted">unknown</span>}</Fact>
            <Fact label="Enrolled">
              <DateTime value={m.enrolledAt} />
            </Fact>
            <Fact label="Boot id">{m.bootId ? <code>{m.bootId}</code> : <span className="muted">unknown</span>}</Fact>
            <Fact label="Identity">
              {!holdsOwnCredentials(m.backend) ? (
                <span className="muted">{foreignUpdaterWords(m.backend)?.identity}</span>
              ) : m.hasKey ? (
                "proves itself with its own key"
              ) : (
                <span className="muted">no key yet (an older agent): enrolling again needs an operator</span>
              )}
              {m.reenrollAllowedUntil && (
                <span className="muted small">
                  {" "}
                  · may enroll again until <DateTime value={m.reenrollAllowedUntil} relative={false} />
                </span>
              )}
            </Fact>
            <Fact label="Labels">
              <span className="labels-fact">
                <LabelChips labels={m.labels} />
                {/* The server says whether this caller may change them (its role, its rings, a retired machine). */}
                {m.actions.setLabels.allowed && (
                  <button type="button" className="link-like" onClick={() => setDialog("labels")}>
                    Edit labels…
                  </button>
                )}
              </span>
            </Fact>
          </dl>
        </section>

        <section className="card" aria-labelledby="update-title">
          <h2 id="update-title">Update</h2>
          <dl className="facts">
            <Fact label="State">
              <UpdateStateBadge state={m.updateState} progress={m.updateProgress} />
            </Fact>
            {m.updateProgress != null && m.updateState === "downloading" && (
              <Fact label="Progress">
                <progress max={1} value={m.updateProgress} aria-label="Download progress">
                  {Math.round(m.updateProgress * 100)} %
                </progress>{" "}
                {Math.round(m.updateProgress * 100)} %
              </Fact>
            )}
            <Fact label="Since">
              <RelativeTime value={m.updateStateSince} />
            </Fact>
            <Fact label="Target">
              <Checksum value={m.updateTarget} copyable />
            </Fact>
          </dl>
          {m.updateError && (
            <div className="update-error">
              <strong className="error-text">Error</strong>
              <pre>{m.updateError}</pre>
            </div>
          )}
        </section>

        <section className="card" aria-labelledby="desired-title">
          <h2 id="desired-title">What the console wants</h2>
          <Desired machine={m} />
          {m.answer.apps && (
            <>
              <h3>Apps</h3>
              {m.answer.apps.length === 0 ? (
                <p className="muted">None: the agent removes the apps Orchard installed.</p>
              ) : (
                <ul className="ring-steps">
                  {m.answer.apps.map((a) => (
                    <li key={a.ref}>
                      <code className="small">{a.ref.split("/")[1] ?? a.ref}</code> <strong>{a.version ?? a.commit.slice(0, 12)}</strong>
                      {a.allowDowngrade ? <span className="muted small"> (may go back)</span> : null}
                      <br />
                      <span className="muted small">{a.reason}</span>
                    </li>
                  ))}
                </ul>
              )}
            </>
          )}
          <h3>Reboot slot</h3>
          {m.rebootLease ? (
            <p>
              <StateBadge tone="info">Held</StateBadge> since <DateTime value={m.rebootLease.acquiredAt} />, expires{" "}
              <DateTime value={m.rebootLease.expiresAt} />
            </p>
          ) : (
            <p className="muted">Not holding a reboot slot.</p>
          )}
        </section>
      </div>

      {m.rollouts.length > 0 && (
        <>
          <h2>Rollouts</h2>
          <p className="muted section-note">The last {m.rollouts.length === 10 ? "10 rollouts" : "rollouts"} that reached this machine, newest first.</p>
          <DataTable
            caption="Rollouts of this machine"
            columns={rolloutColumns}
            rows={m.rollouts}
            rowKey={(r) => r.rollout.id}
            empty="No rollout has reached this machine."
          />
        </>
      )}

      <h2>Deployments</h2>
      <p className="muted section-note">In boot order: the default boots next; the rollback is what a rollback returns to.</p>
      <DataTable
        caption="Deployments in boot order"
        columns={deploymentColumns}
        rows={deployments}
        rowKey={(d) => `${d.position}-${d.checksum}`}
        empty="The agent has not reported any deployment yet."
      />

      <h2>Health checks</h2>
      <DataTable
        caption="Health checks"
        columns={checkColumns}
        rows={checks}
        rowKey={(c) => `${c.position}-${c.name}`}
        empty={
          reportsHealth(m.backend) ? "The agent reports no health checks." : (foreignUpdaterWords(m.backend)?.noHealth ?? "")
        }
      />

      <MachineApps machineId={m.machineId} />

      <MachineTimeline machineId={m.machineId} />

      {holdsOwnCredentials(m.backend) && (
        <>
          <h2>Machine tokens</h2>
          <DataTable
            caption="Machine tokens"
            columns={tokenColumns}
            rows={m.tokens}
            rowKey={(t) => `${t.prefix}-${t.createdAt.toISOString()}`}
            empty="No tokens."
          />
        </>
      )}

      {m.actions.move.allowed && <MoveDialog open={dialog === "move"} machine={m} onClose={closeDialog} onDone={dialogDone} />}
      {m.actions.retire.allowed && <RetireDialog open={dialog === "retire"} machine={m} onClose={closeDialog} onDone={dialogDone} />}
      {m.actions.pin.allowed && <PinDialog open={dialog === "pin"} machine={m} onClose={closeDialog} onDone={dialogDone} />}
      {m.actions.unpin.allowed && <UnpinDialog open={dialog === "unpin"} machine={m} onClose={closeDialog} onDone={dialogDone} />}
      {m.actions.rollback.allowed && <RollbackDialog open={dialog === "rollback"} machine={m} onClose={closeDialog} onDone={dialogDone} />}
      {dialog === "labels" && m.actions.setLabels.allowed && <LabelsDialog machine={m} onClose={closeDialog} onDone={dialogDone} />}
      {m.actions.allowReenroll.allowed && <ReenrollDialog open={dialog === "reenroll"} machine={m} onClose={closeDialog} onDone={dialogDone} />}
      {m.actions.issueTargetToken.allowed && <TargetTokenDialog open={dialog === "targetToken"} machine={m} onClose={closeDialog} onDone={dialogDone} />}
    </>
  );
}
