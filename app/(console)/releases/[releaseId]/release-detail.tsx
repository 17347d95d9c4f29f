"use client";
// One release: what it is (version, ref, checksum, build, source, signature,
// floor), where it runs or is rolling to, its notes, and what changed since
// the previous release of its branch. Everything comes from releases.get,
// which reads the database only.
import { useQuery } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { Fact } from "@/components/fact";
import { DataTable } from "@/components/data-table";
import { PageState } from "@/components/notice";
import type { RouterOutputs } from "@/components/router-types";
import { Checksum, DateTime, QuarantinedBadge, RolloutStateBadge, SignatureBadge, StateBadge } from "@/components/status";
import { useTRPC } from "@/components/trpc";
import { useMe } from "@/components/use-me";
import { ChangedPaths, ChangesSummary } from "../release-changes";
import { ArtifactsSection } from "./artifacts-section";

type Release = RouterOutputs["releases"]["get"];
type RolloutRow = Release["rollouts"][number];

const rolloutColumns: ColumnDef<RolloutRow, unknown>[] = [
  { id: "id", header: "Rollout", cell: ({ row }) => <Link href={`/rollouts/${encodeURIComponent(row.original.id)}`}>{row.original.id}</Link> },
  { id: "state", header: "State", cell: ({ row }) => <RolloutStateBadge state={row.original.state} /> },
  { id: "createdAt", header: "Started", cell: ({ row }) => <DateTime value={row.original.createdAt} stacked /> },
  { id: "finishedAt", header: "Finished", cell: ({ row }) => (row.original.finishedAt ? <DateTime value={row.original.finishedAt} stacked /> : <span className="muted">—</span>) },
];

export function ReleaseDetail({ releaseId }: { releaseId: string }) {
  const trpc = useTRPC();
  const { can } = useMe();
  const query = useQuery({
    ...trpc.releases.get.queryOptions({ id: releaseId }),
    retry: (count, error) => error.data?.code !== "BAD_REQUEST" && count < 1,
  });

  if (query.isPending) {
    return (
      <div aria-busy="true">
        <nav className="breadcrumb" aria-label="Breadcrumb">
          <Link href="/releases">Releases</Link> / <span>…</span>
        </nav>
        <div className="card">
          <span className="skeleton" />
          <span className="skeleton" />
        </div>
      </div>
    );
  }
  if (!query.data) {
    return (
      <PageState title="Release not found" tone="error">
        <p>{query.error?.message ?? "Unknown error."}</p>
      </PageState>
    );
  }
  const r = query.data;
  return (
    <>
      <nav className="breadcrumb" aria-label="Breadcrumb">
        <Link href="/releases">Releases</Link> / <span aria-current="page">{r.version}</span>
      </nav>
      <div className="page-header detail-header">
        <div className="title-block">
          <h1>{r.version}</h1>
          <p className="muted">
            <code>{r.branch.ref}</code>
          </p>
        </div>
        <div className="badges" aria-label="Status">
          <SignatureBadge state={r.signatureState} reason={r.signatureReason} />
          {r.floor && <StateBadge tone="info">Floor</StateBadge>}
          {r.quarantinedAt && <QuarantinedBadge since={r.quarantinedAt} reason={r.quarantineReason} />}
          {r.currentFor.map((ring) => (
            <StateBadge key={ring.name} tone="good">
              current in {ring.name}
            </StateBadge>
          ))}
        </div>
        <div className="actions">
          <Link className="button-link" href={`/releases/paths?ref=${encodeURIComponent(r.branch.ref)}`}>
            Update paths
          </Link>
          {can("operator") && r.sendable && !r.quarantinedAt && (
            <Link className="button-link" href={`/rollouts/new?version=${encodeURIComponent(r.version)}&ref=${encodeURIComponent(r.branch.ref)}`}>
              Roll out…
            </Link>
          )}
        </div>
      </div>

      <div className="stack">
      <div className="grid">
        <section className="card" aria-labelledby="facts-title">
          <h2 id="facts-title">Release</h2>
          <dl className="facts">
            <Fact label="Checksum">
              <Checksum value={r.checksum} copyable />
            </Fact>
            <Fact label="Built">{r.builtAt ? <DateTime value={r.builtAt} /> : <span className="muted">unknown</span>}</Fact>
            <Fact label="Added">
              <DateTime value={r.createdAt} />
            </Fact>
            <Fact label="Source">{r.source ? <Link href="/releases/sources">{r.source.name}</Link> : <span className="muted">added by hand</span>}</Fact>
            <Fact label="Signature">
              <SignatureBadge state={r.signatureState} reason={r.signatureReason} />
              {r.signatureReason && <span className="block muted small">{r.signatureReason}</span>}
            </Fact>
            <Fact label="Sendable">{r.sendable ? "yes" : <span>no: {r.unsendableReason}</span>}</Fact>
            <Fact label="Floor">{r.floor ? `yes${r.floorReason ? `: ${r.floorReason}` : ""}` : <span className="muted">no</span>}</Fact>
            <Fact label="Previous">
              {r.previous ? <Link href={`/releases/${encodeURIComponent(r.previous.id)}`}>{r.previous.version}</Link> : <span className="muted">none: the first of its branch</span>}
            </Fact>
          </dl>
        </section>
        <section className="card" aria-labelledby="where-title">
          <h2 id="where-title">Where it runs</h2>
          <dl className="facts">
            <Fact label="Current in">{r.currentFor.length ? r.currentFor.map((x) => x.name).join(", ") : <span className="muted">no ring</span>}</Fact>
            <Fact label="Rolling to">
              {r.rollingTo.length ? (
                r.rollingTo.map((x, i) => (
                  <span key={`${x.rolloutId}-${x.name}`}>
                    {i > 0 && ", "}
                    <Link href={`/rollouts/${encodeURIComponent(x.rolloutId)}`}>{x.name}</Link>
                  </span>
                ))
              ) : (
                <span className="muted">no rollout under way</span>
              )}
            </Fact>
            <Fact label="Machines">
              <Link href={`/machines?version=${encodeURIComponent(r.version)}`}>machines on {r.version}</Link>
            </Fact>
          </dl>
          {(r.subject || r.body || r.notes) && (
            <>
              <h3>Notes</h3>
              <p className="detail-text">{r.notes ?? [r.subject, r.body].filter(Boolean).join("\n\n")}</p>
            </>
          )}
        </section>
      </div>

      <ArtifactsSection releaseId={r.id} version={r.version} />

      <ChangesSummary release={r} />
      <ChangedPaths release={r} />

      <section className="card" aria-labelledby="rollouts-title">
        <h2 id="rollouts-title">Rollouts</h2>
        <DataTable caption="Rollouts of this release" columns={rolloutColumns} rows={r.rollouts} rowKey={(x) => x.id} empty="No rollout of this release yet." />
      </section>
      </div>
    </>
  );
}
