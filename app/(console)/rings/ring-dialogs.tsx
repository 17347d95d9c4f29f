"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useState } from "react";
import { ConfirmDialog, ReasonInput } from "@/components/dialog";
import { Field } from "@/components/field";
import { formatSeconds, invalidIf, type Problem, problemOf } from "@/components/format";
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
        <select value={version} onChange={(e) => setVersion(e.target.value)} required {...invalidIf(problemOf(setRelease.error), "version")}>
          <option value="">{releases.isPending ? "Loading releases…" : "Choose a release"}</option>
          {releases.data?.map((r) => (
            <option key={r.version} value={r.version} disabled={!r.sendable} title={r.unsendableReason ?? undefined}>
              {r.version}
              {r.version === current?.version ? " (current)" : ""}
              {r.sendable ? "" : ` (${r.signatureState === "unsigned" ? "unsigned" : "wrongly signed"}: cannot be sent)`}
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
      <ReasonInput value={reason} onChange={setReason} />
    </ConfirmDialog>
  );
}

const POLICY_FIELDS = [
  { name: "rebootSlots", label: "Reboot slots", hint: "machines of the ring (or of one failure domain) that may reboot at once", min: 1, max: 10_000, unit: "" },
  { name: "checkInIntervalSeconds", label: "Check-in interval (seconds)", hint: "how often idle machines check in", min: 5, max: 86_400, unit: "s" },
  { name: "rebootLeaseSeconds", label: "Reboot lease (seconds)", hint: "a reboot slot not released after this is freed", min: 30, max: 86_400, unit: "s" },
] as const;

type PolicyName = (typeof POLICY_FIELDS)[number]["name"];

/** The ring's default rollout policy, as its follow rollouts use it (the same parts as a rollout's plan). */
const ROLLOUT_POLICY_FIELDS = [
  { name: "waves", problem: "rolloutPolicy.waves", label: "Waves (% of the ring)", hint: "ascending, ending at 100, such as 10, 50, 100" },
  { name: "soakMinutes", problem: "rolloutPolicy.soakSeconds", label: "Soak (minutes)", hint: "a finished wave stays healthy this long before the next opens" },
  { name: "maxFailurePercent", problem: "rolloutPolicy.maxFailureRate", label: "Max failure rate (%)", hint: "a wave failing more pauses the rollout" },
  { name: "minSample", problem: "rolloutPolicy.minSample", label: "Min sample", hint: "finished machines before the rate is trusted" },
  { name: "darkMinutes", problem: "rolloutPolicy.darkAfterSeconds", label: "Dark after (minutes)", hint: "an updated machine not healthy on the release by then is dark" },
] as const;

type RolloutPolicyName = (typeof ROLLOUT_POLICY_FIELDS)[number]["name"];

export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
type Weekday = (typeof WEEKDAYS)[number];
const DAY_LABEL: Record<Weekday, string> = { mon: "Mon", tue: "Tue", wed: "Wed", thu: "Thu", fri: "Fri", sat: "Sat", sun: "Sun" };

export interface MaintenanceWindow {
  days: Weekday[];
  start: string;
  durationMinutes: number;
}

/** The ring's windows (stored as JSON: read defensively). */
export function windowsOf(ring: Ring): MaintenanceWindow[] {
  return Array.isArray(ring.maintenanceWindows) ? (ring.maintenanceWindows as unknown as MaintenanceWindow[]) : [];
}

export function blackoutsOf(ring: Ring): string[] {
  return Array.isArray(ring.blackoutDates) ? (ring.blackoutDates as unknown as string[]) : [];
}

/** "Mon–Fri 02:00 for 2 h", "Sat, Sun 22:00 for 6 h". */
export function windowText(w: MaintenanceWindow) {
  const ordered = WEEKDAYS.filter((d) => w.days.includes(d));
  const indexes = ordered.map((d) => WEEKDAYS.indexOf(d));
  const run = indexes.length > 2 && indexes.every((d, i) => i === 0 || d === indexes[i - 1] + 1);
  const days = run ? `${DAY_LABEL[ordered[0]]}–${DAY_LABEL[ordered.at(-1)!]}` : ordered.map((d) => DAY_LABEL[d]).join(", ");
  return `${days} ${w.start} for ${formatSeconds(w.durationMinutes * 60)}`;
}

function timeZones(): string[] {
  try {
    return (Intl as unknown as { supportedValuesOf?: (key: string) => string[] }).supportedValuesOf?.("timeZone") ?? [];
  } catch {
    return [];
  }
}

function WindowsEditor({ windows, onChange, problem }: { windows: MaintenanceWindow[]; onChange: (next: MaintenanceWindow[]) => void; problem: Problem | null }) {
  const update = (index: number, change: Partial<MaintenanceWindow>) =>
    onChange(windows.map((w, i) => (i === index ? { ...w, ...change } : w)));
  return (
    <fieldset className="radio-group windows-editor">
      <legend>Maintenance windows (weekly, in the ring&apos;s time zone)</legend>
      {windows.length === 0 && <p className="muted small">None: waves may open at any time (blackout dates still apply).</p>}
      {windows.map((w, index) => (
        <div key={index} className="window-row" role="group" aria-label={`Window ${index + 1}`}>
          <fieldset className="day-picks">
            <legend>Days</legend>
            {WEEKDAYS.map((day) => (
              <label key={day} className="day-pick">
                <input
                  type="checkbox"
                  checked={w.days.includes(day)}
                  onChange={(e) =>
                    update(index, { days: e.target.checked ? [...w.days, day] : w.days.filter((d) => d !== day) })
                  }
                />
                {DAY_LABEL[day]}
              </label>
            ))}
          </fieldset>
          <label>
            Start
            <input type="time" required value={w.start} onChange={(e) => update(index, { start: e.target.value })} {...invalidIf(problem, `maintenanceWindows[${index}].start`)} />
          </label>
          <label>
            Minutes
            <input
              type="number"
              required
              min={1}
              max={10_080}
              value={Number.isNaN(w.durationMinutes) ? "" : w.durationMinutes}
              onChange={(e) => update(index, { durationMinutes: e.target.valueAsNumber })}
              {...invalidIf(problem, `maintenanceWindows[${index}].durationMinutes`)}
            />
          </label>
          <button type="button" className="danger-outline" onClick={() => onChange(windows.filter((_, i) => i !== index))}>
            Remove
          </button>
        </div>
      ))}
      <div>
        <button type="button" onClick={() => onChange([...windows, { days: ["mon", "tue", "wed", "thu", "fri"], start: "02:00", durationMinutes: 120 }])}>
          Add window
        </button>
      </div>
    </fieldset>
  );
}

function BlackoutEditor({ dates, onChange }: { dates: string[]; onChange: (next: string[]) => void }) {
  const [day, setDay] = useState("");
  const add = () => {
    if (day && !dates.includes(day)) onChange([...dates, day].sort());
    setDay("");
  };
  return (
    <fieldset className="radio-group">
      <legend>Blackout dates (no wave opens)</legend>
      {dates.length > 0 ? (
        <ul className="chips" aria-label="Blackout dates">
          {dates.map((d) => (
            <li key={d} className="chip">
              {d}{" "}
              <button type="button" className="link-like" aria-label={`Remove ${d}`} onClick={() => onChange(dates.filter((x) => x !== d))}>
                ×
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted small">None.</p>
      )}
      <div className="inline-form">
        <label>
          Date
          <input type="date" value={day} onChange={(e) => setDay(e.target.value)} />
        </label>
        <button type="button" onClick={add} disabled={!day}>
          Add date
        </button>
      </div>
    </fieldset>
  );
}

export function PolicyDialog({ ring, onClose, onDone }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const zonesId = useId();
  const [values, setValues] = useState<Record<PolicyName, string>>({
    rebootSlots: String(ring.rebootSlots),
    checkInIntervalSeconds: String(ring.checkInIntervalSeconds),
    rebootLeaseSeconds: String(ring.rebootLeaseSeconds),
  });
  const [timeZone, setTimeZone] = useState(ring.timeZone);
  const [windows, setWindows] = useState<MaintenanceWindow[]>(() => windowsOf(ring));
  const [blackouts, setBlackouts] = useState<string[]>(() => blackoutsOf(ring));
  const [domainLabel, setDomainLabel] = useState(ring.failureDomainLabel ?? "");
  const [follow, setFollow] = useState(ring.follow);
  const [followApproval, setFollowApproval] = useState(ring.followApproval);
  const [rolloutPolicy, setRolloutPolicy] = useState<Record<RolloutPolicyName, string>>({
    waves: ring.rolloutPolicy.waves.join(", "),
    soakMinutes: String(ring.rolloutPolicy.soakSeconds / 60),
    maxFailurePercent: String(Math.round(ring.rolloutPolicy.maxFailureRate * 1000) / 10),
    minSample: String(ring.rolloutPolicy.minSample),
    darkMinutes: String(ring.rolloutPolicy.darkAfterSeconds / 60),
  });
  const [singleFirst, setSingleFirst] = useState(ring.rolloutPolicy.singleFirst);
  const [zones] = useState(timeZones);
  const update = useMutation(
    trpc.rings.updatePolicy.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries(trpc.rings.pathFilter());
        onDone(`Saved the policy of ring ${ring.name}.`);
      },
    }),
  );
  const problem = problemOf(update.error);
  const message = problem?.message;

  return (
    <ConfirmDialog
      open
      wide
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
          timeZone: timeZone.trim(),
          maintenanceWindows: windows,
          blackoutDates: blackouts,
          failureDomainLabel: domainLabel.trim() || null,
          follow,
          followApproval,
          rolloutPolicy: {
            waves: rolloutPolicy.waves.split(/[\s,%]+/).filter(Boolean).map(Number),
            singleFirst,
            soakSeconds: Math.round(Number(rolloutPolicy.soakMinutes) * 60),
            maxFailureRate: Number(rolloutPolicy.maxFailurePercent) / 100,
            minSample: Number(rolloutPolicy.minSample),
            darkAfterSeconds: Math.round(Number(rolloutPolicy.darkMinutes) * 60),
          },
        })
      }
    >
      <div className="policy-grid">
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
                  {...invalidIf(problem, field.name)}
                />
              )}
            </Field>
          );
        })}
        <Field label="Failure-domain label" hint="reboot slots count per value of this machine label (e.g. site); empty: per ring">
          {(props) => (
            <input {...props} value={domainLabel} placeholder="site" autoComplete="off" onChange={(e) => setDomainLabel(e.target.value)} {...invalidIf(problem, "failureDomainLabel")} />
          )}
        </Field>
        <Field label="Time zone" hint="IANA name, such as Europe/Amsterdam">
          {(props) => (
            <input {...props} value={timeZone} list={zonesId} required autoComplete="off" onChange={(e) => setTimeZone(e.target.value)} {...invalidIf(problem, "timeZone")} />
          )}
        </Field>
        <datalist id={zonesId}>
          {zones.map((z) => (
            <option key={z} value={z} />
          ))}
        </datalist>
      </div>
      <WindowsEditor windows={windows} onChange={setWindows} problem={problem} />
      <BlackoutEditor dates={blackouts} onChange={setBlackouts} />
      <fieldset className="radio-group">
        <legend>Follow mode and default rollout policy</legend>
        <label className="check-row">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} {...invalidIf(problem, "follow")} />
          Follow {ring.branch.ref}: a new release its source brings, signed by the source&apos;s key, starts a rollout by itself
        </label>
        <label className="check-row">
          <input type="checkbox" checked={followApproval} onChange={(e) => setFollowApproval(e.target.checked)} {...invalidIf(problem, "followApproval")} />
          A follow rollout waits for an operator&apos;s approval before this ring (never before the first following ring)
        </label>
        <label className="check-row">
          <input type="checkbox" checked={singleFirst} onChange={(e) => setSingleFirst(e.target.checked)} {...invalidIf(problem, "rolloutPolicy.singleFirst")} />
          One machine alone first
        </label>
        <div className="policy-grid">
          {ROLLOUT_POLICY_FIELDS.map((field) => (
            <Field key={field.name} label={field.label} hint={field.hint}>
              {(props) => (
                <input
                  {...props}
                  required
                  inputMode={field.name === "waves" ? "text" : "decimal"}
                  value={rolloutPolicy[field.name]}
                  onChange={(e) => setRolloutPolicy({ ...rolloutPolicy, [field.name]: e.target.value })}
                  {...invalidIf(problem, field.problem)}
                />
              )}
            </Field>
          ))}
        </div>
      </fieldset>
    </ConfirmDialog>
  );
}

export function ReshuffleDialog({ ring, onClose, onDone }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [reason, setReason] = useState("");
  const reshuffle = useMutation(
    trpc.rings.reshuffle.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries(trpc.rings.pathFilter());
        await queryClient.invalidateQueries(trpc.machines.pathFilter());
        onDone(`Reshuffled the cohorts of ring ${ring.name}: other machines go first in its next rollouts.`);
      },
    }),
  );
  return (
    <ConfirmDialog
      open
      title={`Reshuffle the cohorts of ${ring.name}?`}
      confirmLabel="Reshuffle"
      busy={reshuffle.isPending}
      error={reshuffle.error?.message}
      onClose={onClose}
      onConfirm={() => reshuffle.mutate({ ring: ring.name, reason: reason.trim() || undefined })}
    >
      <p>
        Each of the <strong>{ring.machines.toLocaleString()}</strong> machines of {ring.name} gets a new place in the ring,
        so that different machines land in the first waves of its next rollouts. Rollouts under way keep the machines they
        already reached.
      </p>
      <ReasonInput value={reason} onChange={setReason} />
    </ConfirmDialog>
  );
}

/** Renames the ring; the server rewrites the ring scopes that name it, and says what it could not rewrite. */
export function RenameRingDialog({ ring, onClose, onDone }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [name, setName] = useState(ring.name);
  const [reason, setReason] = useState("");
  const rename = useMutation(
    trpc.rings.rename.mutationOptions({
      onSuccess: async (result) => {
        await queryClient.invalidateQueries(trpc.rings.pathFilter());
        await queryClient.invalidateQueries(trpc.machines.pathFilter());
        await queryClient.invalidateQueries(trpc.rollouts.pathFilter());
        const scopes = result.usersRescoped + result.apiTokensRescoped;
        onDone(
          [
            `Renamed ring ${result.previousName} to ${result.ring}${scopes > 0 ? `; ${result.usersRescoped} user and ${result.apiTokensRescoped} API token ring scopes follow` : ""}.`,
            ...result.warnings,
          ].join(" "),
        );
      },
    }),
  );
  return (
    <ConfirmDialog
      open
      title={`Rename ring ${ring.name}`}
      confirmLabel="Rename"
      busy={rename.isPending}
      error={rename.error?.message}
      confirmDisabled={name.trim() === "" || name.trim() === ring.name}
      onClose={onClose}
      onConfirm={() => rename.mutate({ ring: ring.name, name: name.trim(), reason: reason.trim() || undefined })}
    >
      <Field label="New name" hint="1 to 40 lower-case letters, digits and -; users' and API tokens' ring scopes follow">
        {(props) => (
          <input {...props} value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" required {...invalidIf(problemOf(rename.error), "name")} />
        )}
      </Field>
      <ReasonInput value={reason} onChange={setReason} />
    </ConfirmDialog>
  );
}

/** Removes an empty ring, or shows the server's reason why it cannot be removed. */
export function RemoveRingDialog({ ring, onClose, onDone }: Props) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [reason, setReason] = useState("");
  const remove = useMutation(
    trpc.rings.remove.mutationOptions({
      onSuccess: async (result) => {
        await queryClient.invalidateQueries(trpc.rings.pathFilter());
        await queryClient.invalidateQueries(trpc.enrollmentTokens.pathFilter());
        onDone(
          [
            `Removed ring ${result.ring}${result.enrollmentTokensRevoked > 0 ? `; ${result.enrollmentTokensRevoked} enrollment tokens of it revoked` : ""}.`,
            ...result.warnings,
          ].join(" "),
        );
      },
    }),
  );
  const allowed = ring.actions.remove;
  return (
    <ConfirmDialog
      open
      title={allowed.allowed ? `Remove ring ${ring.name}?` : `Ring ${ring.name} cannot be removed`}
      confirmLabel="Remove"
      tone="danger"
      busy={remove.isPending}
      error={remove.error?.message}
      confirmDisabled={!allowed.allowed}
      onClose={onClose}
      onConfirm={() => remove.mutate({ ring: ring.name, reason: reason.trim() || undefined })}
    >
      {allowed.allowed ? (
        <>
          <p>
            The ring is empty. Its enrollment tokens are revoked and its name leaves users&apos; and API tokens&apos; ring
            scopes.
          </p>
          <ReasonInput value={reason} onChange={setReason} />
        </>
      ) : (
        <p role="status">The server says: {allowed.why}.</p>
      )}
    </ConfirmDialog>
  );
}
