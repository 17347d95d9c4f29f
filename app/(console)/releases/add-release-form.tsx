"use client";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useId, useState } from "react";
import { invalidIf, problemOf } from "@/components/format";
import { Field } from "@/components/field";
import { FormFooter } from "@/components/notice";
import { useTRPC } from "@/components/trpc";

export function AddReleaseForm({
  branches,
  defaultRef,
  onAdded,
  onCancel,
}: {
  branches: string[];
  defaultRef?: string;
  onAdded: (message: string) => void;
  onCancel: () => void;
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const listId = useId();
  const [checksum, setChecksum] = useState("");
  const add = useMutation(
    trpc.releases.add.mutationOptions({
      onSuccess: async (release) => {
        await queryClient.invalidateQueries(trpc.releases.pathFilter());
        onAdded(`Added release ${release.version} of ${release.branch.ref}. Start a staged rollout of it with “Roll out…” in its row.`);
      },
    }),
  );
  const problem = problemOf(add.error);
  const message = problem?.message;
  const cleanChecksum = checksum.trim().toLowerCase();
  const checksumHint =
    cleanChecksum && !/^[0-9a-f]{64}$/.test(cleanChecksum)
      ? `${cleanChecksum.length} of 64 hex characters`
      : "64 hex characters: the output of ostree rev-parse";

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const notes = String(form.get("notes") ?? "").trim();
    add.mutate({
      ref: String(form.get("ref") ?? "").trim(),
      version: String(form.get("version") ?? "").trim(),
      checksum: cleanChecksum,
      notes: notes || undefined,
    });
  }

  return (
    <form className="card form-card" onSubmit={submit} aria-labelledby="add-release-title">
      <h2 id="add-release-title">Add release</h2>
      <div className="form-grid">
        <label>
          Branch (ostree ref)
          <input name="ref" required list={listId} defaultValue={defaultRef} placeholder="exampleos/x86_64/stable" autoComplete="off" {...invalidIf(problem, "ref")} />
          <datalist id={listId}>
            {branches.map((b) => (
              <option key={b} value={b} />
            ))}
          </datalist>
        </label>
        <label>
          Version
          <input name="version" required placeholder="2026.11.1" autoComplete="off" {...invalidIf(problem, "version")} />
        </label>
        <Field label="Commit checksum" hint={checksumHint} className="span-2">
          {(field) => (
            <input
              {...field}
              name="checksum"
              required
              className="mono"
              value={checksum}
              onChange={(e) => setChecksum(e.target.value)}
              placeholder="e.g. 3bfc2695…"
              autoComplete="off"
              spellCheck={false}
              {...invalidIf(problem, "checksum")}
            />
          )}
        </Field>
        <label className="span-all">
          Notes (optional)
          <textarea name="notes" rows={3} maxLength={10000} placeholder="What changed in this release" {...invalidIf(problem, "notes")} />
        </label>
      </div>
      <FormFooter error={message} pending={add.isPending} label="Add release" pendingLabel="Adding…" onCancel={onCancel} />
    </form>
  );
}
