"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useId, useState } from "react";
import { Field } from "@/components/field";
import { invalidIf, problemOf } from "@/components/format";
import { ErrorNotice } from "@/components/notice";
import { useTRPC } from "@/components/trpc";

export function AddSourceForm({ onAdded, onCancel }: { onAdded: (message: string) => void; onCancel: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const listId = useId();
  const branches = useQuery(trpc.releases.branches.queryOptions());
  const [keyType, setKeyType] = useState<"ed25519" | "gpg">("ed25519");
  const add = useMutation(
    trpc.sources.add.mutationOptions({
      onSuccess: async (source) => {
        await queryClient.invalidateQueries(trpc.sources.pathFilter());
        onAdded(`Added source ${source.name}: it is read within seconds, then every ${Math.round(source.pollIntervalSeconds / 60)} min.`);
      },
    }),
  );
  const problem = problemOf(add.error);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const text = (name: string) => String(form.get(name) ?? "").trim();
    const branch = text("branch");
    add.mutate({
      name: text("name"),
      branch,
      config: { kind: "ostree", url: text("url"), ref: text("ref") || branch, key: { type: keyType, publicKey: text("publicKey") } },
      pollIntervalSeconds: Number(text("interval")) * 60,
    });
  }

  return (
    <form className="card form-card" onSubmit={submit} aria-labelledby="add-source-title">
      <h2 id="add-source-title">Add an ostree repository</h2>
      <div className="form-grid">
        <label>
          Name
          <input name="name" required placeholder="exampleos-stable" autoComplete="off" {...invalidIf(problem, "name")} />
        </label>
        <label>
          Branch
          <input name="branch" required list={listId} placeholder="exampleos/x86_64/stable" autoComplete="off" {...invalidIf(problem, "branch")} />
          <datalist id={listId}>
            {(branches.data ?? []).map((b) => (
              <option key={b.ref} value={b.ref} />
            ))}
          </datalist>
        </label>
        <Field label="Repository URL" hint="http(s):// or file://; Flatpak repositories too" className="span-2">
          {(field) => <input {...field} name="url" required placeholder="https://ostree.example.com/repo" autoComplete="off" {...invalidIf(problem, "config.url")} />}
        </Field>
        <Field label="Ref in the repository" hint="empty: the branch; app/… and runtime/… for Flatpak" className="span-2">
          {(field) => <input {...field} name="ref" placeholder="exampleos/x86_64/stable" autoComplete="off" {...invalidIf(problem, "config.ref")} />}
        </Field>
        <label>
          Key
          <select value={keyType} onChange={(e) => setKeyType(e.target.value as "ed25519" | "gpg")}>
            <option value="ed25519">ed25519 (ostree sign)</option>
            <option value="gpg">GPG</option>
          </select>
        </label>
        <label>
          Read every (minutes)
          <input name="interval" type="number" min={1} max={10080} defaultValue={5} required {...invalidIf(problem, "pollIntervalSeconds")} />
        </label>
        <Field
          label={keyType === "gpg" ? "GPG public key (armored)" : "ed25519 public key"}
          hint={keyType === "gpg" ? "-----BEGIN PGP PUBLIC KEY BLOCK----- …" : "base64 of its 32 bytes, as ostree sign --verify takes it"}
          className="span-all"
        >
          {(field) =>
            keyType === "gpg" ? (
              <textarea {...field} name="publicKey" rows={4} required className="mono" spellCheck={false} {...invalidIf(problem, "config.key.publicKey")} />
            ) : (
              <input {...field} name="publicKey" required className="mono" spellCheck={false} autoComplete="off" {...invalidIf(problem, "config.key.publicKey")} />
            )
          }
        </Field>
      </div>
      <ErrorNotice error={problem?.message} />
      <div className="form-actions">
        <button type="submit" className="primary" disabled={add.isPending}>
          {add.isPending ? "Adding…" : "Add source"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
