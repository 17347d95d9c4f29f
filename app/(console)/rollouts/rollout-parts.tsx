"use client";
// Pieces shared by the rollout pages: the rings of a rollout in one line
// each, the controller's "waiting for" text with readable times, the wave plan.
import { Fragment } from "react";
import { formatSeconds } from "@/components/format";
import { formatDateTime, RelativeTime, RingPhaseBadge, type ShownRingPhase } from "@/components/status";
import { isActiveRollout, type RingPhase } from "@/server/vocabulary";

const ISO = /(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)/;

/** Server text with ISO times in it ("soaking until 2026-…Z"), the times shown local and relative. */
export function TextWithTimes({ text }: { text: string }) {
  const parts = text.split(ISO);
  return (
    <>
      {parts.map((part, i) => {
        if (i % 2 === 0) return <Fragment key={i}>{part}</Fragment>;
        const date = new Date(part);
        if (Number.isNaN(date.getTime())) return <Fragment key={i}>{part}</Fragment>;
        return (
          <span key={i} className="nowrap">
            <time dateTime={part} title={part}>
              {formatDateTime(date, new Date().getFullYear())}
            </time>{" "}
            (<RelativeTime value={date} />)
          </span>
        );
      })}
    </>
  );
}

export function wavePlanText(singleFirst: boolean, percents: number[]) {
  return [...(singleFirst ? ["1 machine"] : []), ...percents.map((p) => `${p} %`)].join(" → ");
}

export function percentText(rate: number) {
  return `${(rate * 100).toFixed(1).replace(/\.0$/, "")} %`;
}

export function soakText(seconds: number) {
  return seconds === 0 ? "none" : formatSeconds(seconds);
}

/** A ring's phase as an operator should read it: an active ring of an aborted rollout has stopped. */
export function ringPhaseFor(phase: RingPhase, rolloutState: string): ShownRingPhase {
  return !isActiveRollout(rolloutState) && (phase === "active" || phase === "awaiting_approval") ? "stopped" : phase;
}

interface RingLine {
  phase: RingPhase;
  /** The newest open wave, from 1; null before the first opens. */
  currentWave: number | null;
  /** How many waves the ring has. */
  waves: number;
  ring: { name: string };
}

/** The rings of a rollout in order, each with its phase and open wave. */
export function RingSteps({ rings, rolloutState }: { rings: RingLine[]; rolloutState: string }) {
  return (
    <ol className="ring-steps" aria-label="Rings in order">
      {rings.map((r, i) => (
        <li key={r.ring.name}>
          <span className="muted">{i + 1}.</span> <strong>{r.ring.name}</strong>{" "}
          <RingPhaseBadge phase={ringPhaseFor(r.phase, rolloutState)} />
          {r.phase === "active" && r.currentWave !== null && isActiveRollout(rolloutState) && (
            <span className="muted small">
              wave {r.currentWave} of {r.waves}
            </span>
          )}
        </li>
      ))}
    </ol>
  );
}
