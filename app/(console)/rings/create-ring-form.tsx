"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useId } from "react";
import { invalidIf, optionalInt, problemOf } from "@/components/format";
import { Field } from "@/components/field";
import { FormFooter } from "@/components/notice";
import { useTRPC } from "@/components/trpc";
import type { Ring } from "./rings-view";

export function CreateRingForm({
  rings,
  onCreated,
  onCancel,
}: {
  rings: Ring[];
  onCreated: (name: string) => void;
  onCancel: () => void;
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const listId = useId();
  const branchList = useQuery(trpc.releases.branches.queryOptions());
  const branches = (branchList.data ?? []).map((b) => b.ref);
  const create = useMutation(
    trpc.rings.create.mutationOptions({
      onSuccess: async (ring) => {
        await queryClient.invalidateQueries(trpc.rings.pathFilter());
        await queryClient.invalidateQueries(trpc.releases.branches.queryFilter());
        onCreated(ring.name);
      },
    }),
  );
  const problem = problemOf(create.error);
  const message = problem?.message;

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    create.mutate({
      name: String(form.get("name") ?? "").trim(),
      branch: String(form.get("branch") ?? "").trim(),
      after: String(form.get("after") ?? "") || undefined,
      rebootSlots: optionalInt(form.get("rebootSlots")),
      checkInIntervalSeconds: optionalInt(form.get("checkInIntervalSeconds")),
      rebootLeaseSeconds: optionalInt(form.get("rebootLeaseSeconds")),
    });
  }

  return (
    <form className="card form-card" onSubmit={submit} aria-labelledby="new-ring-title">
      <h2 id="new-ring-title">New ring</h2>
      <div className="form-grid">
        <Field label="Name" hint="1 to 40 lower-case letters, digits and -">
          {(field) => (
            <input
              {...field}
              name="name"
              required
              pattern="[a-z0-9][a-z0-9\-]{0,39}"
              placeholder="canary"
              autoComplete="off"
              {...invalidIf(problem, "name")}
            />
          )}
        </Field>
        <Field label="Branch (ostree ref)" hint="a new branch is created on first use">
          {(field) => (
            <input
              {...field}
              name="branch"
              required
              list={listId}
              placeholder="exampleos/x86_64/stable"
              autoComplete="off"
              {...invalidIf(problem, "branch")}
            />
          )}
        </Field>
        <datalist id={listId}>
          {branches.map((b) => (
            <option key={b} value={b} />
          ))}
        </datalist>
        <label>
          Position
          <select name="after" defaultValue="" {...invalidIf(problem, "after")}>
            <option value="">{rings.length ? "Last" : "First ring"}</option>
            {rings.map((r) => (
              <option key={r.name} value={r.name}>
                after {r.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Reboot slots
          <input name="rebootSlots" type="number" min={1} max={10000} placeholder="1" {...invalidIf(problem, "rebootSlots")} />
        </label>
        <label>
          Check-in interval (s)
          <input name="checkInIntervalSeconds" type="number" min={5} max={86400} placeholder="300" {...invalidIf(problem, "checkInIntervalSeconds")} />
        </label>
        <label>
          Reboot lease (s)
          <input name="rebootLeaseSeconds" type="number" min={30} max={86400} placeholder="900" {...invalidIf(problem, "rebootLeaseSeconds")} />
        </label>
      </div>
      <FormFooter error={message} pending={create.isPending} label="Create ring" pendingLabel="Creating…" onCancel={onCancel} />
    </form>
  );
}
