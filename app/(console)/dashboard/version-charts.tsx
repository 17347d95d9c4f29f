"use client";
// The dashboard's two version charts (recharts, inline SVG): which versions
// run in each ring as stacked bars, and how that changed over time from the
// server's snapshots. Each chart has its numbers written beside it as text.
import { Area, AreaChart, Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { RouterOutputs } from "@/components/router-types";

type Summary = RouterOutputs["dashboard"]["summary"];
type History = RouterOutputs["dashboard"]["versionHistory"];

export const NOT_REPORTED = "not reported";

// Distinct, colour-blind-friendly hues (Okabe–Ito and Tableau); "not reported" is grey.
const PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#7a5195", "#8c6d31", "#2f4b7c", "#bc5090"];

const collator = new Intl.Collator("en", { numeric: true });

/** Versions in order, oldest first, "not reported" last. */
export function sortVersions(versions: Iterable<string>) {
  return [...new Set(versions)].sort((a, b) => (a === NOT_REPORTED ? 1 : b === NOT_REPORTED ? -1 : collator.compare(a, b)));
}

/** One colour per version, the same in both charts. */
export function versionColours(versions: string[]) {
  const colours = new Map<string, string>();
  let i = 0;
  for (const v of versions) colours.set(v, v === NOT_REPORTED ? "#9aa3ad" : PALETTE[i++ % PALETTE.length]);
  return colours;
}

const AXIS = { fontSize: 12, fill: "#5b6676" };

export function VersionsByRingChart({ rings, colours }: { rings: Summary["versionsByRing"]; colours: Map<string, string> }) {
  const versions = sortVersions(rings.flatMap((r) => Object.keys(r.versions)));
  const data = rings.map((r) => ({ ring: r.ring ?? "no ring", ...r.versions }));
  const summary = rings
    .map((r) => `${r.ring ?? "no ring"}: ${Object.entries(r.versions).map(([v, n]) => `${n} on ${v}`).join(", ")}`)
    .join("; ");
  return (
    <div className="chart" role="img" aria-label={`Versions per ring. ${summary}`}>
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={data} layout="vertical" margin={{ top: 4, right: 16, bottom: 4, left: 8 }} accessibilityLayer={false}>
          <CartesianGrid horizontal={false} stroke="#e4e8ed" />
          <XAxis type="number" allowDecimals={false} tick={AXIS} />
          <YAxis type="category" dataKey="ring" width={90} tick={AXIS} />
          <Tooltip cursor={{ fill: "rgba(0,0,0,0.04)" }} />
          <Legend wrapperStyle={{ fontSize: 13 }} />
          {versions.map((v) => (
            <Bar key={v} dataKey={v} name={v} stackId="versions" fill={colours.get(v)} isAnimationActive={false} maxBarSize={28} />
          ))}
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}

const timeFormat = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit" });
const secondsFormat = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dayTimeFormat = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });

export function VersionHistoryChart({ history, colours }: { history: History; colours: Map<string, string> }) {
  const versions = sortVersions(history.versions);
  const data = history.points.map((p) => {
    const { at, ...counts } = p as { at: Date } & Record<string, number>;
    return { t: at.getTime(), ...Object.fromEntries(versions.map((v) => [v, counts[v] ?? 0])) };
  });
  const first = data[0]?.t ?? 0;
  const last = data[data.length - 1]?.t ?? 0;
  const span = last - first;
  // Ticks fall every few minutes at least, or a few seconds apart on a young console: say seconds then.
  const tickFormat = span > 20 * 3600 * 1000 ? dayTimeFormat : span > 20 * 60 * 1000 ? timeFormat : secondsFormat;
  const format = (t: number) => tickFormat.format(new Date(t));
  const latest = history.points[history.points.length - 1] as ({ at: Date } & Record<string, number>) | undefined;
  const latestText = latest
    ? versions.map((v) => `${latest[v] ?? 0} on ${v}`).join(", ")
    : "";
  return (
    <div
      className="chart"
      role="img"
      aria-label={`Machines per version over time, ${data.length} snapshots from ${format(first)} to ${format(last)}. Latest: ${latestText}`}
    >
      <ResponsiveContainer width="100%" height="100%">
        <AreaChart data={data} margin={{ top: 4, right: 16, bottom: 4, left: 0 }} accessibilityLayer={false}>
          <CartesianGrid vertical={false} stroke="#e4e8ed" />
          <XAxis dataKey="t" type="number" scale="time" domain={["dataMin", "dataMax"]} tickFormatter={format} tick={AXIS} minTickGap={40} />
          <YAxis allowDecimals={false} width={40} tick={AXIS} />
          <Tooltip labelFormatter={(t) => dayTimeFormat.format(new Date(Number(t)))} />
          <Legend wrapperStyle={{ fontSize: 13 }} />
          {versions.map((v) => (
            <Area
              key={v}
              type="stepAfter"
              dataKey={v}
              name={v}
              stackId="versions"
              stroke={colours.get(v)}
              fill={colours.get(v)}
              fillOpacity={0.75}
              isAnimationActive={false}
            />
          ))}
        </AreaChart>
      </ResponsiveContainer>
    </div>
  );
}
