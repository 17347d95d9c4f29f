"use client";
// A modal confirmation on the native <dialog>: focus moves into it, Escape
// cancels, and the page behind cannot be clicked.
import { type FormEvent, type ReactNode, useEffect, useId, useRef } from "react";

interface Props {
  open: boolean;
  title: string;
  children?: ReactNode;
  confirmLabel: string;
  tone?: "primary" | "danger";
  busy?: boolean;
  error?: string | null;
  /** Disables the confirm button, for example until a choice is made. */
  confirmDisabled?: boolean;
  /** A wider dialog, for forms with more than a few fields. */
  wide?: boolean;
  onConfirm: () => void;
  onClose: () => void;
}

export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  tone = "primary",
  busy,
  error,
  confirmDisabled,
  wide,
  onConfirm,
  onClose,
}: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (!busy && !confirmDisabled) onConfirm();
  }

  return (
    <dialog ref={ref} className={wide ? "dialog wide" : "dialog"} aria-labelledby={titleId} onClose={onClose}>
      {open && (
        <form onSubmit={submit} className="stack">
          <h2 id={titleId}>{title}</h2>
          {children}
          {error && (
            <p role="alert" className="notice error">
              {error}
            </p>
          )}
          <div className="dialog-actions">
            <button type="button" onClick={onClose} disabled={busy}>
              Cancel
            </button>
            <button type="submit" className={tone} disabled={busy || confirmDisabled}>
              {busy ? "Working…" : confirmLabel}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}

/** The optional reason every operator action records in the audit log. */
export function ReasonInput({ value, onChange, required = false }: { value: string; onChange: (value: string) => void; required?: boolean }) {
  return (
    <label>
      {required ? "Reason (required, kept in the audit log)" : "Reason (optional, kept in the audit log)"}
      <input value={value} maxLength={500} required={required} onChange={(e) => onChange(e.target.value)} />
    </label>
  );
}
