// A stacked progress bar of machine steps: finished outcomes first (green,
// red, purple, near-black, hatched grey for cancelled), then machines on their
// way (blue), held by a pause (amber), then machines told to update that have
// not started (light blue), then those not reached yet. The numbers are
// always written beside it.
import { emptyStepCounts, type MachineStep, type StepCounts } from "@/server/vocabulary";

export type { StepCounts };

export const SEGMENTS = [
  { key: "succeeded", label: "succeeded", steps: ["succeeded"] },
  { key: "failed", label: "failed", steps: ["failed"] },
  { key: "rolled_back", label: "rolled back", steps: ["rolled_back"] },
  { key: "dark", label: "dark", steps: ["dark"] },
  { key: "cancelled", label: "cancelled", steps: ["cancelled"] },
  { key: "progress", label: "in progress", steps: ["downloading", "staged", "rebooting", "verifying"] },
  { key: "held", label: "held", steps: ["held"] },
  { key: "assigned", label: "assigned", steps: ["pending", "assigned"] },
] as const satisfies readonly { key: string; label: string; steps: readonly MachineStep[] }[];

/** Every step has its segment: adding a step without one does not compile. */
type Segmented = (typeof SEGMENTS)[number]["steps"][number];
const _everyStepShown: Record<MachineStep, true> = {} as Record<Segmented, true>;
void _everyStepShown;

export type SegmentKey = (typeof SEGMENTS)[number]["key"];

export function segmentCounts(steps: StepCounts): Record<SegmentKey, number> {
  const out = {} as Record<SegmentKey, number>;
  for (const segment of SEGMENTS) out[segment.key] = segment.steps.reduce((sum, step) => sum + (steps[step] ?? 0), 0);
  return out;
}

export function sumSteps(steps: StepCounts) {
  return Object.values(steps).reduce((a, b) => a + b, 0);
}

/** Adds step counts together (rings of a rollout, waves of a ring). */
export function addSteps(items: StepCounts[]): StepCounts {
  const out = emptyStepCounts();
  for (const item of items) for (const key of Object.keys(out) as MachineStep[]) out[key] += item[key] ?? 0;
  return out;
}

export function plural(n: number, one: string, many = `${one}s`) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

/** The word that agrees with `n`: agree(1, "boots", "boot") → "boots". */
export function agree(n: number, one: string, many: string) {
  return n === 1 ? one : many;
}

interface Props {
  steps: StepCounts;
  /** The bar's full width in machines; more than the counted steps when some machines are not reached yet. */
  total?: number;
  /** What the bar is about, for screen readers ("wave 2 of ring beta"). */
  label: string;
  /** Word for what is not reached yet. */
  remainingLabel?: string;
  size?: "small" | "normal";
  /** Writes the counts below the bar; off where the numbers are shown elsewhere. */
  legend?: boolean;
}

export function StepBar({ steps, total, label, remainingLabel = "not reached yet", size = "normal", legend = true }: Props) {
  const counts = segmentCounts(steps);
  const counted = sumSteps(steps);
  const width = Math.max(total ?? counted, counted);
  const remaining = width - counted;
  const parts = SEGMENTS.filter((s) => counts[s.key] > 0).map((s) => `${counts[s.key]} ${s.label}`);
  if (remaining > 0) parts.push(`${remaining} ${remainingLabel}`);
  const summary = width === 0 ? "no machines" : `${counts.succeeded} of ${width} succeeded${parts.length ? `: ${parts.join(", ")}` : ""}`;
  return (
    <div className={`stepbar-block ${size}`}>
      <div className="stepbar" role="img" aria-label={`${label}: ${summary}`} title={summary}>
        {width > 0 &&
          SEGMENTS.filter((s) => counts[s.key] > 0).map((s) => (
            <span key={s.key} className={`seg seg-${s.key}`} style={{ width: `${(counts[s.key] / width) * 100}%` }} />
          ))}
      </div>
      {legend && (
        <p className="stepbar-legend" aria-hidden="true">
          {width === 0 ? (
            <span className="muted">no machines</span>
          ) : (
            <>
              <span className="legend-total">
                <strong>{counts.succeeded}</strong>/{width} succeeded
              </span>
              {SEGMENTS.filter((s) => s.key !== "succeeded" && counts[s.key] > 0).map((s) => (
                <span key={s.key} className="legend-item">
                  <span className={`swatch seg-${s.key}`} />
                  {counts[s.key]} {s.label}
                </span>
              ))}
              {remaining > 0 && (
                <span className="legend-item">
                  <span className="swatch seg-remaining" />
                  {remaining} {remainingLabel}
                </span>
              )}
            </>
          )}
        </p>
      )}
    </div>
  );
}

/** The colour key of the bars, once per page. */
export function StepLegend() {
  return (
    <ul className="step-key" aria-label="Colour key of the progress bars">
      {SEGMENTS.map((s) => (
        <li key={s.key}>
          <span className={`swatch seg-${s.key}`} aria-hidden="true" /> {s.label}
        </li>
      ))}
      <li>
        <span className="swatch seg-remaining" aria-hidden="true" /> not reached yet
      </li>
    </ul>
  );
}
