"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ConfirmDialog } from "@/components/dialog";
import { Field } from "@/components/field";
import { formatSeconds, invalidIf } from "@/components/format";
import { Checksum, DateTime } from "@/components/status";
import { useTRPC } from "@/components/trpc";
import type { Ring } from "./rings-view";

interface Props {
  ring: Ring;
  onClose: () => void;
  onDone: (message: string) => void;
}

export function SetReleaseDialog({ ring, onClose, onDone }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const releases = useQuery(trpc.releases.list.queryOptions({ ref: ring.branch.ref }));
  const [version, setVersion] = useState("");
  const [reason, setReason] = useState("");
  const setRelease = useMutation(
    trpc.rings.setRelease.mutationOptions({
      onSuccess: async (updated) => {
        await queryClient.invalidateQueries(trpc.rings.pathFilter());
        await queryClient.invalidateQueries(trpc.releases.pathFilter());
        await queryClient.invalidateQueries(trpc.machines.pathFilter());
        onDone(`Ring ${ring.name} now runs ${updated.currentRelease?.version ?? version}.`);
      },
    }),
  );
  const chosen = releases.data?.find((r) => r.version === version);
  const current = ring.currentRelease;

  return (
    <ConfirmDialog
      open
      title={`Set the release of ring ${ring.name}`}
      confirmLabel={version ? `Roll out ${version} to ${ring.name}` : "Set release"}
      confirmDisabled={!version || version === current?.version}
      busy={setRelease.isPending}
      error={setRelease.error?.message ?? releases.error?.message}
      onClose={onClose}
      onConfirm={() => setRelease.mutate({ ring: ring.name, version, reason: reason.trim() || undefined })}
    >
      <p>
        Ring <strong>{ring.name}</strong> follows <code>{ring.branch.ref}</code> and runs{" "}
        {current ? (
          <>
            <strong>{current.version}</strong> <Checksum value={current.checksum} />
          </>
        ) : (
          "no release yet"
        )}
        .
      </p>
      <label>
        Release of {ring.branch.ref}
        <select value={version} onChange={(e) => setVersion(e.target.value)} required {...invalidIf(setRelease.error?.message, "version")}>
          <option value="">{releases.isPending ? "Loading releases…" : "Choose a release"}</option>
          {releases.data?.map((r) => (
            <option key={r.version} value={r.version}>
              {r.version}
              {r.version === current?.version ? " (current)" : ""}
            </option>
          ))}
        </select>
      </label>
      {releases.data?.length === 0 && (
        <p className="muted">This branch has no releases yet. Add one on the Releases page first.</p>
      )}
      {chosen && (
        <div className="notice info">
          <p>
            <strong>{chosen.version}</strong> <Checksum value={chosen.checksum} copyable />, added <DateTime value={chosen.createdAt} />
          </p>
          {chosen.notes && <p className="muted">{chosen.notes}</p>}
          <p>
            The {ring.machines.toLocaleString()} {ring.machines === 1 ? "machine" : "machines"} of {ring.name} will download
            it and reboot into it, at most {ring.rebootSlots} at a time.
          </p>
        </div>
      )}
      <label>
        Reason (optional, kept in the audit log)
        <input value={reason} maxLength={500} onChange={(e) => setReason(e.target.value)} />
      </label>
    </ConfirmDialog>
  );
}

const POLICY_FIELDS = [
  { name: "rebootSlots", label: "Reboot slots", hint: "machines of the ring that may reboot at once", min: 1, max: 10_000, unit: "" },
  { name: "checkInIntervalSeconds", label: "Check-in interval (seconds)", hint: "how often idle machines check in", min: 5, max: 86_400, unit: "s" },
  { name: "rebootLeaseSeconds", label: "Reboot lease (seconds)", hint: "a reboot slot not released after this is freed", min: 30, max: 86_400, unit: "s" },
] as const;

type PolicyName = (typeof POLICY_FIELDS)[number]["name"];

export function PolicyDialog({ ring, onClose, onDone }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [values, setValues] = useState<Record<PolicyName, string>>({
    rebootSlots: String(ring.rebootSlots),
    checkInIntervalSeconds: String(ring.checkInIntervalSeconds),
    rebootLeaseSeconds: String(ring.rebootLeaseSeconds),
  });
  const update = useMutation(
    trpc.rings.updatePolicy.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries(trpc.rings.pathFilter());
        onDone(`Saved the policy of ring ${ring.name}.`);
      },
    }),
  );
  const message = update.error?.message;

  return (
    <ConfirmDialog
      open
      title={`Policy of ring ${ring.name}`}
      confirmLabel="Save policy"
      busy={update.isPending}
      error={message}
      onClose={onClose}
      onConfirm={() =>
        update.mutate({
          ring: ring.name,
          rebootSlots: Number(values.rebootSlots),
          checkInIntervalSeconds: Number(values.checkInIntervalSeconds),
          rebootLeaseSeconds: Number(values.rebootLeaseSeconds),
        })
      }
    >
      {POLICY_FIELDS.map((field) => {
        const n = Number(values[field.name]);
        return (
          <Field
            key={field.name}
            label={field.label}
            hint={`${field.hint}${field.unit === "s" && Number.isInteger(n) && n > 0 ? ` — ${formatSeconds(n)}` : ""}`}
          >
            {(props) => (
              <input
                {...props}
                type="number"
                inputMode="numeric"
                required
                min={field.min}
                max={field.max}
                step={1}
                value={values[field.name]}
                onChange={(e) => setValues({ ...values, [field.name]: e.target.value })}
                {...invalidIf(message, field.name)}
              />
            )}
          </Field>
        );
      })}
    </ConfirmDialog>
  );
}
