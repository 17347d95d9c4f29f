"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import { AdminGate } from "@/components/admin-gate";
import { AdminHeader, ResultNotice, ShownOnce, useAdminList, useConfirmRow } from "@/components/admin-list";
import { DataTable } from "@/components/data-table";
import { ConfirmDialog } from "@/components/dialog";
import type { RouterOutputs } from "@/components/router-types";
import { DateTime, LabelChips, RelativeTime, StateBadge, useNow } from "@/components/status";
import { useTRPC } from "@/components/trpc";
import { CreateTokenForm, type CreatedToken } from "./create-token-form";

type Token = RouterOutputs["enrollmentTokens"]["list"][number];
type Status = "active" | "expired" | "used-up" | "revoked";

function statusOf(token: Token, now: number): Status {
  if (token.revokedAt) return "revoked";
  if (token.expiresAt && token.expiresAt.getTime() <= now) return "expired";
  if (token.maxUses !== null && token.uses >= token.maxUses) return "used-up";
  return "active";
}

const STATUS_BADGE: Record<Status, { tone: "good" | "warn" | "bad" | "neutral"; label: string }> = {
  active: { tone: "good", label: "Active" },
  expired: { tone: "warn", label: "Expired" },
  "used-up": { tone: "neutral", label: "Used up" },
  revoked: { tone: "bad", label: "Revoked" },
};

export function EnrollmentTokensView() {
  return (
    <AdminGate what="Enrollment tokens">
      <TokensAdmin />
    </AdminGate>
  );
}

function TokensAdmin() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const now = useNow();
  const tokens = useQuery(trpc.enrollmentTokens.list.queryOptions());
  const list = useAdminList<CreatedToken>();
  const revoking = useConfirmRow<Token>();
  const revoke = useMutation(
    trpc.enrollmentTokens.revoke.mutationOptions({
      onSuccess: async (token) => {
        await queryClient.invalidateQueries(trpc.enrollmentTokens.pathFilter());
        revoking.done();
        list.setResult(`Revoked “${token.name}” (${token.prefix}…). Machines that enrolled with it keep working.`);
      },
    }),
  );

  const columns: ColumnDef<Token, unknown>[] = [
    {
      id: "name",
      header: "Name",
      cell: ({ row }) => (
        <span>
          <strong>{row.original.name}</strong>
          {Object.keys((row.original.labels as object) ?? {}).length > 0 && (
            <span className="block">
              <LabelChips labels={row.original.labels} />
            </span>
          )}
        </span>
      ),
    },
    {
      id: "status",
      header: "Status",
      cell: ({ row }) => {
        const badge = STATUS_BADGE[statusOf(row.original, now)];
        return <StateBadge tone={badge.tone}>{badge.label}</StateBadge>;
      },
    },
    { id: "prefix", header: "Token", cell: ({ row }) => <code>{row.original.prefix}…</code> },
    { id: "ring", header: "Ring", cell: ({ row }) => row.original.ring?.name ?? <span className="muted">none</span> },
    {
      id: "uses",
      header: "Uses",
      cell: ({ row }) => (
        <span className="nowrap">
          {row.original.uses} / {row.original.maxUses ?? "∞"}
        </span>
      ),
    },
    {
      id: "expiresAt",
      header: "Expires",
      cell: ({ row }) => (row.original.expiresAt ? <DateTime value={row.original.expiresAt} stacked /> : <span className="muted">never</span>),
    },
    { id: "lastUsedAt", header: "Last used", cell: ({ row }) => <RelativeTime value={row.original.lastUsedAt} /> },
    {
      id: "createdBy",
      header: "Created",
      cell: ({ row }) => (
        <span>
          <RelativeTime value={row.original.createdAt} />
          <span className="block muted">by {row.original.createdBy?.email ?? "the system or CLI"}</span>
        </span>
      ),
    },
    {
      id: "actions",
      header: "Actions",
      cell: ({ row }) =>
        statusOf(row.original, now) !== "active" ? null : (
          <button type="button" className="danger-outline" onClick={() => revoking.ask(row.original)}>
            Revoke…
          </button>
        ),
    },
  ];

  return (
    <>
      <AdminHeader title="Enrollment tokens" newLabel="New enrollment token" list={list}>
        An agent trades an enrollment token for its own machine token, once per machine.
      </AdminHeader>
      {list.created && <NewTokenBox created={list.created} onDismiss={list.dismissCreated} />}
      <ResultNotice list={list} />
      {list.creating && <CreateTokenForm onCreated={list.showCreated} onCancel={list.closeForm} />}
      <DataTable
        caption="Enrollment tokens, newest first"
        columns={columns}
        rows={tokens.data}
        rowKey={(t) => t.id}
        loading={tokens.isFetching}
        error={tokens.error?.message}
        empty="No enrollment tokens yet. Create one to enroll machines."
      />
      {tokens.data && tokens.data.length >= 500 && <p className="muted">Showing the newest 500 tokens.</p>}
      <ConfirmDialog
        {...revoking.dialog(revoke)}
        title={`Revoke “${revoking.row?.name ?? ""}”?`}
        confirmLabel="Revoke token"
        tone="danger"
        onConfirm={() => revoking.row && revoke.mutate({ id: revoking.row.id })}
      >
        <p>
          No new machine can enroll with <code>{revoking.row?.prefix}…</code> after this. Machines that already enrolled with
          it keep their own tokens and keep working.
        </p>
      </ConfirmDialog>
    </>
  );
}

function NewTokenBox({ created, onDismiss }: { created: CreatedToken; onDismiss: () => void }) {
  return (
    <ShownOnce title={`Enrollment token “${created.record.name}” created`} secret={created.token} testId="new-token" copyLabel="Copy token" onDismiss={onDismiss}>
      <p className="muted">
        Give it to the agent as <code>ORCHARD_ENROLLMENT_TOKEN</code>
        {created.record.ring ? ` — machines join ring ${created.record.ring.name}` : ""}
        {created.record.maxUses ? `, up to ${created.record.maxUses} machines` : ""}
        {created.record.expiresAt ? "" : ", no expiry"}.
      </p>
    </ShownOnce>
  );
}
