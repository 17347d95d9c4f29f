"use client";
// A ring's app set (protocol v1.2): the Flatpak apps its machines keep, from
// which remote, at which release. The rings table shows each ring's set; an
// operator edits it in a dialog (add or change an app, take one out).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useState } from "react";
import { ConfirmDialog, ReasonInput } from "@/components/dialog";
import { Field } from "@/components/field";
import { invalidIf, problemOf } from "@/components/format";
import { Checksum, QuarantinedBadge } from "@/components/status";
import { useTRPC } from "@/components/trpc";
import { isAppRef } from "@/server/vocabulary";
import type { Ring } from "./rings-view";

/** The short name of an app ref: org.example.Kiosk of app/org.example.Kiosk/x86_64/stable. */
export function appName(ref: string) {
  return ref.split("/")[1] ?? ref;
}

/** The ring's apps, in a table cell. */
export function RingAppsCell({ ring }: { ring: Ring }) {
  const trpc = useTRPC();
  const apps = useQuery({ ...trpc.rings.apps.queryOptions({ ring: ring.name }), refetchInterval: 10_000 });
  if (!apps.data) return <span className="muted small">…</span>;
  if (apps.data.apps.length === 0)
    return <span className="muted small">{apps.data.managed ? "no apps (those Orchard installed are removed)" : "apps not managed"}</span>;
  return (
    <ul className="window-list">
      {apps.data.apps.map((a) => (
        <li key={a.ref} title={a.ref}>
          <span className="nowrap">
            {appName(a.ref)} <strong>{a.release.version}</strong>
          </span>
          {a.release.quarantined && <QuarantinedBadge />}
        </li>
      ))}
    </ul>
  );
}

export function RingAppsDialog({ ring, onClose, onDone }: { ring: Ring; onClose: () => void; onDone: (message: string) => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const apps = useQuery(trpc.rings.apps.queryOptions({ ring: ring.name }));
  const releases = useQuery({ ...trpc.releases.list.queryOptions({}), staleTime: 30_000 });
  const [ref, setRef] = useState("");
  const [version, setVersion] = useState("");
  const [remoteName, setRemoteName] = useState("");
  const [remoteUrl, setRemoteUrl] = useState("");
  const [gpgKey, setGpgKey] = useState("");
  const [allowDowngrade, setAllowDowngrade] = useState(false);
  const [reason, setReason] = useState("");
  const [removing, setRemoving] = useState<string | null>(null);
  const refsId = useId();
  const existing = apps.data?.apps.find((a) => a.ref === ref.trim());
  const appRefs = [...new Set([...(apps.data?.apps.map((a) => a.ref) ?? []), ...(releases.data?.filter((r) => isAppRef(r.branch.ref)).map((r) => r.branch.ref) ?? [])])];
  const versions = releases.data?.filter((r) => r.branch.ref === ref.trim()) ?? [];
  const refresh = async () => {
    await queryClient.invalidateQueries(trpc.rings.apps.queryFilter());
    await queryClient.invalidateQueries(trpc.machines.pathFilter());
  };
  const setApp = useMutation(
    trpc.rings.setApp.mutationOptions({
      onSuccess: async (app) => {
        await refresh();
        onDone(`Ring ${ring.name} runs ${app.ref} ${app.release.version} from ${app.remote.name}.`);
      },
    }),
  );
  const removeApp = useMutation(
    trpc.rings.removeApp.mutationOptions({
      onSuccess: async (removed) => {
        await refresh();
        onDone(`Ring ${ring.name} no longer has ${removed.ref}: its machines remove it if Orchard installed it.`);
      },
    }),
  );
  const problem = problemOf(setApp.error);
  const remoteGiven = remoteName.trim() !== "" || remoteUrl.trim() !== "";
  const choose = (value: string) => {
    setRef(value);
    setVersion("");
    const known = apps.data?.apps.find((a) => a.ref === value.trim());
    setRemoteName(known?.remote.name ?? "");
    setRemoteUrl(known?.remote.url ?? "");
    setGpgKey(known?.remote.gpgKey ?? "");
  };

  return (
    <ConfirmDialog
      open
      wide
      title={`Apps of ring ${ring.name}`}
      confirmLabel={existing ? `Change ${appName(existing.ref)}` : "Add app"}
      confirmDisabled={!ref.trim() || !version || (!existing && !remoteGiven)}
      busy={setApp.isPending || removeApp.isPending}
      error={setApp.error?.message ?? removeApp.error?.message ?? apps.error?.message}
      onClose={onClose}
      onConfirm={() =>
        setApp.mutate({
          ring: ring.name,
          ref: ref.trim(),
          version,
          remote: remoteGiven ? { name: remoteName.trim(), url: remoteUrl.trim(), gpgKey: gpgKey.replace(/\s+/g, "") || null } : undefined,
          allowDowngrade: allowDowngrade || undefined,
          reason: reason.trim() || undefined,
        })
      }
    >
      <p className="muted">
        The Flatpak apps every machine of {ring.name} keeps, each at its release. Runtimes come with their apps. An app taken
        out is removed from the machines that Orchard installed it on; apps installed otherwise are never touched.
      </p>
      {apps.data && apps.data.apps.length > 0 ? (
        <div className="table-wrap">
        <table className="data-table" aria-label={`Apps of ring ${ring.name}`}>
          <thead>
            <tr>
              <th>App</th>
              <th>Release</th>
              <th>Remote</th>
            </tr>
          </thead>
          <tbody>
            {apps.data.apps.map((a) => (
              <tr key={a.ref}>
                <td>
                  <span className="stacked">
                    <code>{a.ref}</code>
                    <span className="row-actions">
                      <button type="button" onClick={() => choose(a.ref)}>
                        Change…
                      </button>
                      {removing === a.ref ? (
                        <button
                          type="button"
                          className="danger"
                          disabled={removeApp.isPending}
                          onClick={() => removeApp.mutate({ ring: ring.name, ref: a.ref, reason: reason.trim() || undefined })}
                        >
                          Remove from {ring.name}
                        </button>
                      ) : (
                        <button type="button" className="danger-outline" onClick={() => setRemoving(a.ref)}>
                          Remove…
                        </button>
                      )}
                    </span>
                  </span>
                </td>
                <td>
                  <strong>{a.release.version}</strong> <Checksum value={a.release.checksum} />
                  {a.allowDowngrade && <span className="muted small"> (machines may go back to it)</span>}
                </td>
                <td>
                  <span className="stacked small">
                    <span>{a.remote.name}</span>
                    <code>{a.remote.url}</code>
                    <span className="muted">{a.remote.gpgKey ? "GPG key set" : "not verified (no GPG key)"}</span>
                  </span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      ) : (
        <p className="muted">{apps.data ? "No apps yet." : "Loading…"}</p>
      )}
      <h3>{existing ? `Change ${existing.ref}` : "Add an app"}</h3>
      <div className="form-grid">
        <Field label="App (Flatpak ref)" hint="app/ID/ARCH/BRANCH, such as app/org.example.Kiosk/x86_64/stable">
          {(props) => (
            <input {...props} list={refsId} value={ref} onChange={(e) => choose(e.target.value)} placeholder="app/ID/ARCH/BRANCH" {...invalidIf(problem, "ref")} />
          )}
        </Field>
        <datalist id={refsId}>
          {appRefs.map((r) => (
            <option key={r} value={r} />
          ))}
        </datalist>
        <Field label="Release" hint={ref.trim() && versions.length === 0 ? "No releases of this ref yet: register one on the Releases page, or add an ostree source on its Flatpak repository." : undefined}>
          {(props) => (
            <select {...props} value={version} onChange={(e) => setVersion(e.target.value)} {...invalidIf(problem, "version")}>
              <option value="">Choose a release</option>
              {versions.map((r) => (
                <option key={r.version} value={r.version} disabled={!r.sendable}>
                  {r.version}
                  {r.version === existing?.release.version ? " (current)" : ""}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Remote name" hint={existing ? "leave as it is to keep the remote" : "the Flatpak remote's name on the machines"}>
          {(props) => <input {...props} value={remoteName} onChange={(e) => setRemoteName(e.target.value)} placeholder="orchard-kiosk" {...invalidIf(problem, "remote.name")} />}
        </Field>
        <Field label="Remote URL">
          {(props) => <input {...props} value={remoteUrl} onChange={(e) => setRemoteUrl(e.target.value)} placeholder="https://apps.example.com/repo" {...invalidIf(problem, "remote.url")} />}
        </Field>
        <Field label="GPG public key (base64)" hint="empty: the remote is added without verification">
          {(props) => <textarea {...props} rows={2} value={gpgKey} onChange={(e) => setGpgKey(e.target.value)} {...invalidIf(problem, "remote.gpgKey")} />}
        </Field>
      </div>
      <label className="check-row">
        <input type="checkbox" checked={allowDowngrade} onChange={(e) => setAllowDowngrade(e.target.checked)} {...invalidIf(problem, "allowDowngrade")} />
        The release is older than the ring&apos;s: let machines go back to it
      </label>
      <ReasonInput value={reason} onChange={setReason} />
    </ConfirmDialog>
  );
}
