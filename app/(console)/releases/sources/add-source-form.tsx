"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useId, useState } from "react";
import { Field } from "@/components/field";
import { invalidIf, problemOf } from "@/components/format";
import { FormFooter } from "@/components/notice";
import { useTRPC } from "@/components/trpc";

type Kind = "ostree" | "oci";

export function AddSourceForm({ onAdded, onCancel }: { onAdded: (message: string) => void; onCancel: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const listId = useId();
  const branches = useQuery(trpc.releases.branches.queryOptions());
  const [kind, setKind] = useState<Kind>("ostree");
  const [keyType, setKeyType] = useState<"ed25519" | "gpg">("ed25519");
  const [tagMode, setTagMode] = useState<"tag" | "tagPattern">("tagPattern");
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
    /** An optional field: absent when empty, so that the server's "give both or neither" rules read it as not given. */
    const given = (name: string) => text(name) || undefined;
    const branch = text("branch");
    const config =
      kind === "ostree"
        ? { kind: "ostree" as const, url: text("url"), ref: text("ref") || branch, key: { type: keyType, publicKey: text("publicKey") } }
        : {
            kind: "oci" as const,
            registry: text("registry"),
            repository: text("repository"),
            ...(tagMode === "tag" ? { tag: text("tag") } : { tagPattern: text("tag") }),
            username: given("username"),
            // A password is taken as typed: spaces may be part of it.
            password: String(form.get("password") ?? "") || undefined,
            publicKey: given("publicKey"),
          };
    add.mutate({ name: text("name"), branch, config, pollIntervalSeconds: Number(text("interval")) * 60 });
  }

  return (
    <form className="card form-card" onSubmit={submit} aria-labelledby="add-source-title">
      <h2 id="add-source-title">{kind === "ostree" ? "Add an ostree repository" : "Add a container registry repository"}</h2>
      <fieldset className="radio-group kind-choice">
        <legend>Kind</legend>
        <label className="radio">
          <input type="radio" name="kind" checked={kind === "ostree"} onChange={() => setKind("ostree")} /> ostree repository (ostree, rpm-ostree, Flatpak)
        </label>
        <label className="radio">
          <input type="radio" name="kind" checked={kind === "oci"} onChange={() => setKind("oci")} /> Container registry (bootc images)
        </label>
      </fieldset>
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
        {kind === "ostree" ? (
          <>
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
          </>
        ) : (
          <>
            <Field label="Registry URL" hint="scheme, host and port only, such as https://quay.io" className="span-2">
              {(field) => <input {...field} name="registry" required placeholder="https://registry.example.com" autoComplete="off" {...invalidIf(problem, "config.registry")} />}
            </Field>
            <Field label="Repository" hint="without the host: example/os" className="span-2">
              {(field) => <input {...field} name="repository" required placeholder="example/os" autoComplete="off" {...invalidIf(problem, "config.repository")} />}
            </Field>
            <label>
              Releases are
              <select value={tagMode} onChange={(e) => setTagMode(e.target.value as "tag" | "tagPattern")}>
                <option value="tagPattern">Tags matching a pattern</option>
                <option value="tag">One tag (each new image)</option>
              </select>
            </label>
            <Field label={tagMode === "tag" ? "Tag" : "Tag pattern"} hint={tagMode === "tag" ? "such as stable" : "* any characters, ? one: 41.* or stable-*"}>
              {(field) => (
                <input
                  {...field}
                  name="tag"
                  required
                  placeholder={tagMode === "tag" ? "stable" : "41.*"}
                  autoComplete="off"
                  {...invalidIf(problem, tagMode === "tag" ? "config.tag" : "config.tagPattern")}
                />
              )}
            </Field>
            <Field label="User name" hint="empty for a public repository">
              {(field) => <input {...field} name="username" autoComplete="off" {...invalidIf(problem, "config.username")} />}
            </Field>
            <Field label="Password or token" hint="stored sealed, never shown again">
              {(field) => <input {...field} name="password" type="password" autoComplete="new-password" {...invalidIf(problem, "config.password")} />}
            </Field>
          </>
        )}
        <label>
          Read every (minutes)
          <input name="interval" type="number" min={1} max={10080} defaultValue={5} required {...invalidIf(problem, "pollIntervalSeconds")} />
        </label>
        {kind === "ostree" ? (
          <Field
            key={keyType}
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
        ) : (
          <Field
            label="Cosign public key (PEM)"
            hint="-----BEGIN PUBLIC KEY----- … as cosign generate-key-pair writes; empty: signatures are not checked and every image is sendable"
            className="span-all"
          >
            {(field) => <textarea {...field} name="publicKey" rows={4} className="mono" spellCheck={false} {...invalidIf(problem, "config.publicKey")} />}
          </Field>
        )}
      </div>
      <FormFooter error={problem?.message} pending={add.isPending} label="Add source" pendingLabel="Adding…" onCancel={onCancel} />
    </form>
  );
}
