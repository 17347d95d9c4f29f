"use client";
// API tokens (service accounts) for admins: the list with each token's state
// as the server gives it, a form for a new one (its secret shown once), and
// revoking.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { useState } from "react";
import { CopyButton } from "@/components/copy-button";
import { AdminGate } from "@/components/admin-gate";
import { DataTable } from "@/components/data-table";
import { ConfirmDialog } from "@/components/dialog";
import { SuccessNotice } from "@/components/notice";
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
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedApiToken | null>(null);
  const [revoking, setRevoking] = useState<Token | null>(null);
  const [result, setResult] = useState<string | null>(null);
  const revoke = useMutation(
    trpc.apiTokens.revoke.mutationOptions({
      onSuccess: async (token) => {
        await queryClient.invalidateQueries(trpc.apiTokens.pathFilter());
        setRevoking(null);
        setResult(`Revoked “${token.name}” (${token.prefix}…): every call with it is refused from now on.`);
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
          <button type="button" className="danger-outline" onClick={() => setRevoking(row.original)}>
            Revoke…
          </button>
        ) : null,
    },
  ];

  return (
    <>
      <div className="page-header">
        <h1>API tokens</h1>
        <div className="actions">
          <button
            type="button"
            className="primary"
            aria-expanded={creating}
            onClick={() => {
              setCreating(!creating);
              setCreated(null);
            }}
          >
            {creating ? "Close" : "New API token"}
          </button>
        </div>
      </div>
      <p className="page-intro">
        An API token lets a pipeline or a script drive this console through its REST API: register the release it built,
        start a rollout, wait for it. It acts with its role, on every ring or on the rings you choose, and the audit log
        names it. Send it as <code>Authorization: Bearer orch_a_…</code>; the <Link href="/api">API reference</Link> lists
        every call.
      </p>
      {created && <NewApiTokenBox created={created} onDismiss={() => setCreated(null)} />}
      {result && <SuccessNotice onDismiss={() => setResult(null)}>{result}</SuccessNotice>}
      {creating && (
        <CreateApiTokenForm
          onCreated={(token) => {
            setCreating(false);
            setResult(null);
            setCreated(token);
          }}
          onCancel={() => setCreating(false)}
        />
      )}
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
        open={revoking !== null}
        title={`Revoke “${revoking?.name ?? ""}”?`}
        confirmLabel="Revoke token"
        tone="danger"
        busy={revoke.isPending}
        error={revoke.error?.message}
        onClose={() => {
          revoke.reset();
          setRevoking(null);
        }}
        onConfirm={() => revoking && revoke.mutate({ id: revoking.id })}
      >
        <p>
          Every call made with <code>{revoking?.prefix}…</code> is refused from now on, whatever uses it. This cannot be
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
    <section className="secret-box" aria-labelledby="new-api-token-title" role="status">
      <h2 id="new-api-token-title">API token “{record.name}” created</h2>
      <p className="secret-warning">
        <strong>Copy it now: it will not be shown again.</strong> Orchard keeps only a hash of it.
      </p>
      <div className="secret-row">
        <code className="secret" data-testid="new-api-token">
          {created.token}
        </code>
        <CopyButton value={created.token} label="Copy token" />
      </div>
      <p className="muted">
        It acts as {record.role === "viewer" ? "a" : "an"} {record.role} on{" "}
        {record.rings === null ? "every ring" : `${record.rings.join(", ")} only`}
        {record.expiresAt ? `, until ${new Date(record.expiresAt).toLocaleString()}` : ", with no expiry"}. Try it:
      </p>
      <div className="secret-row">
        <code className="secret example">{example}</code>
        <CopyButton value={example} label="Copy command" />
      </div>
      <button type="button" onClick={onDismiss}>
        I have copied it
      </button>
    </section>
  );
}
