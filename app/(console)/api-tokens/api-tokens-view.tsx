"use client";
// API tokens (service accounts) for admins: the list with each token's state
// as the server gives it, a form for a new one (its secret shown once), and
// revoking.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { AdminGate } from "@/components/admin-gate";
import { AdminHeader, ResultNotice, ShownOnce, useAdminList, useConfirmRow } from "@/components/admin-list";
import { CopyButton } from "@/components/copy-button";
import { DataTable } from "@/components/data-table";
import { ConfirmDialog } from "@/components/dialog";
import { RingScope } from "@/components/ring-scope";
import type { RouterOutputs } from "@/components/router-types";
import { DateTime, RelativeTime, StateBadge } from "@/components/status";
import { useTRPC } from "@/components/trpc";
import { type CreatedApiToken, CreateApiTokenForm } from "./create-api-token-form";

type Token = RouterOutputs["apiTokens"]["list"][number];

const STATE_BADGE: Record<Token["state"], { tone: "good" | "warn" | "bad"; label: string }> = {
  active: { tone: "good", label: "Active" },
  expired: { tone: "warn", label: "Expired" },
  revoked: { tone: "bad", label: "Revoked" },
};

export function ApiTokensView() {
  return (
    <AdminGate what="API tokens">
      <ApiTokensAdmin />
    </AdminGate>
  );
}

function ApiTokensAdmin() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const tokens = useQuery(trpc.apiTokens.list.queryOptions());
  const list = useAdminList<CreatedApiToken>();
  const revoking = useConfirmRow<Token>();
  const revoke = useMutation(
    trpc.apiTokens.revoke.mutationOptions({
      onSuccess: async (token) => {
        await queryClient.invalidateQueries(trpc.apiTokens.pathFilter());
        revoking.done();
        list.setResult(`Revoked “${token.name}” (${token.prefix}…): every call with it is refused from now on.`);
      },
    }),
  );

  const columns: ColumnDef<Token, unknown>[] = [
    { id: "name", header: "Name", cell: ({ row }) => <strong>{row.original.name}</strong> },
    {
      id: "state",
      header: "State",
      cell: ({ row }) => {
        const badge = STATE_BADGE[row.original.state];
        return (
          <span className="stacked">
            <StateBadge tone={badge.tone}>{badge.label}</StateBadge>
            {row.original.revokedAt && (
              <span className="muted small">
                <RelativeTime value={row.original.revokedAt} />
              </span>
            )}
          </span>
        );
      },
    },
    { id: "prefix", header: "Token", cell: ({ row }) => <code className="nowrap">{row.original.prefix}…</code> },
    { id: "role", header: "Role", cell: ({ row }) => <span className={`role-pill role-${row.original.role}`}>{row.original.role}</span> },
    { id: "rings", header: "Rings", cell: ({ row }) => <RingScope rings={row.original.rings} /> },
    {
      id: "expiresAt",
      header: "Expires",
      cell: ({ row }) => (row.original.expiresAt ? <DateTime value={row.original.expiresAt} stacked /> : <span className="muted">never</span>),
    },
    {
      id: "lastUsedAt",
      header: "Last used",
      cell: ({ row }) => (
        <span className="stacked">
          <RelativeTime value={row.original.lastUsedAt} />
          {row.original.lastUsedFrom && <span className="muted small">from {row.original.lastUsedFrom}</span>}
        </span>
      ),
    },
    {
      id: "created",
      header: "Created",
      cell: ({ row }) => (
        <span className="stacked">
          <RelativeTime value={row.original.createdAt} />
          <span className="muted small">by {row.original.createdBy ?? "a removed user"}</span>
        </span>
      ),
    },
    {
      id: "actions",
      header: "Actions",
      cell: ({ row }) =>
        row.original.state === "active" ? (
          <button type="button" className="danger-outline" onClick={() => revoking.ask(row.original)}>
            Revoke…
          </button>
        ) : null,
    },
  ];

  return (
    <>
      <AdminHeader title="API tokens" newLabel="New API token" list={list} />
      <p className="page-intro">
        An API token lets a pipeline or a script drive this console through its REST API: register the release it built,
        start a rollout, wait for it. It acts with its role, on every ring or on the rings you choose, and the audit log
        names it. Send it as <code>Authorization: Bearer orch_a_…</code>; the <Link href="/api">API reference</Link> lists
        every call.
      </p>
      {list.created && <NewApiTokenBox created={list.created} onDismiss={list.dismissCreated} />}
      <ResultNotice list={list} />
      {list.creating && <CreateApiTokenForm onCreated={list.showCreated} onCancel={list.closeForm} />}
      <DataTable
        caption="API tokens, newest first"
        columns={columns}
        rows={tokens.data}
        rowKey={(t) => t.id}
        loading={tokens.isFetching}
        error={tokens.error?.message}
        empty="No API tokens yet. Create one for a pipeline or a script."
      />
      <ConfirmDialog
        {...revoking.dialog(revoke)}
        title={`Revoke “${revoking.row?.name ?? ""}”?`}
        confirmLabel="Revoke token"
        tone="danger"
        onConfirm={() => revoking.row && revoke.mutate({ id: revoking.row.id })}
      >
        <p>
          Every call made with <code>{revoking.row?.prefix}…</code> is refused from now on, whatever uses it. This cannot be
          undone: create a new token to give access again. It stays listed, so that the audit log keeps its name.
        </p>
      </ConfirmDialog>
    </>
  );
}

function NewApiTokenBox({ created, onDismiss }: { created: CreatedApiToken; onDismiss: () => void }) {
  const { record } = created;
  const example = `curl -H "Authorization: Bearer $ORCHARD_TOKEN" ${window.location.origin}/api/v1/me`;
  return (
    <ShownOnce title={`API token “${record.name}” created`} secret={created.token} testId="new-api-token" copyLabel="Copy token" onDismiss={onDismiss}>
      <p className="muted">
        It acts as {record.role === "viewer" ? "a" : "an"} {record.role} on{" "}
        {record.rings === null ? "every ring" : `${record.rings.join(", ")} only`}
        {record.expiresAt ? (
          <>
            , until <DateTime value={record.expiresAt} relative={false} />
          </>
        ) : (
          ", with no expiry"
        )}
        . Try it:
      </p>
      <div className="secret-row">
        <code className="secret example">{example}</code>
        <CopyButton value={example} label="Copy command" />
      </div>
    </ShownOnce>
  );
}
