"use client";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { useId } from "react";
import { DataTable } from "@/components/data-table";
import { PageState } from "@/components/notice";
import type { RouterOutputs } from "@/components/router-types";
import { SearchInput } from "@/components/search-input";
import { DateTime } from "@/components/status";
import { useTRPC } from "@/components/trpc";
import { useUrlState } from "@/components/url-state";

type Row = RouterOutputs["audit"]["list"]["rows"][number];

const PAGE_SIZE = 50;

/** Known actions, offered as suggestions; the filter takes any exact action. */
const ACTIONS = [
  "machine.enroll",
  "machine.move",
  "machine.retire",
  "machine.pin",
  "machine.unpin",
  "machine.rollback",
  "ring.create",
  "ring.set-release",
  "ring.update-policy",
  "release.add",
  "release.brake",
  "rollout.start",
  "rollout.follow-skip",
  "rollout.pause",
  "rollout.resume",
  "rollout.approve",
  "rollout.abort",
  "rollout.revert",
  "rollout.revert-ring",
  "rollout.open-wave",
  "rollout.complete-ring",
  "rollout.complete",
  "ring.reshuffle",
  "reboot-slot.force-release",
  "branch.create",
  "enrollment-token.create",
  "enrollment-token.revoke",
  "api-token.create",
  "api-token.revoke",
  "user.create",
  "user.update",
];
const TARGET_TYPES = ["machine", "ring", "release", "rollout", "branch", "enrollment-token", "api-token", "user"];

/** JSON on one line with a space after each comma and colon, so that it wraps between values. */
function compactJson(value: unknown, shorten: boolean) {
  if (value === null || value === undefined) return null;
  return JSON.stringify(value, (_key, v: unknown) =>
    shorten && typeof v === "string" && /^[0-9a-f]{64}$/.test(v) ? `${v.slice(0, 12)}…` : v,
  )
    .replace(/,"/g, ', "')
    .replace(/":/g, '": ');
}

function Target({ row }: { row: Row }) {
  const id = row.targetId;
  if (!id) return <span className="muted">{row.targetType}</span>;
  let href: string | null = null;
  if (row.targetType === "machine") href = `/machines/${encodeURIComponent(id)}`;
  else if (row.targetType === "ring") href = `/machines?ring=${encodeURIComponent(id)}`;
  else if (row.targetType === "rollout") href = `/rollouts/${encodeURIComponent(id)}`;
  else if (row.targetType === "release") {
    const at = id.lastIndexOf("@");
    href = at > 0 ? `/releases?ref=${encodeURIComponent(id.slice(0, at))}&q=${encodeURIComponent(id.slice(at + 1))}` : null;
  }
  return (
    <span className="target">
      <span className="muted small">{row.targetType}</span>
      {href ? (
        <Link href={href} title={id}>
          <code className="target-id">{id}</code>
        </Link>
      ) : (
        <code className="target-id" title={id}>
          {id}
        </code>
      )}
    </span>
  );
}

function Change({ row }: { row: Row }) {
  const before = compactJson(row.before, true);
  const after = compactJson(row.after, true);
  if (!before && !after && !row.reason) return <span className="muted">—</span>;
  return (
    <span className="change" title={`${compactJson(row.before, false) ?? ""} → ${compactJson(row.after, false) ?? ""}`}>
      {row.reason && (
        <span className="reason">
          <span className="muted">Reason:</span> {row.reason}
        </span>
      )}
      {before && <code className="json before">{before}</code>}
      {after && (
        <span className="after-line">
          {before && (
            <span className="arrow" aria-label="changed to">
              →{" "}
            </span>
          )}
          <code className="json after">{after}</code>
        </span>
      )}
    </span>
  );
}

/** An ISO time from the URL as the value of a datetime-local input (the browser's local time). */
function localInputValue(iso: string) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** A datetime-local value as an ISO time for the URL; empty or unfinished input clears it. */
function isoOf(local: string) {
  if (!local) return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function validIso(value: string | undefined) {
  return value && !Number.isNaN(new Date(value).getTime()) ? value : "";
}

export function AuditView() {
  const trpc = useTRPC();
  const url = useUrlState();
  const actionsId = useId();
  const actor = url.get("actor") ?? "";
  const action = url.get("action") ?? "";
  const targetType = url.get("target") ?? "";
  const targetId = url.get("targetId") ?? "";
  const from = validIso(url.get("from"));
  const to = validIso(url.get("to"));
  const page = Math.max(0, Number.parseInt(url.get("page") ?? "0", 10) || 0);
  const filtered = Boolean(actor || action || targetType || targetId || from || to);
  const filter = {
    actor: actor || undefined,
    action: action || undefined,
    targetType: targetType || undefined,
    targetId: targetId || undefined,
    from: from || undefined,
    to: to || undefined,
  };
  // The export takes the same filters as the table (server/http/export-handler.ts).
  const csvQuery = new URLSearchParams(Object.entries(filter).filter((e): e is [string, string] => Boolean(e[1]))).toString();
  const csvHref = `/api/export/audit.csv${csvQuery ? `?${csvQuery}` : ""}`;

  const audit = useQuery({
    ...trpc.audit.list.queryOptions({
      ...filter,
      from: from ? new Date(from) : undefined,
      to: to ? new Date(to) : undefined,
      page,
      pageSize: PAGE_SIZE,
    }),
    placeholderData: keepPreviousData,
    // A caller limited to some rings is refused the whole fleet's log: no point asking again.
    retry: (failures, error) => error.data?.code !== "FORBIDDEN" && failures < 1,
    refetchInterval: (query) => (query.state.error?.data?.code === "FORBIDDEN" ? false : 15_000),
  });
  if (audit.error?.data?.code === "FORBIDDEN") {
    const why = audit.error.message;
    return (
      <PageState title="The audit log covers the whole fleet">
        <p>{why.charAt(0).toUpperCase() + why.slice(1)}.</p>
        <p className="muted">
          It records changes to releases, users and tokens as well as rings, so it is shown to those who hold their role
          on every ring. Each machine&apos;s timeline and each rollout&apos;s page still show what happened to them.
        </p>
      </PageState>
    );
  }

  const filterButton = (text: string, changes: Record<string, string>, title: string) => (
    <button type="button" className="link-like" title={title} onClick={() => url.set({ ...changes, page: undefined })}>
      {text}
    </button>
  );

  const columns: ColumnDef<Row, unknown>[] = [
    {
      id: "at",
      header: "Time",
      cell: ({ row }) => (
        <DateTime value={row.original.at} stacked />
      ),
    },
    {
      id: "actor",
      header: "Actor",
      cell: ({ row }) => filterButton(row.original.actorLabel, { actor: row.original.actorLabel }, `Show only ${row.original.actorLabel}`),
    },
    {
      id: "action",
      header: "Action",
      cell: ({ row }) => (
        <code className="nowrap">
          {filterButton(row.original.action, { action: row.original.action }, `Show only ${row.original.action}`)}
        </code>
      ),
    },
    { id: "target", header: "Target", cell: ({ row }) => <Target row={row.original} /> },
    { id: "change", header: "Reason · before → after", cell: ({ row }) => <Change row={row.original} /> },
  ];

  return (
    <>
      <div className="page-header">
        <h1>Audit log</h1>
        <p className="muted">
          {audit.data ? `${audit.data.total.toLocaleString()} entries · ` : ""}every change made through the console or the
          command line, newest first
        </p>
        <div className="actions">
          <a className="button-link" href={csvHref} download>
            Download CSV
            <span className="sr-only">{filtered ? " of the filtered entries" : " of every entry"}</span>
          </a>
        </div>
      </div>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <SearchInput
          label="Actor"
          type="text"
          placeholder="e-mail, cli or system"
          value={actor}
          onSearch={(text) => url.set({ actor: text.trim() || undefined, page: undefined })}
        />
        <SearchInput
          label="Action"
          type="text"
          placeholder="e.g. ring.set-release"
          list={actionsId}
          value={action}
          onSearch={(text) => url.set({ action: text.trim() || undefined, page: undefined })}
        />
        <datalist id={actionsId}>
          {ACTIONS.map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
        <label>
          Target type
          <select value={targetType} onChange={(e) => url.set({ target: e.target.value, page: undefined })}>
            <option value="">Any target</option>
            {TARGET_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          From
          <input
            type="datetime-local"
            value={from ? localInputValue(from) : ""}
            max={to ? localInputValue(to) : undefined}
            onChange={(e) => url.set({ from: isoOf(e.target.value), page: undefined })}
          />
        </label>
        <label>
          To
          <input
            type="datetime-local"
            value={to ? localInputValue(to) : ""}
            min={from ? localInputValue(from) : undefined}
            onChange={(e) => url.set({ to: isoOf(e.target.value), page: undefined })}
          />
        </label>
        {targetId && (
          <p className="filter-chip">
            Target id <code>{targetId}</code>{" "}
            <button type="button" className="link-like" onClick={() => url.set({ targetId: undefined, page: undefined })}>
              clear
            </button>
          </p>
        )}
        {filtered && (
          <button
            type="button"
            onClick={() =>
              url.set({ actor: undefined, action: undefined, target: undefined, targetId: undefined, from: undefined, to: undefined, page: undefined })
            }
          >
            Clear filters
          </button>
        )}
      </form>
      <DataTable
        caption="Audit log, newest first"
        columns={columns}
        rows={audit.data?.rows}
        rowKey={(r) => r.id}
        loading={audit.isFetching}
        error={audit.error?.message}
        empty={filtered ? "No entry matches these filters. Filters match exactly: check the spelling, or clear them." : "Nothing has been changed yet."}
        paging={{
          page,
          pageSize: PAGE_SIZE,
          total: audit.data?.total ?? 0,
          onPage: (p) => url.set({ page: p || undefined }),
        }}
      />
    </>
  );
}
