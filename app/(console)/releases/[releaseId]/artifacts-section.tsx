"use client";
// A release's artifacts (the files it carries) and, for a fleet-wide
// operator, the upload form: the browser computes the file's sha256 with
// crypto.subtle and sends it as X-Checksum-Sha256 with the bytes to
// PUT /api/v1/releases/{id}/artifacts/{name} (the signed-in session counts);
// the console keeps the file only when what arrived matches, and the table
// shows what the console says it stored.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import { type FormEvent, useState } from "react";
import { DataTable } from "@/components/data-table";
import { invalidIf } from "@/components/format";
import { FormFooter, SuccessNotice } from "@/components/notice";
import type { RouterOutputs } from "@/components/router-types";
import { Checksum, DateTime } from "@/components/status";
import { useTRPC } from "@/components/trpc";
import { useMe } from "@/components/use-me";

type Artifact = RouterOutputs["releases"]["artifacts"][number];
interface UploadProblem {
  message: string;
  field?: string;
}

/** Bytes in words: 1.5 MiB. */
export function formatBytes(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

async function sha256Hex(file: File): Promise<string | null> {
  // crypto.subtle exists only on https and localhost, and hashes a whole buffer at once.
  if (!globalThis.crypto?.subtle) return null;
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function ArtifactsSection({ releaseId, version }: { releaseId: string; version: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { canOnFleet } = useMe();
  const operator = canOnFleet("operator");
  const list = useQuery(trpc.releases.artifacts.queryOptions({ releaseId }));
  const [notice, setNotice] = useState<string | null>(null);
  const [pasted, setPasted] = useState("");
  const remove = useMutation(
    trpc.releases.removeArtifact.mutationOptions({
      onSuccess: async ({ removed }) => {
        await queryClient.invalidateQueries(trpc.releases.artifacts.pathFilter());
        setNotice(`Removed ${removed.name}.`);
      },
    }),
  );
  const upload = useMutation({
    mutationFn: async (form: { file: File; name: string; sha256: string }) => {
      const sha256 = (await sha256Hex(form.file)) ?? form.sha256.trim().toLowerCase();
      const res = await fetch(`/api/v1/releases/${encodeURIComponent(releaseId)}/artifacts/${encodeURIComponent(form.name)}`, {
        method: "PUT",
        headers: { "content-type": form.file.type || "application/octet-stream", "x-checksum-sha256": sha256 },
        body: form.file,
      });
      const answer = (await res.json().catch(() => ({ detail: `the console answered ${res.status}` }))) as Artifact & { detail?: string; field?: string };
      if (!res.ok) throw Object.assign(new Error(answer.detail ?? `the console answered ${res.status}`), { field: answer.field });
      return answer;
    },
    onSuccess: async (stored) => {
      await queryClient.invalidateQueries(trpc.releases.artifacts.pathFilter());
      setNotice(`Stored ${stored.name}: ${formatBytes(stored.size)}, sha256 ${stored.sha256} (checked by the console).`);
    },
  });
  const problem: UploadProblem | null = upload.error ? { message: upload.error.message, field: (upload.error as { field?: string }).field } : null;

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    setNotice(null);
    const data = new FormData(event.currentTarget);
    const file = data.get("file");
    if (!(file instanceof File) || !file.name) return;
    const name = String(data.get("name") ?? "").trim() || file.name;
    const form = event.currentTarget;
    upload.mutate({ file, name, sha256: pasted }, { onSuccess: () => form.reset() });
  }

  const columns: ColumnDef<Artifact, unknown>[] = [
    {
      id: "name",
      header: "Name",
      cell: ({ row }) => (
        <a href={`/api/v1/releases/${encodeURIComponent(releaseId)}/artifacts/${encodeURIComponent(row.original.name)}`} className="strong" download>
          {row.original.name}
        </a>
      ),
    },
    { id: "size", header: "Size", cell: ({ row }) => <span title={`${row.original.size} bytes`}>{formatBytes(row.original.size)}</span> },
    { id: "sha256", header: "SHA-256", cell: ({ row }) => <Checksum value={row.original.sha256} copyable /> },
    { id: "type", header: "Type", cell: ({ row }) => <code>{row.original.contentType}</code> },
    {
      id: "uploaded",
      header: "Uploaded",
      cell: ({ row }) => (
        <span>
          <DateTime value={row.original.createdAt} stacked />
          <span className="block muted small">by {row.original.uploadedBy}</span>
        </span>
      ),
    },
    ...(operator
      ? [
          {
            id: "actions",
            header: "",
            cell: ({ row }) => (
              <button
                type="button"
                className="danger small"
                disabled={remove.isPending}
                onClick={() => {
                  if (window.confirm(`Remove ${row.original.name} from release ${version}? Machines can no longer download it.`)) {
                    remove.mutate({ releaseId, name: row.original.name });
                  }
                }}
              >
                Remove…
              </button>
            ),
          } satisfies ColumnDef<Artifact, unknown>,
        ]
      : []),
  ];

  return (
    <section className="card" aria-labelledby="artifacts-title">
      <h2 id="artifacts-title">Artifacts</h2>
      <p className="muted small">Files the release carries (an update bundle such as a .swu or a .raucb), with their size and sha256.</p>
      {notice && <SuccessNotice onDismiss={() => setNotice(null)}>{notice}</SuccessNotice>}
      <DataTable
        columns={columns}
        rows={list.data}
        rowKey={(a) => a.id}
        loading={list.isPending}
        error={list.error?.message ?? remove.error?.message ?? null}
        empty="No artifacts yet."
        caption={`Artifacts of release ${version}`}
      />
      {operator && (
        <form className="form-card" onSubmit={submit} aria-labelledby="upload-title">
          <h3 id="upload-title">Upload an artifact</h3>
          <div className="form-grid">
            <label>
              File
              <input name="file" type="file" required {...invalidIf(problem, "size")} />
            </label>
            <label>
              Name (default: the file&apos;s)
              <input name="name" placeholder="image-2026.11.1.swu" autoComplete="off" {...invalidIf(problem, "name")} />
            </label>
            {!globalThis.crypto?.subtle && (
              <label className="span-2">
                SHA-256 (this page is not on https, so the browser cannot compute it: paste the output of sha256sum)
                <input className="mono" value={pasted} onChange={(e) => setPasted(e.target.value)} required spellCheck={false} {...invalidIf(problem, "sha256")} />
              </label>
            )}
          </div>
          <FormFooter error={problem?.message} pending={upload.isPending} label="Upload" pendingLabel="Checking and uploading…" />
        </form>
      )}
    </section>
  );
}
