"use client";
// The dry run of a rollout plan: for each ring, the machines of each wave.
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { DataTable } from "@/components/data-table";
import type { RouterOutputs } from "@/components/router-types";
import { StateBadge } from "@/components/status";
import { plural } from "@/components/step-bar";

type Preview = RouterOutputs["rollouts"]["preview"];
type PreviewRing = Preview["rings"][number];
type PreviewMachine = PreviewRing["excluded"][number];

interface WaveRow {
  key: string;
  name: string;
  share: string;
  count: number;
  cumulative: number | null;
  ringTotal: number;
  machines: PreviewMachine[];
  excluded?: boolean;
}

const SHOWN = 24;

function MachineChip({ m }: { m: PreviewMachine }) {
  return (
    <li
      className={`machine-chip ${m.online ? "is-online" : "is-offline"}`}
      title={`${m.machineId} · cohort ${m.cohort.toFixed(4)} · ${m.online ? "online" : "offline"} · boots ${m.bootedVersion ?? "unknown"}${m.pinned ? " · pinned" : ""}`}
    >
      <span className="dot" aria-hidden="true" />
      <span>{m.hostname}</span>
      <span className="cohort">{m.cohort.toFixed(2)}</span>
      <span className="small">{m.online ? "online" : "offline"}</span>
      {m.pinned && <span className="small">· pinned</span>}
    </li>
  );
}

function MachineChips({ machines, count }: { machines: PreviewMachine[]; count: number }) {
  if (count === 0) return <span className="muted">none</span>;
  const first = machines.slice(0, SHOWN);
  const rest = machines.slice(SHOWN);
  const unlisted = count - machines.length;
  return (
    <ul className="machine-chips" aria-label={`${count} machines`}>
      {first.map((m) => (
        <MachineChip key={m.machineId} m={m} />
      ))}
      {rest.length > 0 && (
        <li>
          <details>
            <summary>{rest.length} more…</summary>
            <ul className="machine-chips">
              {rest.map((m) => (
                <MachineChip key={m.machineId} m={m} />
              ))}
            </ul>
          </details>
        </li>
      )}
      {unlisted > 0 && <li className="muted small">and {unlisted.toLocaleString()} not listed</li>}
    </ul>
  );
}

const columns: ColumnDef<WaveRow, unknown>[] = [
  {
    id: "wave",
    header: "Wave",
    cell: ({ row }) => (
      <span className="stacked">
        <strong>{row.original.name}</strong>
        <span className="muted small">{row.original.share}</span>
      </span>
    ),
  },
  {
    id: "count",
    header: "Machines",
    cell: ({ row }) => (
      <span className="stacked">
        <span className="big-number">{row.original.count.toLocaleString()}</span>
        {row.original.cumulative !== null && (
          <span className="muted small nowrap">
            {row.original.cumulative} of {row.original.ringTotal} by then
          </span>
        )}
      </span>
    ),
  },
  {
    id: "machines",
    header: "Which (hostname, cohort, online)",
    cell: ({ row }) => <MachineChips machines={row.original.machines} count={row.original.count} />,
  },
];

function rowsOf(ring: PreviewRing): WaveRow[] {
  let cumulative = 0;
  const rows: WaveRow[] = ring.waves.map((w) => {
    cumulative += w.count;
    return {
      key: `wave-${w.number}`,
      name: `Wave ${w.number}`,
      share: w.label === "1 machine" ? "single first machine" : `up to ${w.label} of the ring`,
      count: w.count,
      cumulative,
      ringTotal: ring.machines,
      machines: w.machines,
    };
  });
  if (ring.excludedCount > 0) {
    rows.push({
      key: "excluded",
      name: "Left out",
      share: "excluded or pinned",
      count: ring.excludedCount,
      cumulative: null,
      ringTotal: ring.machines,
      machines: ring.excluded,
      excluded: true,
    });
  }
  return rows;
}

export function RolloutPreview({ preview, stale, ready }: { preview: Preview | null; stale: boolean; ready: boolean }) {
  if (!ready) {
    return (
      <div className="card">
        <h2>Dry run</h2>
        <p className="muted">Choose a release and at least one ring to see which machines each wave reaches.</p>
      </div>
    );
  }
  if (!preview) {
    return (
      <div className="card" aria-busy="true">
        <h2>Dry run</h2>
        <span className="skeleton" />
      </div>
    );
  }
  const total = preview.rings.reduce((sum, r) => sum + r.waves.reduce((s, w) => s + w.count, 0), 0);
  return (
    <div className={stale ? "preview stale" : "preview"}>
      <p className="preview-total">
        Dry run: <strong>{plural(total, "machine")}</strong> in <strong>{plural(preview.rings.length, "ring")}</strong> would update to{" "}
        <strong>{preview.release.version}</strong> <code className="muted small">{preview.release.ref}</code>
        {stale && <span className="muted small"> · updating…</span>}
      </p>
      {!preview.release.sendable && (
        <p className="notice error" role="alert">
          {preview.release.unsendableReason}
        </p>
      )}
      {preview.release.quarantined && (
        <p className="notice error" role="alert">
          Release {preview.release.version} is quarantined (emergency brake): it cannot be rolled out.
        </p>
      )}
      {preview.rings.map((ring, i) => (
        <section key={ring.ring} className="preview-ring" aria-labelledby={`preview-${ring.ring}`}>
          <h3 id={`preview-${ring.ring}`}>
            <span className="order">{i + 1}</span> Ring {ring.ring}
            <span className="muted small">
              {plural(ring.machines, "machine")} · runs {ring.currentRelease ?? "no release"}
            </span>
            {ring.rebase && <StateBadge tone="info">Rebase</StateBadge>}
            {ring.downgrade && <StateBadge tone="warn">Downgrade</StateBadge>}
          </h3>
          {ring.rebase && (
            <p className="notice info">
              Ring {ring.ring} follows <code>{ring.branch}</code>: its machines rebase to <code>{preview.release.ref}</code>, and
              the ring follows that branch once the rollout completes it.
            </p>
          )}
          {ring.multiHop > 0 && (
            <p className="notice info">
              {plural(ring.multiHop, "machine")} of ring {ring.ring} {ring.multiHop === 1 ? "runs" : "run"} a release older than a floor (or
              behind a blocked path): {ring.multiHop === 1 ? "it boots" : "they boot"} the floors first, in order, within this rollout, and
              {ring.multiHop === 1 ? " counts" : " count"} as done only on {preview.release.version}.{" "}
              <Link href={`/releases/paths?ref=${encodeURIComponent(preview.release.ref)}`}>Update paths</Link>
            </p>
          )}
          {ring.noPath > 0 && (
            <p className="notice warning">
              {plural(ring.noPath, "machine")} of ring {ring.ring} {ring.noPath === 1 ? "has" : "have"} no allowed path to{" "}
              {preview.release.version} (blocked paths): {ring.noPath === 1 ? "it is" : "they are"} sent nothing.{" "}
              <Link href={`/releases/paths?ref=${encodeURIComponent(preview.release.ref)}`}>Update paths</Link>
            </p>
          )}
          {ring.downgrade && (
            <p className="notice warning">
              Ring {ring.ring} runs {ring.currentRelease}, newer than {preview.release.version}: this rolls it forward to an
              older release. Tick “Allow downgrade” to do it on purpose.
            </p>
          )}
          <DataTable
            caption={`Waves of ring ${ring.ring}`}
            columns={columns}
            rows={rowsOf(ring)}
            rowKey={(r) => r.key}
            empty="This ring has no machines: it completes at once."
          />
        </section>
      ))}
    </div>
  );
}
