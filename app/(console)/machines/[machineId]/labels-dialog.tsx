"use client";
// An operator adds, changes and removes a machine's labels in one call
// (machines.setLabels). The server checks the names and values; its refusal
// marks the label it is about. Labels its agent cannot set (a ring's failure
// domain) say so, in the server's words.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ConfirmDialog, ReasonInput } from "@/components/dialog";
import { invalidIf, type Problem, problemOf } from "@/components/format";
import type { RouterOutputs } from "@/components/router-types";
import { useTRPC } from "@/components/trpc";

type Machine = RouterOutputs["machines"]["get"];

interface Row {
  /** Stable across edits, for React's keys and the inputs' names. */
  id: number;
  key: string;
  value: string;
}

function labelsOf(machine: Machine): Record<string, string> {
  const labels = machine.labels;
  if (!labels || typeof labels !== "object" || Array.isArray(labels)) return {};
  return Object.fromEntries(Object.entries(labels as Record<string, unknown>).map(([key, value]) => [key, String(value)]));
}

/** What the rows change, as machines.setLabels takes it: labels new or with another value, labels gone. */
export function changesOf(before: Record<string, string>, rows: readonly Row[]) {
  const set: Record<string, string> = {};
  const kept = new Set<string>();
  for (const row of rows) {
    // A row added and left empty changes nothing.
    if (row.key === "" && row.value === "") continue;
    kept.add(row.key);
    if (before[row.key] !== row.value) set[row.key] = row.value;
  }
  const remove = Object.keys(before).filter((key) => !kept.has(key));
  return { set, remove };
}

/** The form's own check: a name given twice would lose one of the values. */
function twiceGiven(rows: readonly Row[]): Problem | null {
  const seen = new Set<string>();
  for (const row of rows) {
    if (row.key === "" && row.value === "") continue;
    if (seen.has(row.key)) return { message: `set.${row.key}: the label ${row.key} is given twice`, field: `set.${row.key}` };
    seen.add(row.key);
  }
  return null;
}

function summary(set: Record<string, string>, remove: string[]) {
  const parts = [
    Object.keys(set).length ? `set ${Object.entries(set).map(([k, v]) => `${k}=${v}`).join(", ")}` : "",
    remove.length ? `removed ${remove.join(", ")}` : "",
  ].filter(Boolean);
  return parts.join("; ");
}

export function LabelsDialog({ machine, onClose, onDone }: { machine: Machine; onClose: () => void; onDone: (message: string) => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const before = labelsOf(machine);
  const [rows, setRows] = useState<Row[]>(() => Object.entries(before).map(([key, value], id) => ({ id, key, value })));
  const [nextId, setNextId] = useState(rows.length);
  const [reason, setReason] = useState("");
  const [local, setLocal] = useState<Problem | null>(null);
  const save = useMutation(
    trpc.machines.setLabels.mutationOptions({
      onSuccess: async (_answer, input) => {
        await queryClient.invalidateQueries(trpc.machines.pathFilter());
        onDone(`Labels of ${machine.hostname}: ${summary(input.set ?? {}, input.remove ?? [])}.`);
      },
    }),
  );
  const { set, remove } = changesOf(before, rows);
  const changed = Object.keys(set).length > 0 || remove.length > 0;
  const problem = local ?? problemOf(save.error);
  const reserved = new Map(machine.reservedLabels.map((r) => [r.key, r.why]));

  const edit = (id: number, change: Partial<Row>) => {
    setLocal(null);
    setRows((prev) => prev.map((row) => (row.id === id ? { ...row, ...change } : row)));
  };
  const add = () => {
    setRows((prev) => [...prev, { id: nextId, key: "", value: "" }]);
    setNextId(nextId + 1);
  };
  const drop = (id: number) => {
    setLocal(null);
    setRows((prev) => prev.filter((row) => row.id !== id));
  };
  const confirm = () => {
    const twice = twiceGiven(rows);
    setLocal(twice);
    if (!twice) save.mutate({ machineId: machine.machineId, set, remove, reason: reason.trim() || undefined });
  };

  return (
    <ConfirmDialog
      open
      wide
      title={`Labels of ${machine.hostname}`}
      confirmLabel="Save labels"
      confirmDisabled={!changed}
      busy={save.isPending}
      error={problem?.message}
      onClose={() => {
        save.reset();
        onClose();
      }}
      onConfirm={confirm}
    >
      <p className="muted">
        Labels pick machines in the table&apos;s filter and in a rollout&apos;s first and excluded machines; a ring with a failure
        domain counts its reboot slots per value of that label.
      </p>
      {rows.length === 0 ? (
        <p className="muted">No labels.</p>
      ) : (
        <ul className="label-rows">
          {rows.map((row, index) => {
            const n = index + 1;
            const marked = invalidIf(problem, `set.${row.key}`);
            const why = reserved.get(row.key);
            return (
              <li key={row.id}>
                <input
                  aria-label={`Name of label ${n}`}
                  value={row.key}
                  placeholder="name, such as site"
                  autoComplete="off"
                  spellCheck={false}
                  onChange={(e) => edit(row.id, { key: e.target.value })}
                  {...marked}
                />
                <span aria-hidden="true">=</span>
                <input
                  aria-label={row.key ? `Value of ${row.key}` : `Value of label ${n}`}
                  value={row.value}
                  placeholder="value"
                  autoComplete="off"
                  spellCheck={false}
                  onChange={(e) => edit(row.id, { value: e.target.value })}
                  {...marked}
                />
                <button type="button" className="link-like" aria-label={`Remove ${row.key || `label ${n}`}`} onClick={() => drop(row.id)}>
                  Remove
                </button>
                {why && <p className="label-note muted small">{why}</p>}
              </li>
            );
          })}
        </ul>
      )}
      <p>
        <button type="button" onClick={add}>
          Add a label
        </button>
      </p>
      <ReasonInput value={reason} onChange={setReason} />
    </ConfirmDialog>
  );
}
