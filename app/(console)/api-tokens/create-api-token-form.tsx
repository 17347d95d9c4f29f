"use client";
// An admin's form for a new API token: its name, role, rings and expiry.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Field } from "@/components/field";
import { invalidIf, optionalInt, problemOf } from "@/components/format";
import { FormFooter } from "@/components/notice";
import { RingScopeField, scopeOf } from "@/components/ring-scope";
import { ROLE_OPTIONS } from "@/components/role-options";
import type { RouterOutputs } from "@/components/router-types";
import { useTRPC } from "@/components/trpc";
import type { Role } from "@/server/vocabulary";

export type CreatedApiToken = RouterOutputs["apiTokens"]["create"];

export function CreateApiTokenForm({ onCreated, onCancel }: { onCreated: (token: CreatedApiToken) => void; onCancel: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const rings = useQuery(trpc.rings.list.queryOptions());
  const [role, setRole] = useState<Role>("operator");
  const [chosen, setChosen] = useState<string[]>([]);
  const create = useMutation(
    trpc.apiTokens.create.mutationOptions({
      onSuccess: async (token) => {
        await queryClient.invalidateQueries(trpc.apiTokens.pathFilter());
        onCreated(token);
      },
    }),
  );
  const problem = problemOf(create.error);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    create.mutate({
      name: String(form.get("name") ?? "").trim(),
      role,
      rings: role === "admin" ? undefined : (scopeOf(chosen) ?? undefined),
      expiresInDays: optionalInt(form.get("expiresInDays")),
    });
  }

  return (
    <form className="card form-card" onSubmit={submit} aria-labelledby="new-api-token-form-title">
      <h2 id="new-api-token-form-title">New API token</h2>
      <div className="form-grid">
        <Field label="Name" hint="what uses it, in [a-z0-9._-], such as ci-release">
          {(field) => (
            <input
              {...field}
              name="name"
              required
              maxLength={64}
              placeholder="ci-release"
              autoComplete="off"
              spellCheck={false}
              {...invalidIf(problem, "name")}
            />
          )}
        </Field>
        <Field label="Role" hint={ROLE_OPTIONS.find((r) => r.value === role)?.hint}>
          {(field) => (
            <select {...field} name="role" value={role} onChange={(e) => setRole(e.target.value as Role)} {...invalidIf(problem, "role")}>
              {ROLE_OPTIONS.map((r) => (
                <option key={r.value} value={r.value}>
                  {r.label}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Expires after (days)" hint="empty: it never expires; at most 3660">
          {(field) => (
            <input
              {...field}
              name="expiresInDays"
              type="number"
              min={1}
              max={3660}
              placeholder="never"
              {...invalidIf(problem, "expiresInDays")}
            />
          )}
        </Field>
        <div className="span-all">
          <RingScopeField
            rings={rings.data?.map((r) => r.name)}
            value={chosen}
            onChange={setChosen}
            admin={role === "admin"}
            problem={problem}
          />
        </div>
      </div>
      <FormFooter error={problem?.message} pending={create.isPending} label="Create token" pendingLabel="Creating…" onCancel={onCancel} />
    </form>
  );
}
