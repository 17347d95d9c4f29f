"use client";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Field } from "@/components/field";
import { invalidIf, problemOf } from "@/components/format";
import { FormFooter } from "@/components/notice";
import type { RouterOutputs } from "@/components/router-types";
import { useTRPC } from "@/components/trpc";
import { WEBHOOK_EVENT_KINDS, type WebhookEventKind } from "@/server/vocabulary";

export type CreatedWebhook = RouterOutputs["webhooks"]["create"];

/** What each event kind means, in an operator's words. */
export const EVENT_LABELS: Record<WebhookEventKind, string> = {
  "rollout.started": "Rollout started",
  "rollout.wave_opened": "Wave opened",
  "rollout.paused": "Rollout paused (with the reason)",
  "rollout.resumed": "Rollout resumed",
  "rollout.completed": "Rollout completed",
  "rollout.aborted": "Rollout aborted",
  "rollout.reverted": "Rollout reverted",
  "release.braked": "Release braked (emergency brake)",
  "machine.rolled_back": "Machine rolled back",
  "machine.dark": "Machine went dark",
  "machine.failed": "Machine failed",
  "machine.enrolled": "Machine enrolled",
  "machine.retired": "Machine retired",
};

const GROUPS: { legend: string; kinds: WebhookEventKind[] }[] = [
  { legend: "Rollouts", kinds: WEBHOOK_EVENT_KINDS.filter((k) => k.startsWith("rollout.") || k.startsWith("release.")) },
  { legend: "Machines", kinds: WEBHOOK_EVENT_KINDS.filter((k) => k.startsWith("machine.")) },
];

export function CreateWebhookForm({ onCreated, onCancel }: { onCreated: (created: CreatedWebhook) => void; onCancel: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [events, setEvents] = useState<Set<WebhookEventKind>>(
    () => new Set(WEBHOOK_EVENT_KINDS.filter((k) => k.startsWith("rollout.") || k.startsWith("release."))),
  );
  const create = useMutation(
    trpc.webhooks.create.mutationOptions({
      onSuccess: async (created) => {
        await queryClient.invalidateQueries(trpc.webhooks.pathFilter());
        onCreated(created);
      },
    }),
  );
  const problem = problemOf(create.error);
  const message = problem?.message;

  function toggle(kind: WebhookEventKind, on: boolean) {
    const next = new Set(events);
    if (on) next.add(kind);
    else next.delete(kind);
    setEvents(next);
  }

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    create.mutate({
      url: String(form.get("url") ?? "").trim(),
      description: String(form.get("description") ?? "").trim(),
      events: WEBHOOK_EVENT_KINDS.filter((k) => events.has(k)),
    });
  }

  return (
    <form className="card form-card" onSubmit={submit} aria-labelledby="new-webhook-form-title">
      <h2 id="new-webhook-form-title">New webhook</h2>
      <div className="form-grid">
        <Field label="URL" hint="where the console POSTs each event, signed (Standard Webhooks)" className="span-all">
          {(field) => (
            <input
              {...field}
              name="url"
              type="url"
              required
              maxLength={2000}
              placeholder="https://chat.example.com/hooks/orchard"
              autoComplete="off"
              spellCheck={false}
              {...invalidIf(problem, "url")}
            />
          )}
        </Field>
        <Field label="Description (optional)" hint="who reads it, for the list" className="span-all">
          {(field) => <input {...field} name="description" maxLength={200} placeholder="On-call channel" {...invalidIf(problem, "description")} />}
        </Field>
        {GROUPS.map((group) => (
          <fieldset key={group.legend} className="radio-group span-2">
            <legend>{group.legend}</legend>
            {group.kinds.map((kind) => (
              <label key={kind} className="check-row">
                <input type="checkbox" name="events" value={kind} checked={events.has(kind)} onChange={(e) => toggle(kind, e.target.checked)} />
                {EVENT_LABELS[kind]} <code className="muted">{kind}</code>
              </label>
            ))}
          </fieldset>
        ))}
      </div>
      <FormFooter error={message} pending={create.isPending} label="Subscribe" pendingLabel="Subscribing…" disabled={events.size === 0} onCancel={onCancel} />
    </form>
  );
}
