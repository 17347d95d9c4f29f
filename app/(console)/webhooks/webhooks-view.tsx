"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import { useState } from "react";
import { AdminGate } from "@/components/admin-gate";
import { AdminHeader, ResultNotice, ShownOnce, useAdminList, useConfirmRow } from "@/components/admin-list";
import { DataTable } from "@/components/data-table";
import { ConfirmDialog } from "@/components/dialog";
import { ErrorNotice } from "@/components/notice";
import type { RouterOutputs } from "@/components/router-types";
import { RelativeTime, StateBadge } from "@/components/status";
import { useTRPC } from "@/components/trpc";
import { isWebhookEventKind, type WebhookDeliveryState } from "@/server/vocabulary";
import { CreateWebhookForm, EVENT_LABELS } from "./create-webhook-form";

type Subscription = RouterOutputs["webhooks"]["list"][number];
type Delivery = RouterOutputs["webhooks"]["deliveries"]["deliveries"][number];

const DELIVERY_BADGE: Record<WebhookDeliveryState, { tone: "good" | "warn" | "bad"; label: string }> = {
  pending: { tone: "warn", label: "Pending" },
  delivered: { tone: "good", label: "Delivered" },
  failed: { tone: "bad", label: "Failed" },
};

function DeliveryBadge({ state }: { state: string }) {
  const badge = DELIVERY_BADGE[state as WebhookDeliveryState];
  return <StateBadge tone={badge.tone}>{badge.label}</StateBadge>;
}

/** A signing secret shown once: of a new subscription, or a new secret of one. */
interface ShownSecret {
  title: string;
  secret: string;
}

const eventLabel = (kind: string) => (isWebhookEventKind(kind) ? EVENT_LABELS[kind] : kind === "webhook.test" ? "Test event" : kind);

export function WebhooksView() {
  return (
    <AdminGate what="Webhooks">
      <WebhooksAdmin />
    </AdminGate>
  );
}

function WebhooksAdmin() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const subscriptions = useQuery({ ...trpc.webhooks.list.queryOptions(), refetchInterval: 5000 });
  const list = useAdminList<ShownSecret>();
  const [selected, setSelected] = useState<string | null>(null);
  const removing = useConfirmRow<Subscription>();
  const rotating = useConfirmRow<Subscription>();
  const refresh = () => queryClient.invalidateQueries(trpc.webhooks.pathFilter());
  const sendTest = useMutation(
    trpc.webhooks.sendTest.mutationOptions({
      onSuccess: async (delivery, input) => {
        await refresh();
        setSelected(input.id);
        list.setResult(`Test event ${delivery.eventId} queued: its delivery shows below.`);
      },
    }),
  );
  const update = useMutation(trpc.webhooks.update.mutationOptions({ onSuccess: refresh }));
  const rotate = useMutation(
    trpc.webhooks.rotateSecret.mutationOptions({
      onSuccess: async ({ subscription, secret }) => {
        await refresh();
        rotating.done();
        list.showCreated({ title: `New signing secret for ${subscription.url}`, secret });
      },
    }),
  );
  const remove = useMutation(
    trpc.webhooks.remove.mutationOptions({
      onSuccess: async (removed) => {
        await refresh();
        if (selected === removed.id) setSelected(null);
        removing.done();
        list.setResult(`Webhook removed${removed.pendingDropped ? `; ${removed.pendingDropped} undelivered message(s) dropped` : ""}.`);
      },
    }),
  );

  const columns: ColumnDef<Subscription, unknown>[] = [
    {
      id: "url",
      header: "URL",
      cell: ({ row }) => (
        <span>
          <code className="break">{row.original.url}</code>
          {row.original.description && <span className="block muted">{row.original.description}</span>}
        </span>
      ),
    },
    {
      id: "events",
      header: "Events",
      cell: ({ row }) => (
        <ul className="chips" aria-label="Events">
          {row.original.events.map((kind) => (
            <li key={kind} className="chip" title={eventLabel(kind)}>
              {kind}
            </li>
          ))}
        </ul>
      ),
    },
    {
      id: "status",
      header: "Status",
      cell: ({ row }) =>
        row.original.enabled ? <StateBadge tone="good">Enabled</StateBadge> : <StateBadge tone="neutral">Disabled</StateBadge>,
    },
    {
      id: "last",
      header: "Last delivery",
      cell: ({ row }) => {
        const last = row.original.lastDelivery;
        if (!last) return <span className="muted">none yet</span>;
        return (
          <span>
            <DeliveryBadge state={last.state} /> {last.status !== null && <code className="nowrap">HTTP {last.status}</code>}
            <span className="block muted">
              {eventLabel(last.kind)}, <RelativeTime value={last.at} />
            </span>
          </span>
        );
      },
    },
    {
      id: "queue",
      header: "Queue",
      cell: ({ row }) => (
        <span className="nowrap">
          {row.original.pending} pending
          {row.original.failed > 0 && <span className="block">{row.original.failed} failed</span>}
        </span>
      ),
    },
    {
      id: "actions",
      header: "Actions",
      cell: ({ row }) => {
        const s = row.original;
        return (
          <span className="row-actions">
            <button type="button" aria-pressed={selected === s.id} onClick={() => setSelected(selected === s.id ? null : s.id)}>
              Deliveries
            </button>
            <button type="button" disabled={!s.enabled || sendTest.isPending} onClick={() => sendTest.mutate({ id: s.id })}>
              Send a test event
            </button>
            <button type="button" disabled={update.isPending} onClick={() => update.mutate({ id: s.id, enabled: !s.enabled })}>
              {s.enabled ? "Disable" : "Enable"}
            </button>
            <button type="button" onClick={() => rotating.ask(s)}>
              New secret…
            </button>
            <button type="button" className="danger-outline" onClick={() => removing.ask(s)}>
              Remove…
            </button>
          </span>
        );
      },
    },
  ];

  const chosen = subscriptions.data?.find((s) => s.id === selected) ?? null;

  return (
    <>
      <AdminHeader title="Webhooks" newLabel="New webhook" list={list}>
        Orchard POSTs rollout, release and machine events to these URLs, signed as Standard Webhooks say, in order per
        rollout, retrying for 24 hours.
      </AdminHeader>
      {list.created && <NewSecretBox shown={list.created} onDismiss={list.dismissCreated} />}
      <ResultNotice list={list} />
      <ErrorNotice error={sendTest.error?.message ?? update.error?.message} />
      {list.creating && (
        <CreateWebhookForm
          onCreated={(created) => list.showCreated({ title: "Webhook created: its signing secret", secret: created.secret })}
          onCancel={list.closeForm}
        />
      )}
      <DataTable
        caption="Webhook subscriptions, newest first"
        columns={columns}
        rows={subscriptions.data}
        rowKey={(s) => s.id}
        loading={subscriptions.isFetching && !subscriptions.data}
        error={subscriptions.error?.message}
        empty="No webhooks yet. Subscribe a URL to be told when a rollout pauses at 3 a.m."
      />
      {chosen && <Deliveries subscription={chosen} />}
      <ConfirmDialog
        {...rotating.dialog(rotate)}
        title="Give this webhook a new signing secret?"
        confirmLabel="Make a new secret"
        onConfirm={() => rotating.row && rotate.mutate({ id: rotating.row.id })}
      >
        <p>
          The current secret stops working at once: give the new one, shown once, to the receiver at{" "}
          <code className="break">{rotating.row?.url}</code>. Until it has it, it refuses the deliveries, which are retried
          (for 24 hours) and signed with the new secret.
        </p>
        <p className="muted">
          Do this when the secret may have leaked, or when the console lost the encryption key it was sealed under (its
          deliveries then fail with “sealed under encryption key …”).
        </p>
      </ConfirmDialog>
      <ConfirmDialog
        {...removing.dialog(remove)}
        title="Remove this webhook?"
        confirmLabel="Remove webhook"
        tone="danger"
        onConfirm={() => removing.row && remove.mutate({ id: removing.row.id })}
      >
        <p>
          <code className="break">{removing.row?.url}</code> gets no more events; messages not delivered yet
          {removing.row?.pending ? ` (${removing.row.pending})` : ""} are dropped with its delivery history.
        </p>
      </ConfirmDialog>
    </>
  );
}

function Deliveries({ subscription }: { subscription: Subscription }) {
  const trpc = useTRPC();
  const deliveries = useQuery({ ...trpc.webhooks.deliveries.queryOptions({ id: subscription.id, limit: 50 }), refetchInterval: 3000 });
  const columns: ColumnDef<Delivery, unknown>[] = [
    {
      id: "event",
      header: "Event",
      cell: ({ row }) => (
        <span>
          {eventLabel(row.original.kind)}
          <span className="block muted">
            <code>{row.original.eventId}</code>
          </span>
        </span>
      ),
    },
    { id: "state", header: "State", cell: ({ row }) => <DeliveryBadge state={row.original.state} /> },
    { id: "attempts", header: "Attempts", cell: ({ row }) => row.original.attempts },
    {
      id: "answer",
      header: "Last answer",
      cell: ({ row }) => {
        const last = row.original.tries[0];
        if (!last) return <span className="muted">not tried yet</span>;
        return (
          <span>
            {last.status !== null ? <code>HTTP {last.status}</code> : <span className="muted">no answer</span>}{" "}
            <span className="muted nowrap">in {last.durationMs} ms</span>
            {(last.error ?? last.response) && <span className="block answer-excerpt">{last.error ?? last.response}</span>}
          </span>
        );
      },
    },
    {
      id: "when",
      header: "Queued",
      cell: ({ row }) => (
        <span>
          <RelativeTime value={row.original.createdAt} />
          {row.original.state === "pending" && row.original.attempts > 0 && (
            <span className="block muted">
              next try <RelativeTime value={row.original.nextAttemptAt} />
            </span>
          )}
        </span>
      ),
    },
  ];
  return (
    <section className="card deliveries" aria-labelledby="deliveries-title">
      <div className="card-header">
        <h2 id="deliveries-title">Recent deliveries</h2>
        <code className="break muted">{subscription.url}</code>
      </div>
      <DataTable
        caption={`Recent deliveries to ${subscription.url}, newest first`}
        columns={columns}
        rows={deliveries.data?.deliveries}
        rowKey={(d) => d.id}
        loading={deliveries.isFetching && !deliveries.data}
        error={deliveries.error?.message}
        empty="Nothing sent yet: send a test event to try the receiver."
      />
    </section>
  );
}

function NewSecretBox({ shown, onDismiss }: { shown: ShownSecret; onDismiss: () => void }) {
  return (
    <ShownOnce
      title={shown.title}
      secret={shown.secret}
      testId="new-secret"
      copyLabel="Copy secret"
      warning={<strong>Copy it now: it will not be shown again.</strong>}
      onDismiss={onDismiss}
    >
      <p className="muted">
        The receiver verifies each request&apos;s <code>webhook-signature</code> with it, for example with{" "}
        <code>new Webhook(secret).verify(body, headers)</code> from the <code>standardwebhooks</code> library, and may
        drop a <code>webhook-id</code> it has seen (a message can come twice).
      </p>
    </ShownOnce>
  );
}
