"use client";
// What the admins' list pages (users, enrollment tokens, API tokens,
// webhooks) share: a header whose button opens the form for a new one, what
// the form created shown once (a secret the server keeps no copy of), the
// last result, and the row an admin is about to revoke or remove behind a
// confirmation. The role gate is components/admin-gate.tsx.
import { type ReactNode, useId, useState } from "react";
import { CopyButton } from "./copy-button";
import { SuccessNotice } from "./notice";

export interface AdminList<Created> {
  /** The form for a new one is open. */
  creating: boolean;
  /** What the form created, shown once until dismissed. */
  created: Created | null;
  /** The last action's result, until dismissed. */
  result: string | null;
  setResult: (result: string | null) => void;
  /** The header's button: opens or closes the form; what was shown once goes. */
  toggleForm: () => void;
  closeForm: () => void;
  /** The form's answer: the form closes, the last result goes, and what it created is shown once. */
  showCreated: (created: Created) => void;
  dismissCreated: () => void;
}

export function useAdminList<Created>(): AdminList<Created> {
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<Created | null>(null);
  const [result, setResult] = useState<string | null>(null);
  return {
    creating,
    created,
    result,
    setResult,
    toggleForm: () => {
      setCreating(!creating);
      setCreated(null);
    },
    closeForm: () => setCreating(false),
    showCreated: (value) => {
      setCreating(false);
      setResult(null);
      setCreated(value);
    },
    dismissCreated: () => setCreated(null),
  };
}

/** The page's title, a line about it, and the button that opens (and closes) the form for a new one (none when the server says there may be no new one). */
export function AdminHeader({
  title,
  newLabel,
  list,
  canCreate = true,
  children,
}: {
  title: string;
  newLabel: string;
  list: Pick<AdminList<unknown>, "creating" | "toggleForm">;
  canCreate?: boolean;
  children?: ReactNode;
}) {
  return (
    <div className="page-header">
      <h1>{title}</h1>
      {children && <p className="muted">{children}</p>}
      {canCreate && (
        <div className="actions">
          <button type="button" className="primary" aria-expanded={list.creating} onClick={list.toggleForm}>
            {list.creating ? "Close" : newLabel}
          </button>
        </div>
      )}
    </div>
  );
}

/** The last result of an action on the page, until dismissed. */
export function ResultNotice({ list }: { list: Pick<AdminList<unknown>, "result" | "setResult"> }) {
  return list.result ? <SuccessNotice onDismiss={() => list.setResult(null)}>{list.result}</SuccessNotice> : null;
}

/**
 * What the server answered once and keeps no copy of (a token, a password, a
 * signing secret), with a button to copy it, until the admin says it is
 * copied. Without a secret, only the title and what follows.
 */
export function ShownOnce({
  title,
  secret,
  testId,
  copyLabel,
  warning = (
    <>
      <strong>Copy it now: it will not be shown again.</strong> Orchard keeps only a hash of it.
    </>
  ),
  dismissLabel = "I have copied it",
  onDismiss,
  children,
}: {
  title: ReactNode;
  secret?: string;
  /** The secret's data-testid, for the browser tests. */
  testId?: string;
  copyLabel?: string;
  warning?: ReactNode;
  dismissLabel?: string;
  onDismiss: () => void;
  children?: ReactNode;
}) {
  const titleId = useId();
  return (
    <section className="secret-box" aria-labelledby={titleId} role="status">
      <h2 id={titleId}>{title}</h2>
      {secret !== undefined && (
        <>
          <p className="secret-warning">{warning}</p>
          <div className="secret-row">
            <code className="secret" data-testid={testId}>
              {secret}
            </code>
            <CopyButton value={secret} label={copyLabel} />
          </div>
        </>
      )}
      {children}
      <button type="button" onClick={onDismiss}>
        {dismissLabel}
      </button>
    </section>
  );
}

/** What a confirmation dialog takes from the action's mutation. */
interface Action {
  isPending: boolean;
  error: { message: string } | null;
  reset: () => void;
}

/**
 * The row an admin is about to act on (revoke, remove) behind a confirmation:
 * `ask` opens the dialog, `done` closes it after the action; `dialog(action)`
 * gives ConfirmDialog its open, busy, error and close (which clears the
 * action's error), optionally only for the rows `when` picks.
 */
export function useConfirmRow<Row>() {
  const [row, setRow] = useState<Row | null>(null);
  return {
    row,
    ask: (next: Row) => setRow(next),
    done: () => setRow(null),
    dialog: (action: Action, when: (row: Row) => boolean = () => true) => ({
      open: row !== null && when(row),
      busy: action.isPending,
      error: action.error?.message,
      onClose: () => {
        action.reset();
        setRow(null);
      },
    }),
  };
}
