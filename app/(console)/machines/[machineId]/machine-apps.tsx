"use client";
// A machine's installed Flatpak apps and runtimes (protocol v1.2): version,
// commit, update state and health, as its agent last reported them.
import { useQuery } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { DataTable } from "@/components/data-table";
import type { RouterOutputs } from "@/components/router-types";
import { CheckBadge, Checksum, HealthBadge, RelativeTime, UpdateStateBadge } from "@/components/status";
import { useTRPC } from "@/components/trpc";

type App = RouterOutputs["machines"]["apps"][number];

const columns: ColumnDef<App, unknown>[] = [
  {
    id: "ref",
    header: "App · origin",
    cell: ({ row }) => (
      <span className="stacked">
        <code>{row.original.ref}</code>
        <span className="muted small">
          {row.original.kind === "runtime" ? "runtime" : "app"} from {row.original.origin ?? "?"}
          {row.original.managed ? " · installed by Orchard" : " · not managed"}
          {row.original.pinnedVersion ? ` · pinned to ${row.original.pinnedVersion}` : ""}
        </span>
      </span>
    ),
  },
  {
    id: "version",
    header: "Version · commit",
    cell: ({ row }) => (
      <span className="stacked">
        {row.original.version ? (
          <Link href={`/machines?app=${encodeURIComponent(row.original.ref)}&appVersion=${encodeURIComponent(row.original.version)}`}>
            <strong>{row.original.version}</strong>
          </Link>
        ) : (
          <span className="muted">{row.original.commit ? "unregistered commit" : "not installed"}</span>
        )}
        <Checksum value={row.original.commit} />
      </span>
    ),
  },
  {
    id: "update",
    header: "Update",
    cell: ({ row }) =>
      row.original.updateState ? (
        <span className="stacked">
          <UpdateStateBadge state={row.original.updateState} />
          {row.original.updateTarget && row.original.updateTarget !== row.original.commit && (
            <span className="small">
              to <Checksum value={row.original.updateTarget} />
            </span>
          )}
          {row.original.updateError && <span className="small error-text">{row.original.updateError}</span>}
        </span>
      ) : (
        <span className="muted">—</span>
      ),
  },
  {
    id: "health",
    header: "Health",
    cell: ({ row }) =>
      row.original.healthStatus ? (
        <span className="stacked">
          <HealthBadge status={row.original.healthStatus} />
          {row.original.healthChecks.map((c) => (
            <span key={c.name} className="small nowrap" title={c.output ?? undefined}>
              <CheckBadge status={c.status} /> {c.name}
            </span>
          ))}
        </span>
      ) : (
        <span className="muted">{row.original.kind === "runtime" ? "—" : "no checks reported"}</span>
      ),
  },
  { id: "changed", header: "Changed", cell: ({ row }) => <RelativeTime value={row.original.updatedAt} /> },
];

export function MachineApps({ machineId }: { machineId: string }) {
  const trpc = useTRPC();
  const apps = useQuery({ ...trpc.machines.apps.queryOptions({ machineId }), refetchInterval: 10_000 });
  return (
    <>
      <h2 id="apps-title">Apps</h2>
      <p className="muted section-note">
        Flatpak apps and runtimes as the agent last reported them. The apps its ring lists are kept at the ring&apos;s release (or
        a rollout&apos;s); an app update needs no reboot.
      </p>
      <DataTable
        caption="Installed apps and runtimes"
        columns={columns}
        rows={apps.data}
        rowKey={(a) => a.ref}
        loading={apps.isFetching}
        error={apps.error?.message}
        empty="The agent reports no apps (an agent before protocol 1.2, or a ring without an app set)."
      />
    </>
  );
}
