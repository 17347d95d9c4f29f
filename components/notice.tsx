// Page and form states in one style: errors, results, and "not for you".
import Link from "next/link";
import type { ReactNode } from "react";

export function ErrorNotice({ error, title }: { error: string | null | undefined; title?: string }) {
  if (!error) return null;
  return (
    <div role="alert" className="notice error">
      {title && <strong>{title} </strong>}
      {error}
    </div>
  );
}

export function SuccessNotice({ children, onDismiss }: { children: ReactNode; onDismiss?: () => void }) {
  return (
    <div role="status" className="notice success">
      <span>{children}</span>
      {onDismiss && (
        <button type="button" className="notice-dismiss" onClick={onDismiss} aria-label="Dismiss">
          ×
        </button>
      )}
    </div>
  );
}

/** A whole-page state: not allowed, not found, failed to load. */
export function PageState({ title, children, tone = "neutral" }: { title: string; children?: ReactNode; tone?: "neutral" | "error" }) {
  return (
    <section className={`page-state ${tone}`} role={tone === "error" ? "alert" : undefined}>
      <h1>{title}</h1>
      {children}
      <p>
        <Link href="/dashboard">Back to the dashboard</Link>
      </p>
    </section>
  );
}

export function AdminsOnly({ what }: { what: string }) {
  return (
    <PageState title="Admins only">
      <p>
        {what} can only be seen and changed by admins. Ask an admin of this console if you need access.
      </p>
    </PageState>
  );
}

/** A form's end: its error, the submit button (with its label while pending) and, when it can be closed, Cancel. */
export function FormFooter({
  error,
  pending,
  label,
  pendingLabel,
  disabled = false,
  onCancel,
}: {
  error: string | null | undefined;
  pending: boolean;
  label: string;
  pendingLabel: string;
  disabled?: boolean;
  onCancel?: () => void;
}) {
  return (
    <>
      <ErrorNotice error={error} />
      <div className="form-actions">
        <button type="submit" className="primary" disabled={pending || disabled}>
          {pending ? pendingLabel : label}
        </button>
        {onCancel && (
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </>
  );
}
