"use client";
// Operator actions on one machine, each behind a confirmation.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { CopyButton } from "@/components/copy-button";
import { ConfirmDialog, ReasonInput } from "@/components/dialog";
import type { RouterOutputs } from "@/components/router-types";
import { Checksum, formatDateTime } from "@/components/status";
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
      <ReasonInput value={reason} onChange={setReason} />
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
      <ReasonInput value={reason} onChange={setReason} />
    </ConfirmDialog>
  );
}

/**
 * A re-image: the machine may enroll again once without proving itself with
 * its key (its disk was wiped, or an older agent enrolled it), retired or
 * not, within the next 24 hours.
 */
export function ReenrollDialog({ open, machine, onClose, onDone }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [reason, setReason] = useState("");
  const allow = useMutation(
    trpc.machines.allowReenroll.mutationOptions({
      onSuccess: async (answer) => {
        await queryClient.invalidateQueries(trpc.machines.pathFilter());
        onDone(`${machine.hostname} may enroll again, with a new key, until ${formatDateTime(answer.reenrollAllowedUntil, new Date().getFullYear())}.`);
        setReason("");
      },
    }),
  );
  const close = () => {
    allow.reset();
    onClose();
  };
  return (
    <ConfirmDialog
      open={open}
      title={`Allow ${machine.hostname} to enroll again?`}
      confirmLabel="Allow re-enrollment"
      busy={allow.isPending}
      error={allow.error?.message}
      onClose={close}
      onConfirm={() => allow.mutate({ machineId: machine.machineId, reason: reason.trim() || undefined })}
    >
      <p>
        A machine that exists enrolls again only with a proof by the key it enrolled with: an enrollment token alone, shared by every
        machine of an image, never takes it over. After a re-image (its disk, and so its key, are gone)
        {machine.retiredAt ? ", or to bring a retired machine back," : ""} allow it once here: for the next 24 hours{" "}
        <code>{machine.machineId}</code> may enroll with any valid enrollment token, and its new key replaces the old one.
      </p>
      <ReasonInput value={reason} onChange={setReason} />
    </ConfirmDialog>
  );
}

/** A DDI device's target token: issued (its previous ones revoked) and shown this once. */
export function TargetTokenDialog({ open, machine, onClose, onDone }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [reason, setReason] = useState("");
  const issue = useMutation(trpc.machines.issueTargetToken.mutationOptions({ onSuccess: () => setReason("") }));
  const close = () => {
    const issued = issue.data;
    issue.reset();
    onClose();
    if (issued) {
      void queryClient.invalidateQueries(trpc.machines.pathFilter());
      onDone(`Issued a target token for ${machine.hostname} (${issued.prefix}…); its previous tokens no longer work.`);
    }
  };
  if (issue.data) {
    return (
      <ConfirmDialog open={open} title={`Target token for ${machine.hostname}`} confirmLabel="Done" onClose={close} onConfirm={close}>
        <p>Shown this once: the console keeps only its hash. Put it in the device&apos;s <code>swupdate.cfg</code> (<code>targettoken</code>) or on its command line (<code>-k</code> inside <code>-u</code>).</p>
        <p className="nowrap">
          <code className="secret">{issue.data.targetToken}</code> <CopyButton value={issue.data.targetToken} />
        </p>
      </ConfirmDialog>
    );
  }
  return (
    <ConfirmDialog
      open={open}
      title={`Issue a target token for ${machine.hostname}?`}
      confirmLabel="Issue target token"
      busy={issue.isPending}
      error={issue.error?.message}
      onClose={close}
      onConfirm={() => issue.mutate({ machineId: machine.machineId, reason: reason.trim() || undefined })}
    >
      <p>
        A target token is this device&apos;s own credential for the DDI API (<code>Authorization: TargetToken …</code>), in place of its
        ring&apos;s gateway token. Issuing one revokes the tokens it had: a device still using an older target token is refused until
        it is given the new one.
      </p>
      <ReasonInput value={reason} onChange={setReason} />
    </ConfirmDialog>
  );
}

/** What the machine's rollback hold says (stored as JSON: read defensively). */
export function rollbackOf(machine: Machine) {
  const value = machine.rollbackTo as { checksum?: string; ref?: string | null; version?: string | null; reason?: string; hold?: boolean } | null;
  return value && typeof value === "object" && typeof value.checksum === "string"
    ? { checksum: value.checksum, ref: value.ref ?? null, version: value.version ?? null, reason: value.reason ?? "", hold: value.hold !== false }
    : null;
}


export function PinDialog({ open, machine, onClose, onDone }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const releases = useQuery({ ...trpc.releases.list.queryOptions({}), enabled: open });
  const [releaseId, setReleaseId] = useState("");
  const [allowDowngrade, setAllowDowngrade] = useState(false);
  const [reason, setReason] = useState("");
  const pin = useMutation(
    trpc.machines.pin.mutationOptions({
      onSuccess: async (answer) => {
        await queryClient.invalidateQueries(trpc.machines.pathFilter());
        await queryClient.invalidateQueries(trpc.rollouts.pathFilter());
        onDone(`Pinned ${machine.hostname} to ${answer.pinned}: it leaves every rollout until unpinned.`);
        setReleaseId("");
        setAllowDowngrade(false);
        setReason("");
      },
    }),
  );
  const chosen = releases.data?.find((r) => r.id === releaseId);
  const booted = releases.data?.find((r) => r.checksum === machine.bootedChecksum);
  const downgrade = Boolean(chosen && booted && chosen.id !== booted.id && new Date(chosen.createdAt) < new Date(booted.createdAt));
  const sameVersion = (releases.data ?? []).filter((r) => r.version === chosen?.version).length > 1;
  const close = () => {
    pin.reset();
    onClose();
  };
  return (
    <ConfirmDialog
      open={open}
      title={`Pin ${machine.hostname} to a release`}
      confirmLabel={chosen ? `Pin to ${chosen.version}` : "Pin"}
      confirmDisabled={!chosen || (downgrade && !allowDowngrade)}
      busy={pin.isPending}
      error={pin.error?.message ?? releases.error?.message}
      onClose={close}
      onConfirm={() => chosen && pin.mutate({ machineId: machine.machineId, version: chosen.version, allowDowngrade: downgrade && allowDowngrade, reason: reason.trim() || undefined })}
    >
      <p>
        A pinned machine runs the release you choose and takes part in no rollout until it is unpinned. It boots{" "}
        <strong>{machine.bootedVersion ?? "an unknown version"}</strong> now.
      </p>
      <label>
        Release
        <select value={releaseId} onChange={(e) => setReleaseId(e.target.value)} required>
          <option value="">{releases.isPending ? "Loading releases…" : "Choose a release"}</option>
          {releases.data?.map((r) => (
            <option key={r.id} value={r.id} disabled={Boolean(r.quarantinedAt) || !r.sendable} title={r.unsendableReason ?? undefined}>
              {r.version} — {r.branch.ref}
              {r.checksum === machine.bootedChecksum ? " (booted)" : ""}
              {r.quarantinedAt ? " (quarantined)" : ""}
              {r.sendable ? "" : ` (${r.signatureState === "unsigned" ? "unsigned" : "wrongly signed"}: cannot be sent)`}
            </option>
          ))}
        </select>
      </label>
      {chosen && (
        <p className="muted">
          {chosen.checksum === machine.bootedChecksum
            ? `It already boots ${chosen.version}: it stays there.`
            : `It updates to ${chosen.version} at its next check-in${machine.bootedRef && machine.bootedRef !== chosen.branch.ref ? `, rebasing to ${chosen.branch.ref}` : ""}.`}
        </p>
      )}
      {sameVersion && (
        <p className="notice warning">Several branches have a release {chosen?.version}; the server may ask which one.</p>
      )}
      {downgrade && (
        <label className="check-row notice warning">
          <input type="checkbox" checked={allowDowngrade} onChange={(e) => setAllowDowngrade(e.target.checked)} />
          <span>
            <strong>Allow downgrade:</strong> {chosen?.version} is older than {booted?.version}, which it boots now.
          </span>
        </label>
      )}
      <ReasonInput value={reason} onChange={setReason} />
    </ConfirmDialog>
  );
}

/**
 * Unpin, or release a rollback hold. The server says what the machine will be
 * sent then; when that is older than what it runs, its agent would refuse the
 * downgrade, so the dialog says so and offers to allow it, or to roll the
 * ring forward instead.
 */
export function UnpinDialog({ open, machine, onClose, onDone }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [reason, setReason] = useState("");
  const [allowDowngrade, setAllowDowngrade] = useState(false);
  const preview = useQuery({ ...trpc.machines.unpinPreview.queryOptions({ machineId: machine.machineId }), enabled: open });
  const unpin = useMutation(
    trpc.machines.unpin.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries(trpc.machines.pathFilter());
        onDone(`${machine.hostname} follows its ring and its rollouts again.`);
        setReason("");
        setAllowDowngrade(false);
      },
    }),
  );
  const hold = rollbackOf(machine);
  const pinned = machine.pinnedRelease;
  const after = preview.data;
  const downgrade = after?.downgrade ?? null;
  const close = () => {
    unpin.reset();
    onClose();
  };
  return (
    <ConfirmDialog
      open={open}
      title={pinned ? `Unpin ${machine.hostname}?` : `Release the hold on ${machine.hostname}?`}
      confirmLabel={pinned ? (downgrade && allowDowngrade ? `Unpin, down to ${downgrade.to}` : "Unpin") : "Release hold"}
      busy={unpin.isPending}
      error={unpin.error?.message ?? preview.error?.message}
      onClose={close}
      onConfirm={() =>
        unpin.mutate({ machineId: machine.machineId, allowDowngrade: Boolean(downgrade && allowDowngrade), reason: reason.trim() || undefined })
      }
    >
      <p>
        {pinned ? (
          <>
            It is pinned to <strong>{pinned.version}</strong>.
          </>
        ) : hold ? (
          <>
            It is held on its rollback to <strong>{hold.version ?? hold.checksum.slice(0, 12)}</strong>.
          </>
        ) : null}{" "}
        Once {pinned ? "unpinned" : "released"}, it follows ring <strong>{after?.ring ?? machine.ring?.name ?? "none"}</strong> again and
        joins the rollouts that reach it.
      </p>
      {!after ? (
        <p className="muted">Asking the console what it would send…</p>
      ) : after.action === "none" ? (
        <p className="muted">
          {after.desired ? `It already boots ${after.desired.version ?? after.desired.checksum.slice(0, 12)}: nothing changes on the machine.` : "The console would send it nothing: it keeps what it runs."}
        </p>
      ) : (
        <p className="muted">
          The console would send it <strong>{after.desired?.version ?? after.desired?.checksum.slice(0, 12)}</strong> ({after.desired?.reason}).
        </p>
      )}
      {downgrade && (
        <div className="notice warning">
          <p>
            <strong>That is a downgrade:</strong> it runs {downgrade.from}, newer than {downgrade.to}. Its agent refuses an older release
            unless the console allows it, so without a choice here it would stay on {downgrade.from} and report the refusal.
          </p>
          <label className="check-row">
            <input type="checkbox" checked={allowDowngrade} onChange={(e) => setAllowDowngrade(e.target.checked)} />
            <span>Allow it down to {downgrade.to}</span>
          </label>
          {after?.ring && (
            <p>
              Or keep it on {downgrade.from} and{" "}
              <Link href={`/rollouts/new?version=${encodeURIComponent(downgrade.from)}&rings=${encodeURIComponent(after.ring)}`}>
                roll ring {after.ring} forward to {downgrade.from}
              </Link>{" "}
              first.
            </p>
          )}
        </div>
      )}
      <ReasonInput value={reason} onChange={setReason} />
    </ConfirmDialog>
  );
}

export function RollbackDialog({ open, machine, onClose, onDone }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [reason, setReason] = useState("");
  const rollback = useMutation(
    trpc.machines.rollback.mutationOptions({
      onSuccess: async (answer) => {
        await queryClient.invalidateQueries(trpc.machines.pathFilter());
        onDone(
          `${machine.hostname} rolls back to ${answer.rollbackTo.version ?? answer.rollbackTo.checksum.slice(0, 12)} and stays there until you release it.`,
        );
        setReason("");
      },
    }),
  );
  const previous = machine.previousDeployment;
  const close = () => {
    rollback.reset();
    onClose();
  };
  return (
    <ConfirmDialog
      open={open}
      title={`Roll ${machine.hostname} back?`}
      confirmLabel={previous ? `Roll back to ${previous.version ?? previous.checksum.slice(0, 12)}` : "Roll back"}
      confirmDisabled={!previous}
      tone="danger"
      busy={rollback.isPending}
      error={rollback.error?.message}
      onClose={close}
      onConfirm={() => rollback.mutate({ machineId: machine.machineId, reason: reason.trim() || undefined })}
    >
      {previous ? (
        <>
          <p>
            It boots <strong>{machine.bootedVersion ?? "an unknown version"}</strong> now and goes back to its previous
            deployment:
          </p>
          <p className="notice info">
            <strong>{previous.version ?? "unknown version"}</strong> <Checksum value={previous.checksum} /> on{" "}
            <code>{previous.ref}</code>
          </p>
          <p className="muted">
            A reboot, no download. It stays on that deployment, out of every rollout, until you release the hold.
          </p>
        </>
      ) : (
        <p>The machine reports no previous deployment to go back to.</p>
      )}
      <ReasonInput value={reason} onChange={setReason} />
    </ConfirmDialog>
  );
}
