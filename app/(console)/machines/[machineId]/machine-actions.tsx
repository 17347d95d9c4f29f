"use client";
// Operator actions on one machine, each behind a confirmation.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ConfirmDialog } from "@/components/dialog";
import type { RouterOutputs } from "@/components/router-types";
import { useTRPC } from "@/components/trpc";

type Machine = RouterOutputs["machines"]["get"];

interface Props {
  open: boolean;
  machine: Machine;
  onClose: () => void;
  onDone: (message: string) => void;
}

export function MoveDialog({ open, machine, onClose, onDone }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const rings = useQuery({ ...trpc.rings.list.queryOptions(), enabled: open });
  const [ring, setRing] = useState("");
  const [reason, setReason] = useState("");
  const move = useMutation(
    trpc.machines.move.mutationOptions({
      onSuccess: async (_data, input) => {
        await queryClient.invalidateQueries(trpc.machines.pathFilter());
        await queryClient.invalidateQueries(trpc.rings.list.queryFilter());
        onDone(`Moved ${machine.hostname} to ring ${input.ring}.`);
        setRing("");
        setReason("");
      },
    }),
  );
  const target = rings.data?.find((r) => r.name === ring);
  const close = () => {
    move.reset();
    onClose();
  };

  return (
    <ConfirmDialog
      open={open}
      title={`Move ${machine.hostname} to another ring`}
      confirmLabel={ring ? `Move to ${ring}` : "Move"}
      confirmDisabled={!ring}
      busy={move.isPending}
      error={move.error?.message ?? rings.error?.message}
      onClose={close}
      onConfirm={() => move.mutate({ machineIds: [machine.machineId], ring, reason: reason.trim() || undefined })}
    >
      <p>
        <strong>{machine.hostname}</strong> (<code>{machine.machineId}</code>) is in ring{" "}
        <strong>{machine.ring?.name ?? "none"}</strong>.
      </p>
      <label>
        New ring
        <select value={ring} onChange={(e) => setRing(e.target.value)} required>
          <option value="">{rings.isPending ? "Loading rings…" : "Choose a ring"}</option>
          {rings.data
            ?.filter((r) => r.name !== machine.ring?.name)
            .map((r) => (
              <option key={r.name} value={r.name}>
                {r.name} — {r.currentRelease ? r.currentRelease.version : "no release"}
              </option>
            ))}
        </select>
      </label>
      {target && (
        <p className="muted">
          It will follow <code>{target.branch.ref}</code>
          {target.currentRelease
            ? ` and update to ${target.currentRelease.version} if it runs something else.`
            : "; that ring has no current release, so nothing changes yet."}
        </p>
      )}
      <label>
        Reason (optional, kept in the audit log)
        <input value={reason} maxLength={500} onChange={(e) => setReason(e.target.value)} />
      </label>
    </ConfirmDialog>
  );
}

export function RetireDialog({ open, machine, onClose, onDone }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [reason, setReason] = useState("");
  const retire = useMutation(
    trpc.machines.retire.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries(trpc.machines.pathFilter());
        await queryClient.invalidateQueries(trpc.rings.list.queryFilter());
        onDone(`Retired ${machine.hostname}.`);
        setReason("");
      },
    }),
  );
  const close = () => {
    retire.reset();
    onClose();
  };
  return (
    <ConfirmDialog
      open={open}
      title={`Retire ${machine.hostname}?`}
      confirmLabel={`Retire ${machine.hostname}`}
      tone="danger"
      busy={retire.isPending}
      error={retire.error?.message}
      onClose={close}
      onConfirm={() => retire.mutate({ machineId: machine.machineId, reason: reason.trim() || undefined })}
    >
      <p>
        <strong>{machine.hostname}</strong> (<code>{machine.machineId}</code>) leaves the fleet: it disappears from the
        machines list, gives up any reboot slot, and its agent is refused on every call until the machine enrolls again
        with an enrollment token.
      </p>
      <label>
        Reason (optional, kept in the audit log)
        <input value={reason} maxLength={500} onChange={(e) => setReason(e.target.value)} />
      </label>
    </ConfirmDialog>
  );
}
