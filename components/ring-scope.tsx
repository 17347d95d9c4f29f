"use client";
// A role's ring scope (server/auth/scope.ts): every ring, or the rings named.
// The field chooses it (none chosen: every ring); an admin is never scoped,
// so the field is off for one. The server checks the rings; its problem,
// when it is about `rings`, marks the field.
import { useId } from "react";
import { invalidIf, type Problem } from "./format";

/** A scope as the tables show it. */
export function RingScope({ rings }: { rings: readonly string[] | null }) {
  if (rings === null) return <span className="muted">every ring</span>;
  return (
    <ul className="chips" aria-label="Rings">
      {rings.map((ring) => (
        <li key={ring} className="chip">
          {ring}
        </li>
      ))}
    </ul>
  );
}

/** The rings a form sends: null (every ring) when none is chosen. */
export function scopeOf(chosen: readonly string[]): string[] | null {
  return chosen.length ? [...chosen] : null;
}

export function RingScopeField({
  rings,
  value,
  onChange,
  admin,
  problem,
}: {
  /** The rings there are; undefined while they load. */
  rings: readonly string[] | undefined;
  value: readonly string[];
  onChange: (value: string[]) => void;
  /** The role is admin: every ring, nothing to choose. */
  admin: boolean;
  problem: Problem | null | undefined;
}) {
  const hintId = useId();
  // A scope may name a ring the list does not have (yet): it stays choosable.
  const names = [...new Set([...(rings ?? []), ...value])];
  const hint = admin
    ? "An admin acts on every ring."
    : value.length
      ? `The role holds on ${value.join(", ")} only.`
      : "None chosen: the role holds on every ring, rings added later too.";
  return (
    <fieldset className="ring-scope" disabled={admin} aria-describedby={hintId}>
      <legend>Rings</legend>
      {rings === undefined ? (
        <span className="muted small">Loading the rings…</span>
      ) : names.length === 0 ? (
        <span className="muted small">There are no rings yet.</span>
      ) : (
        <span className="ring-checks">
          {names.map((ring) => (
            <label key={ring} className="radio">
              <input
                type="checkbox"
                name="rings"
                value={ring}
                checked={!admin && value.includes(ring)}
                onChange={(event) => onChange(event.target.checked ? [...value, ring] : value.filter((r) => r !== ring))}
                {...invalidIf(problem, "rings")}
              />
              {ring}
            </label>
          ))}
        </span>
      )}
      <span id={hintId} className="hint">
        {hint}
      </span>
    </fieldset>
  );
}
