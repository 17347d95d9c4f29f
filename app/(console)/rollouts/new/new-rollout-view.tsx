"use client";
// A new rollout: the plan on the left, its dry run on the right, live as the
// plan changes. Starting it asks once more, with the numbers.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";
import { ConfirmDialog, ReasonInput } from "@/components/dialog";
import { Field } from "@/components/field";
import { formatSeconds, invalidIf, problemOf } from "@/components/format";
import { ErrorNotice, PageState } from "@/components/notice";
import type { RouterInputs, RouterOutputs } from "@/components/router-types";
import { Checksum, QuarantinedBadge } from "@/components/status";
import { plural } from "@/components/step-bar";
import { useTRPC } from "@/components/trpc";
import { useUrlState } from "@/components/url-state";
import { useMe } from "@/components/use-me";
import { wavePlanText } from "../rollout-parts";
import { ChangesSummary } from "../../releases/release-changes";
import { RolloutPreview } from "./rollout-preview";

type Plan = RouterInputs["rollouts"]["preview"];
type Release = RouterOutputs["releases"]["list"][number];

/** Machine ids from a text box: one per line, or separated by commas or spaces. */
function idsOf(text: string) {
  return [...new Set(text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean))];
}

function numberOr(text: string, fallback: number) {
  const n = Number(text.trim());
  return text.trim() === "" || Number.isNaN(n) ? fallback : n;
}

/** The value, once it has stopped changing for `ms` (compared as JSON). */
function useSettled<T>(value: T, ms: number): T {
  const key = JSON.stringify(value);
  const [settled, setSettled] = useState(key);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(key), ms);
    return () => clearTimeout(timer);
  }, [key, ms]);
  return JSON.parse(settled) as T;
}

export function NewRolloutView() {
  const { can, loading } = useMe();
  if (loading) return <div className="skeleton" aria-busy="true" />;
  if (!can("operator")) {
    return (
      <PageState title="Operators only">
        <p>Starting a rollout needs the operator role. You can still follow rollouts on the Rollouts page.</p>
      </PageState>
    );
  }
  return <NewRolloutForm />;
}

function NewRolloutForm() {
  const trpc = useTRPC();
  const router = useRouter();
  const url = useUrlState();
  const queryClient = useQueryClient();
  const releases = useQuery(trpc.releases.list.queryOptions({}));
  const rings = useQuery(trpc.rings.list.queryOptions());

  const [releaseId, setReleaseId] = useState<string | null>(null);
  // …&rings=beta,stable&downgrade=1 (from a rollout's "roll forward to a known-good release") preselects the rings and the downgrade.
  const [picked, setPicked] = useState<string[]>(() => url.get("rings")?.split(",").filter(Boolean) ?? []);
  const [wavesText, setWavesText] = useState("10, 50, 100");
  const [singleFirst, setSingleFirst] = useState(true);
  const [soakMinutes, setSoakMinutes] = useState("30");
  const [maxFailurePercent, setMaxFailurePercent] = useState("5");
  const [minSample, setMinSample] = useState("5");
  const [darkMinutes, setDarkMinutes] = useState("30");
  const [approveBetween, setApproveBetween] = useState(false);
  const [forceFirst, setForceFirst] = useState("");
  const [exclude, setExclude] = useState("");
  const [allowDowngrade, setAllowDowngrade] = useState(() => url.get("downgrade") === "1");
  const [reason, setReason] = useState("");
  const [confirming, setConfirming] = useState(false);

  // A link such as /rollouts/new?version=2026.12.1&ref=… preselects the release.
  const wantedVersion = url.get("version");
  const wantedRef = url.get("ref");
  const preselected = releases.data?.find(
    (r) => r.version === wantedVersion && (!wantedRef || r.branch.ref === wantedRef) && !r.quarantinedAt && r.sendable,
  );
  const release: Release | undefined = releases.data?.find((r) => r.id === (releaseId ?? preselected?.id));
  // What changed in it since the previous release of its branch (stored when its source brought it).
  const chosen = useQuery({ ...trpc.releases.get.queryOptions({ id: release?.id ?? "" }), enabled: Boolean(release) });
  const ringOrder = (rings.data ?? []).map((r) => r.name);
  const orderedRings = ringOrder.filter((name) => picked.includes(name));

  const waveParts = wavesText.split(/[\s,%]+/).filter(Boolean);
  const waves = waveParts.map(Number);
  const wavesMalformed = waveParts.length === 0 || waves.some((w) => !Number.isInteger(w));

  const plan: Plan | null =
    release && orderedRings.length > 0 && !wavesMalformed
      ? {
          version: release.version,
          ref: release.branch.ref,
          rings: orderedRings,
          waves,
          singleFirst,
          soakSeconds: Math.round(numberOr(soakMinutes, 30) * 60),
          maxFailureRate: numberOr(maxFailurePercent, 5) / 100,
          minSample: numberOr(minSample, 5),
          darkAfterSeconds: Math.round(numberOr(darkMinutes, 30) * 60),
          approveBetween,
          forceFirst: { machineIds: idsOf(forceFirst), labels: {} },
          exclude: { machineIds: idsOf(exclude), labels: {} },
          allowDowngrade,
        }
      : null;
  const settledPlan = useSettled(plan, 350);
  const preview = useQuery({
    ...trpc.rollouts.preview.queryOptions(settledPlan!),
    enabled: settledPlan !== null,
    placeholderData: keepPreviousData,
    retry: false,
  });
  const previewData = settledPlan && preview.data ? preview.data : null;
  const anyDowngrade = previewData?.rings.some((r) => r.downgrade) ?? false;
  const machineTotal = previewData?.rings.reduce((sum, r) => sum + r.waves.reduce((s, w) => s + w.count, 0), 0) ?? 0;
  const stale = JSON.stringify(plan) !== JSON.stringify(settledPlan) || preview.isFetching;

  const start = useMutation(
    trpc.rollouts.start.mutationOptions({
      onSuccess: async (rollout) => {
        await queryClient.invalidateQueries(trpc.rollouts.pathFilter());
        await queryClient.invalidateQueries(trpc.rings.pathFilter());
        router.push(`/rollouts/${encodeURIComponent(rollout.id)}`);
      },
    }),
  );
  const startError = start.error?.message;
  const previewError = preview.error?.message;
  const fieldProblem = problemOf(start.error) ?? problemOf(preview.error);

  function toggleRing(name: string, on: boolean) {
    setPicked((current) => (on ? [...current, name] : current.filter((n) => n !== name)));
  }

  const activeReleases = (releases.data ?? []).filter((r) => !r.quarantinedAt && r.sendable);
  const quarantined = (releases.data ?? []).filter((r) => r.quarantinedAt);
  // The server's rule (server/releases/sendable.ts): unsigned or wrongly signed releases go nowhere.
  const unsendable = (releases.data ?? []).filter((r) => !r.quarantinedAt && !r.sendable);

  return (
    <>
      <nav className="breadcrumb" aria-label="Breadcrumb">
        <Link href="/rollouts">Rollouts</Link> / <span aria-current="page">New rollout</span>
      </nav>
      <div className="page-header">
        <h1>New rollout</h1>
        <p className="muted">Pick a release and the rings it goes through; the dry run on the right updates as you go.</p>
      </div>
      <div className="new-rollout">
        <form
          className="card stack"
          aria-labelledby="plan-title"
          onSubmit={(e) => {
            e.preventDefault();
            if (plan && previewData && !stale) setConfirming(true);
          }}
        >
          <h2 id="plan-title" className="sr-only">
            Rollout plan
          </h2>
          <Field label="Release" hint={release ? <Checksum value={release.checksum} /> : "newest first"}>
            {(field) => (
              <select
                {...field}
                value={release?.id ?? ""}
                required
                onChange={(e) => setReleaseId(e.target.value || null)}
                {...invalidIf(fieldProblem, "version")}
              >
                <option value="">{releases.isPending ? "Loading releases…" : "Choose a release"}</option>
                {activeReleases.map((r) => (
                  <option key={r.id} value={r.id}>
                    {r.version} — {r.branch.ref}
                  </option>
                ))}
                {unsendable.length > 0 && (
                  <optgroup label="Cannot be sent (unsigned or wrongly signed)">
                    {unsendable.map((r) => (
                      <option key={r.id} value={r.id} disabled title={r.unsendableReason ?? undefined}>
                        {r.version} — {r.branch.ref}
                      </option>
                    ))}
                  </optgroup>
                )}
                {quarantined.length > 0 && (
                  <optgroup label="Quarantined (emergency brake)">
                    {quarantined.map((r) => (
                      <option key={r.id} value={r.id} disabled>
                        {r.version} — {r.branch.ref}
                      </option>
                    ))}
                  </optgroup>
                )}
              </select>
            )}
          </Field>

          <fieldset {...invalidIf(fieldProblem, "rings")}>
            <legend>Rings, in order</legend>
            {rings.data?.length === 0 && <p className="muted">No rings yet: create one on the Rings page.</p>}
            <ul className="ring-picks">
              {rings.data?.map((r) => {
                const on = picked.includes(r.name);
                const position = orderedRings.indexOf(r.name);
                return (
                  <li key={r.name}>
                    <label className="ring-pick">
                      <input type="checkbox" checked={on} onChange={(e) => toggleRing(r.name, e.target.checked)} />
                      <span className={on ? "order picked" : "order"} aria-hidden="true">
                        {on ? position + 1 : "·"}
                      </span>
                      <span>
                        <strong>{r.name}</strong>{" "}
                        <span className="muted">
                          {plural(r.machines, "machine")} · runs {r.currentRelease?.version ?? "no release"}
                          {release && r.branch.ref !== release.branch.ref ? ` · on ${r.branch.ref}` : ""}
                        </span>
                      </span>
                    </label>
                  </li>
                );
              })}
            </ul>
          </fieldset>

          <fieldset>
            <legend>Waves</legend>
            <label className="check-row">
              <input type="checkbox" checked={singleFirst} onChange={(e) => setSingleFirst(e.target.checked)} />
              Start each ring with a single machine
            </label>
            <Field
              label="Then these shares of each ring (%)"
              hint={wavesMalformed ? "whole numbers, such as 10, 50, 100" : `${wavePlanText(singleFirst, waves)} — the last must be 100`}
            >
              {(field) => (
                <input
                  {...field}
                  value={wavesText}
                  inputMode="numeric"
                  autoComplete="off"
                  onChange={(e) => setWavesText(e.target.value)}
                  {...(wavesMalformed ? { "aria-invalid": true } : invalidIf(fieldProblem, "waves"))}
                />
              )}
            </Field>
          </fieldset>

          <fieldset>
            <legend>Health gate</legend>
            <div className="two-col">
              <Field label="Soak (minutes)" hint={`a finished wave stays healthy this long${Number(soakMinutes) > 0 ? ` — ${formatSeconds(Math.round(Number(soakMinutes) * 60))}` : ""}`}>
                {(field) => (
                  <input {...field} type="number" min={0} step="any" value={soakMinutes} onChange={(e) => setSoakMinutes(e.target.value)} {...invalidIf(fieldProblem, "soakSeconds")} />
                )}
              </Field>
              <Field label="Max failure rate (%)" hint="failed, rolled back or dark">
                {(field) => (
                  <input {...field} type="number" min={0} max={100} step="any" value={maxFailurePercent} onChange={(e) => setMaxFailurePercent(e.target.value)} {...invalidIf(fieldProblem, "maxFailureRate")} />
                )}
              </Field>
              <Field label="Min sample" hint="finished machines before the rate counts">
                {(field) => (
                  <input {...field} type="number" min={1} step={1} value={minSample} onChange={(e) => setMinSample(e.target.value)} {...invalidIf(fieldProblem, "minSample")} />
                )}
              </Field>
              <Field label="Dark after (minutes)" hint="no healthy boot by then: dark">
                {(field) => (
                  <input {...field} type="number" min={1} step="any" value={darkMinutes} onChange={(e) => setDarkMinutes(e.target.value)} {...invalidIf(fieldProblem, "darkAfterSeconds")} />
                )}
              </Field>
            </div>
            <label className="check-row">
              <input type="checkbox" checked={approveBetween} onChange={(e) => setApproveBetween(e.target.checked)} />
              An operator approves before each ring after the first
            </label>
          </fieldset>

          <fieldset>
            <legend>Machines</legend>
            <Field label="Force into the first wave (machine ids)" hint="one per line, or separated by commas">
              {(field) => (
                <textarea {...field} rows={2} value={forceFirst} onChange={(e) => setForceFirst(e.target.value)} spellCheck={false} className="mono" {...invalidIf(fieldProblem, "forceFirst")} />
              )}
            </Field>
            <Field label="Leave out (machine ids)" hint="pinned machines are always left out">
              {(field) => (
                <textarea {...field} rows={2} value={exclude} onChange={(e) => setExclude(e.target.value)} spellCheck={false} className="mono" {...invalidIf(fieldProblem, "exclude")} />
              )}
            </Field>
          </fieldset>

          {anyDowngrade && (
            <label className="check-row notice warning">
              <input type="checkbox" checked={allowDowngrade} onChange={(e) => setAllowDowngrade(e.target.checked)} {...invalidIf(fieldProblem, "allowDowngrade")} />
              <span>
                <strong>Allow downgrade:</strong> roll forward to this older release on purpose (known-good)
              </span>
            </label>
          )}

          <ReasonInput value={reason} onChange={setReason} />

          <ErrorNotice error={previewError} title="The plan is not valid:" />
          <div className="sticky-actions">
            <button type="submit" className="primary" disabled={!plan || !previewData || stale || machineTotal === 0 || previewData.release.quarantined || !previewData.release.sendable}>
              Start rollout…
            </button>
            <span className="muted small">
              {!release
                ? "Choose a release."
                : orderedRings.length === 0
                  ? "Pick at least one ring."
                  : previewData && !stale
                    ? `${plural(machineTotal, "machine")} in ${plural(orderedRings.length, "ring")}`
                    : "Working out the waves…"}
            </span>
          </div>
        </form>

        <section aria-labelledby="preview-title" aria-busy={stale || undefined}>
          <h2 id="preview-title" className="sr-only">
            Dry run
          </h2>
          {release?.quarantinedAt && <QuarantinedBadge since={release.quarantinedAt} reason={release.quarantineReason} />}
          <RolloutPreview preview={previewData} stale={stale} ready={plan !== null} />
          {chosen.data && chosen.data.id === release?.id && <ChangesSummary release={chosen.data} pageLink />}
        </section>
      </div>

      <ConfirmDialog
        open={confirming}
        title={`Start the rollout of ${release?.version ?? ""}?`}
        confirmLabel="Start rollout"
        busy={start.isPending}
        error={startError}
        onClose={() => {
          start.reset();
          setConfirming(false);
        }}
        onConfirm={() => plan && start.mutate({ ...plan, reason: reason.trim() || undefined })}
      >
        <p>
          <strong>{plural(machineTotal, "machine")}</strong> in <strong>{plural(orderedRings.length, "ring")}</strong> (
          {orderedRings.join(" → ")}) will update to <strong>{release?.version}</strong>, wave by wave:{" "}
          {wavePlanText(singleFirst, waves)}.
        </p>
        <p className="muted">
          Each wave opens once the one before has finished and stayed healthy for{" "}
          {Number(soakMinutes) > 0 ? formatSeconds(Math.round(Number(soakMinutes) * 60)) : "no time at all (no soak)"}; more than{" "}
          {maxFailurePercent || 0} % failures pauses it.
          {approveBetween && orderedRings.length > 1 ? " Each ring after the first waits for an approval." : ""}
        </p>
      </ConfirmDialog>
    </>
  );
}
