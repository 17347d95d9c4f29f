"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { invalidIf, optionalInt, type Problem, problemOf } from "@/components/format";
import { Field } from "@/components/field";
import { FormFooter } from "@/components/notice";
import type { RouterOutputs } from "@/components/router-types";
import { useTRPC } from "@/components/trpc";

export type CreatedToken = RouterOutputs["enrollmentTokens"]["create"];

const EXPIRY = [
  { value: "3600", label: "1 hour" },
  { value: "86400", label: "24 hours" },
  { value: "604800", label: "7 days" },
  { value: "2592000", label: "30 days" },
  { value: "", label: "Never" },
];

/** Parses "key=value" lines (or comma-separated pairs); returns the labels or the first bad line. */
export function parseLabels(text: string): { labels: Record<string, string> } | { error: string } {
  const labels: Record<string, string> = {};
  for (const raw of text.split(/[\n,]/)) {
    const line = raw.trim();
    if (!line) continue;
    const at = line.indexOf("=");
    if (at <= 0) return { error: `labels: “${line}” is not key=value` };
    labels[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return { labels };
}

export function CreateTokenForm({ onCreated, onCancel }: { onCreated: (token: CreatedToken) => void; onCancel: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const rings = useQuery(trpc.rings.list.queryOptions());
  const [localProblem, setLocalProblem] = useState<Problem | null>(null);
  const create = useMutation(
    trpc.enrollmentTokens.create.mutationOptions({
      onSuccess: async (token) => {
        await queryClient.invalidateQueries(trpc.enrollmentTokens.pathFilter());
        onCreated(token);
      },
    }),
  );
  const problem = localProblem ?? problemOf(create.error);
  const message = problem?.message;

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const parsed = parseLabels(String(form.get("labels") ?? ""));
    if ("error" in parsed) {
      setLocalProblem({ message: parsed.error, field: "labels" });
      return;
    }
    setLocalProblem(null);
    create.mutate({
      name: String(form.get("name") ?? "").trim(),
      ring: String(form.get("ring") ?? "") || undefined,
      expiresInSeconds: optionalInt(form.get("expires")),
      maxUses: optionalInt(form.get("maxUses")),
      labels: Object.keys(parsed.labels).length ? parsed.labels : undefined,
    });
  }

  return (
    <form className="card form-card" onSubmit={submit} aria-labelledby="new-token-form-title">
      <h2 id="new-token-form-title">New enrollment token</h2>
      <div className="form-grid">
        <Field label="Name" hint="what or who the token is for">
          {(field) => (
            <input
              {...field}
              name="name"
              required
              maxLength={100}
              placeholder="Store 12 kiosks"
              autoComplete="off"
              {...invalidIf(problem, "name")}
            />
          )}
        </Field>
        <Field label="Ring" hint="machines that enroll with it join this ring">
          {(field) => (
            <select {...field} name="ring" defaultValue="" {...invalidIf(problem, "ring")}>
              <option value="">No ring</option>
              {rings.data?.map((r) => (
                <option key={r.name} value={r.name}>
                  {r.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        <label>
          Expires after
          <select name="expires" defaultValue="86400" {...invalidIf(problem, "expiresInSeconds")}>
            {EXPIRY.map((e) => (
              <option key={e.label} value={e.value}>
                {e.label}
              </option>
            ))}
          </select>
        </label>
        <Field label="Max uses" hint="how many machines may enroll with it; empty for no limit">
          {(field) => (
            <input {...field} name="maxUses" type="number" min={1} max={1000000} placeholder="unlimited" {...invalidIf(problem, "maxUses")} />
          )}
        </Field>
        <Field
          label="Labels (optional)"
          hint="key=value, one per line or separated by commas; given to every machine that enrolls"
          className="span-all"
        >
          {(field) => (
            <textarea
              {...field}
              name="labels"
              rows={2}
              placeholder={"site=store-12\nrole=kiosk"}
              spellCheck={false}
              className="mono"
              {...invalidIf(problem, "labels")}
            />
          )}
        </Field>
      </div>
      <FormFooter error={message} pending={create.isPending} label="Create token" pendingLabel="Creating…" onCancel={onCancel} />
    </form>
  );
}
