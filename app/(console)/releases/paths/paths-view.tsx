"use client";
// A branch's update graph: its releases oldest at the bottom, floors (every
// machine older than a floor boots it before anything newer), blocked paths
// (from → to, never taken directly), and how many machines of each ring run
// each release. The next hop of each machine is decided by the server.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { type FormEvent, useState } from "react";
import { DataTable } from "@/components/data-table";
import { ConfirmDialog, ReasonInput } from "@/components/dialog";
import { invalidIf, problemOf } from "@/components/format";
import { ErrorNotice, FormFooter, PageState, SuccessNotice } from "@/components/notice";
import type { RouterOutputs } from "@/components/router-types";
import { DateTime, QuarantinedBadge, StateBadge } from "@/components/status";
import { useTRPC } from "@/components/trpc";
import { useUrlState } from "@/components/url-state";
import { useMe } from "@/components/use-me";

type Graph = RouterOutputs["releases"]["graph"];
type Node = Graph["releases"][number] & { first: boolean; last: boolean; current: string[] };
type Blocked = Graph["blocked"][number];

/** The path column: a line through every release, a dot per release, a diamond per floor (drawn in CSS, the cell's full height). */
function PathCell({ node }: { node: Node }) {
  const kind = node.quarantined ? "quarantined" : node.floor ? "floor" : "release";
  return (
    <span className={`path-node${node.first ? " path-oldest" : ""}${node.last ? " path-newest" : ""}`} aria-hidden="true">
      <span className={`path-dot path-${kind}`} />
    </span>
  );
}

export function PathsView() {
  const trpc = useTRPC();
  const url = useUrlState();
  const queryClient = useQueryClient();
  const { canOnFleet } = useMe();
  // Floors and blocked paths act on every ring of the branch: operators of the whole fleet set them.
  const operator = canOnFleet("operator");
  const [result, setResult] = useState<string | null>(null);
  const [floorOf, setFloorOf] = useState<Node | null>(null);
  const [reason, setReason] = useState("");
  const branches = useQuery(trpc.releases.branches.queryOptions());
  const ref = url.get("ref") ?? branches.data?.[0]?.ref;
  const graph = useQuery({ ...trpc.releases.graph.queryOptions({ ref: ref ?? "" }), enabled: Boolean(ref) });

  const refresh = async () => {
    await queryClient.invalidateQueries(trpc.releases.pathFilter());
    await queryClient.invalidateQueries(trpc.machines.pathFilter());
  };
  const setFloor = useMutation(
    trpc.releases.setFloor.mutationOptions({
      onSuccess: async (answer) => {
        await refresh();
        setFloorOf(null);
        setReason("");
        setResult(
          answer.floor
            ? `${answer.version} is a floor: every machine older than it boots it before anything newer.`
            : `${answer.version} is no longer a floor.`,
        );
      },
    }),
  );
  const unblock = useMutation(
    trpc.releases.unblockPath.mutationOptions({
      onSuccess: async (answer) => {
        await refresh();
        setResult(`Unblocked ${answer.from.join(", ")} → ${answer.to}.`);
      },
    }),
  );

  const data = graph.data;
  const rings = data?.rings ?? [];
  // Newest first, as a log reads; the line joins each release to the one before it.
  const nodes: Node[] = (data?.releases ?? [])
    .map((r, i, all) => ({
      ...r,
      first: i === 0,
      last: i === all.length - 1,
      current: rings.filter((ring) => ring.currentRelease === r.version).map((ring) => ring.name),
    }))
    .reverse();

  const columns: ColumnDef<Node, unknown>[] = [
    { id: "path", header: () => <span className="sr-only">Path</span>, cell: ({ row }) => <PathCell node={row.original} /> },
    {
      id: "version",
      header: "Release",
      cell: ({ row }) => (
        <span className="version-cell">
          <strong>{row.original.version}</strong>{" "}
          {row.original.floor && <StateBadge tone="warn">floor</StateBadge>}{" "}
          {row.original.quarantined && <QuarantinedBadge />}{" "}
          {row.original.current.map((ring) => (
            <StateBadge key={ring} tone="good">
              current in {ring}
            </StateBadge>
          ))}
          {row.original.floor && row.original.floorReason && <span className="path-reason muted small">{row.original.floorReason}</span>}
        </span>
      ),
    },
    ...rings.map(
      (ring): ColumnDef<Node, unknown> => ({
        id: `ring-${ring.name}`,
        header: ring.name,
        cell: ({ row }) => {
          const n = row.original.machines[ring.name] ?? 0;
          return n > 0 ? (
            <Link href={`/machines?ring=${encodeURIComponent(ring.name)}&version=${encodeURIComponent(row.original.version)}`}>
              {n.toLocaleString("en")}
            </Link>
          ) : (
            <span className="muted">0</span>
          );
        },
      }),
    ),
    { id: "createdAt", header: "Added", cell: ({ row }) => <DateTime value={row.original.createdAt} stacked /> },
    ...(operator
      ? [
          {
            id: "actions",
            header: "Actions",
            cell: ({ row }) => (
              <button type="button" onClick={() => setFloorOf(row.original)}>
                {row.original.floor ? "Remove floor…" : "Make floor…"}
              </button>
            ),
          } satisfies ColumnDef<Node, unknown>,
        ]
      : []),
  ];

  const blockedColumns: ColumnDef<Blocked, unknown>[] = [
    { id: "from", header: "From", cell: ({ row }) => <strong>{row.original.from}</strong> },
    { id: "to", header: "Never straight to", cell: ({ row }) => <strong>{row.original.to}</strong> },
    { id: "reason", header: "Why", cell: ({ row }) => row.original.reason ?? <span className="muted">—</span> },
    { id: "createdAt", header: "Since", cell: ({ row }) => <DateTime value={row.original.createdAt} stacked /> },
    ...(operator
      ? [
          {
            id: "actions",
            header: "Actions",
            cell: ({ row }) => (
              <button
                type="button"
                disabled={unblock.isPending}
                onClick={() => unblock.mutate({ ref: ref ?? "", from: [row.original.from], to: row.original.to })}
              >
                Unblock
              </button>
            ),
          } satisfies ColumnDef<Blocked, unknown>,
        ]
      : []),
  ];

  return (
    <>
      <div className="page-header">
        <h1>Update paths</h1>
        <p className="muted">
          <Link href={`/releases${ref ? `?ref=${encodeURIComponent(ref)}` : ""}`}>Releases</Link> of a branch in order, newest first: floors,
          blocked paths, and where the machines of each ring are
        </p>
      </div>
      <p className="page-intro">
        A machine older than a <strong>floor</strong> boots the floor before anything newer, within the same rollout; it counts as done only
        on the rollout&apos;s release. A <strong>blocked path</strong> is never taken directly: machines go another way, or wait. Each machine
        is sent only its next step.
      </p>
      {result && <SuccessNotice onDismiss={() => setResult(null)}>{result}</SuccessNotice>}
      <ErrorNotice error={unblock.error?.message} />
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Branch
          <select value={ref ?? ""} onChange={(e) => url.set({ ref: e.target.value })}>
            {(branches.data ?? []).map((b) => (
              <option key={b.ref} value={b.ref}>
                {b.ref}
              </option>
            ))}
          </select>
        </label>
      </form>
      {branches.data && branches.data.length === 0 ? (
        <PageState title="No branch yet">Add a release: its branch appears here.</PageState>
      ) : (
        <>
          <DataTable
            caption={`Releases of ${ref ?? "the branch"}, newest first`}
            columns={columns}
            rows={nodes}
            rowKey={(r) => r.checksum}
            loading={graph.isFetching}
            error={graph.error?.message}
            empty="No releases on this branch yet."
          />
          <h2>Blocked paths</h2>
          <DataTable
            caption="Blocked paths"
            columns={blockedColumns}
            rows={data?.blocked}
            rowKey={(b) => `${b.from}>${b.to}`}
            loading={graph.isFetching}
            empty="No path is blocked: a machine goes straight to its release unless a floor lies between."
          />
          {operator && data && data.releases.length > 1 && (
            <BlockPathForm refName={data.ref} versions={data.releases.map((r) => r.version)} onDone={setResult} />
          )}
        </>
      )}
      {operator && floorOf && (
        <ConfirmDialog
          open
          title={floorOf.floor ? `Remove floor ${floorOf.version}?` : `Make ${floorOf.version} a floor?`}
          confirmLabel={floorOf.floor ? "Remove floor" : "Make floor"}
          busy={setFloor.isPending}
          error={setFloor.error?.message}
          onClose={() => setFloorOf(null)}
          onConfirm={() =>
            setFloor.mutate({ ref: ref ?? "", version: floorOf.version, floor: !floorOf.floor, reason: reason.trim() || undefined })
          }
        >
          <p>
            {floorOf.floor
              ? `Machines older than ${floorOf.version} may then go straight to newer releases.`
              : `Every machine older than ${floorOf.version} boots it before anything newer, on every ring of ${ref}. Machines already on their way to a newer release are sent ${floorOf.version} first at their next check-in.`}
          </p>
          {!floorOf.floor && <ReasonInput value={reason} onChange={setReason} />}
        </ConfirmDialog>
      )}
    </>
  );
}

function BlockPathForm({ refName, versions, onDone }: { refName: string; versions: string[]; onDone: (message: string) => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const block = useMutation(
    trpc.releases.blockPath.mutationOptions({
      onSuccess: async (answer) => {
        await queryClient.invalidateQueries(trpc.releases.pathFilter());
        onDone(`Blocked ${answer.from.join(", ")} → ${answer.to}: machines on ${answer.from.length === 1 ? "it" : "them"} take another way, or wait.`);
      },
    }),
  );
  const problem = problemOf(block.error);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const reason = String(form.get("reason") ?? "").trim();
    block.mutate({
      ref: refName,
      from: form.getAll("from").map(String),
      to: String(form.get("to") ?? ""),
      reason: reason || undefined,
    });
  }

  return (
    <form className="card form-card" onSubmit={submit} aria-labelledby="block-path-title">
      <h2 id="block-path-title">Block a path</h2>
      <div className="form-grid">
        <label>
          From (one or more)
          <select name="from" multiple required size={Math.min(6, versions.length)} {...invalidIf(problem, "from")}>
            {versions.map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </label>
        <label>
          Never straight to
          <select name="to" required defaultValue={versions.at(-1)} {...invalidIf(problem, "to")}>
            {versions.map((v) => (
              <option key={v} value={v}>
                {v}
              </option>
            ))}
          </select>
        </label>
        <label className="span-all">
          Why (optional)
          <input name="reason" maxLength={500} placeholder="e.g. 43 needs the migration in 42" {...invalidIf(problem, "reason")} />
        </label>
      </div>
      <FormFooter error={problem?.message} pending={block.isPending} label="Block path" pendingLabel="Blocking…" />
    </form>
  );
}
