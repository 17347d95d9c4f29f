"use client";
import { useQuery } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { useState } from "react";
import { DataTable } from "@/components/data-table";
import { formatSeconds } from "@/components/format";
import { SuccessNotice } from "@/components/notice";
import type { RouterOutputs } from "@/components/router-types";
import { Checksum } from "@/components/status";
import { useTRPC } from "@/components/trpc";
import { useMe } from "@/components/use-me";
import { CreateRingForm } from "./create-ring-form";
import { PolicyDialog, SetReleaseDialog } from "./ring-dialogs";

export type Ring = RouterOutputs["rings"]["list"][number];

function Seconds({ value }: { value: number }) {
  return (
    <span className="nowrap" title={`${value} seconds`}>
      {formatSeconds(value)}
    </span>
  );
}

export function RingsView() {
  const trpc = useTRPC();
  const { can } = useMe();
  const operator = can("operator");
  const rings = useQuery({ ...trpc.rings.list.queryOptions(), refetchInterval: 10_000 });
  const [creating, setCreating] = useState(false);
  const [dialog, setDialog] = useState<{ kind: "release" | "policy"; ring: Ring } | null>(null);
  const [result, setResult] = useState<string | null>(null);

  const columns: ColumnDef<Ring, unknown>[] = [
    {
      id: "name",
      header: "Ring",
      cell: ({ row }) => (
        <span className="nowrap">
          <span className="order" title={`Ring ${row.index + 1} in rollout order`}>
            {row.index + 1}
          </span>{" "}
          <strong>{row.original.name}</strong>
        </span>
      ),
    },
    { id: "branch", header: "Branch", cell: ({ row }) => <code>{row.original.branch.ref}</code> },
    {
      id: "release",
      header: "Current release",
      cell: ({ row }) =>
        row.original.currentRelease ? (
          <span className="stacked">
            <strong>{row.original.currentRelease.version}</strong>
            <Checksum value={row.original.currentRelease.checksum} />
          </span>
        ) : (
          <span className="muted">none set</span>
        ),
    },
    {
      id: "machines",
      header: "Machines",
      cell: ({ row }) => (
        <Link className="nowrap" href={`/machines?ring=${encodeURIComponent(row.original.name)}`}>
          {row.original.machines.toLocaleString()} {row.original.machines === 1 ? "machine" : "machines"}
        </Link>
      ),
    },
    { id: "rebootSlots", header: "Slots", cell: ({ row }) => row.original.rebootSlots },
    { id: "checkIn", header: "Check-in", cell: ({ row }) => <Seconds value={row.original.checkInIntervalSeconds} /> },
    { id: "lease", header: "Lease", cell: ({ row }) => <Seconds value={row.original.rebootLeaseSeconds} /> },
  ];
  if (operator) {
    columns.push({
      id: "actions",
      header: "Actions",
      cell: ({ row }) => (
        <span className="row-actions">
          <button type="button" onClick={() => setDialog({ kind: "release", ring: row.original })}>
            Set release…
          </button>
          <button type="button" onClick={() => setDialog({ kind: "policy", ring: row.original })}>
            Policy…
          </button>
        </span>
      ),
    });
  }

  const done = (message: string) => {
    setDialog(null);
    setResult(message);
  };

  return (
    <>
      <div className="page-header">
        <h1>Rings</h1>
        <p className="muted">Machines move ring by ring: the first ring gets a release first.</p>
        {operator && (
          <div className="actions">
            <button type="button" className="primary" aria-expanded={creating} onClick={() => setCreating(!creating)}>
              {creating ? "Close" : "New ring"}
            </button>
          </div>
        )}
      </div>
      {result && <SuccessNotice onDismiss={() => setResult(null)}>{result}</SuccessNotice>}
      {operator && creating && (
        <CreateRingForm
          rings={rings.data ?? []}
          onCreated={(name) => {
            setCreating(false);
            setResult(`Created ring ${name}.`);
          }}
          onCancel={() => setCreating(false)}
        />
      )}
      <DataTable
        caption="Rings in rollout order"
        columns={columns}
        rows={rings.data}
        rowKey={(r) => r.name}
        loading={rings.isFetching}
        error={rings.error?.message}
        empty={operator ? "No rings yet. Create the first one with “New ring”." : "No rings yet."}
      />
      {operator && dialog?.kind === "release" && (
        <SetReleaseDialog ring={dialog.ring} onClose={() => setDialog(null)} onDone={done} />
      )}
      {operator && dialog?.kind === "policy" && (
        <PolicyDialog ring={dialog.ring} onClose={() => setDialog(null)} onDone={done} />
      )}
    </>
  );
}
