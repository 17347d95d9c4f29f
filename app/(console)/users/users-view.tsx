"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import { type FormEvent, useState } from "react";
import { AdminGate } from "@/components/admin-gate";
import { AdminHeader, ResultNotice, ShownOnce, useAdminList, useConfirmRow } from "@/components/admin-list";
import { DataTable } from "@/components/data-table";
import { ConfirmDialog, ReasonInput } from "@/components/dialog";
import { Field } from "@/components/field";
import { invalidIf, problemOf } from "@/components/format";
import { FormFooter } from "@/components/notice";
import { RingScope, RingScopeField, scopeOf } from "@/components/ring-scope";
import { ROLE_OPTIONS } from "@/components/role-options";
import type { RouterOutputs } from "@/components/router-types";
import { DateTime, RelativeTime, StateBadge } from "@/components/status";
import { useTRPC } from "@/components/trpc";
import { useMe } from "@/components/use-me";

type User = RouterOutputs["users"]["list"][number];
type Role = User["role"];

/** "a viewer", "an operator of canary, beta", "an admin". */
function roleWords(role: Role, rings: readonly string[] | null) {
  return `${role === "viewer" ? "a" : "an"} ${role}${rings ? ` of ${rings.join(", ")}` : ""}`;
}

const sameScope = (a: readonly string[] | null, b: readonly string[] | null) =>
  a === null || b === null ? a === b : a.length === b.length && a.every((ring) => b.includes(ring));

function RoleBadge({ role }: { role: Role }) {
  return <span className={`role-pill role-${role}`}>{role}</span>;
}

export function UsersView() {
  return (
    <AdminGate what="Console users">
      <UsersAdmin />
    </AdminGate>
  );
}

/** What the admin is about to do to a user, behind its confirmation. */
type Pending = { kind: "role" | "disable" | "remove"; user: User };

function UsersAdmin() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { me } = useMe();
  const users = useQuery(trpc.users.list.queryOptions());
  const list = useAdminList<RouterOutputs["users"]["create"]>();
  // Whether users may be created here (not with passwords switched off), as the server says.
  const methods = useQuery(trpc.users.signInMethods.queryOptions());
  const newUsers = methods.data?.newUsers;
  const pending = useConfirmRow<Pending>();
  const [newRole, setNewRole] = useState<Role>("viewer");
  const [newRings, setNewRings] = useState<string[]>([]);
  const rings = useQuery(trpc.rings.list.queryOptions());
  const [reason, setReason] = useState("");
  const remove = useMutation(
    trpc.users.remove.mutationOptions({
      onSuccess: async ({ email }) => {
        await queryClient.invalidateQueries(trpc.users.pathFilter());
        pending.done();
        list.setResult(`${email} is removed: they can no longer sign in, and their sessions have ended.`);
      },
    }),
  );
  const update = useMutation(
    trpc.users.update.mutationOptions({
      onSuccess: async (user, input) => {
        await queryClient.invalidateQueries(trpc.users.pathFilter());
        pending.done();
        list.setResult(
          input.disabled === undefined
            ? `${user.email} is now ${roleWords(user.role, user.rings)}${user.rings ? " only" : ""}.`
            : input.disabled
              ? `${user.email} is disabled and can no longer sign in.`
              : `${user.email} is enabled again.`,
        );
      },
    }),
  );

  const open = (next: Pending) => {
    update.reset();
    remove.reset();
    setReason("");
    if (next.kind === "role") {
      setNewRole(next.user.role);
      setNewRings(next.user.rings ? [...next.user.rings] : []);
    }
    pending.ask(next);
  };

  const columns: ColumnDef<User, unknown>[] = [
    {
      id: "email",
      header: "E-mail",
      cell: ({ row }) => (
        <span>
          <strong>{row.original.email}</strong>
          {row.original.id === me?.id && <span className="muted"> (you)</span>}
          {row.original.name && <span className="block muted">{row.original.name}</span>}
        </span>
      ),
    },
    { id: "role", header: "Role", cell: ({ row }) => <RoleBadge role={row.original.role} /> },
    { id: "rings", header: "Rings", cell: ({ row }) => <RingScope rings={row.original.rings} /> },
    {
      id: "status",
      header: "Status",
      cell: ({ row }) =>
        row.original.disabledAt ? (
          <StateBadge tone="bad">Disabled</StateBadge>
        ) : (
          <StateBadge tone="good">Active</StateBadge>
        ),
    },
    {
      id: "signsInWith",
      header: "Signs in with",
      cell: ({ row }) => (row.original.signsInWith === "sso" ? "single sign-on" : "password"),
    },
    { id: "lastSignInAt", header: "Last sign-in", cell: ({ row }) => <RelativeTime value={row.original.lastSignInAt} /> },
    { id: "createdAt", header: "Created", cell: ({ row }) => <DateTime value={row.original.createdAt} relative={false} /> },
    {
      id: "actions",
      header: "Actions",
      cell: ({ row }) => (
        <span className="row-actions">
          <button type="button" onClick={() => open({ kind: "role", user: row.original })}>
            Change role…
          </button>
          <button
            type="button"
            className={row.original.disabledAt ? undefined : "danger-outline"}
            onClick={() => open({ kind: "disable", user: row.original })}
          >
            {row.original.disabledAt ? "Enable…" : "Disable…"}
          </button>
          {row.original.id !== me?.id && (
            <button type="button" className="danger-outline" onClick={() => open({ kind: "remove", user: row.original })}>
              Remove…
            </button>
          )}
        </span>
      ),
    },
  ];

  const target = pending.row?.user;
  const disabling = pending.row?.kind === "disable" && !target?.disabledAt;
  // An admin is never scoped: the rings chosen count for operators and viewers only.
  const chosenScope = newRole === "admin" ? null : scopeOf(newRings);
  const scopeChanges = target ? !sameScope(chosenScope, target.rings) : false;

  return (
    <>
      <AdminHeader title="Users" newLabel="New user" list={list} canCreate={newUsers?.allowed === true}>
        People who can sign in to this console, and what they may do.
      </AdminHeader>
      {newUsers && !newUsers.allowed && (
        <p className="notice info" role="note" data-testid="no-new-users">
          No new users here: {newUsers.why}.
        </p>
      )}
      {list.created && (
        <ShownOnce
          title={`User ${list.created.user.email} created`}
          secret={list.created.password ?? undefined}
          testId="new-password"
          copyLabel="Copy password"
          warning={
            <>
              <strong>Copy this password now: it will not be shown again.</strong> Give it to {list.created.user.email} over a
              safe channel.
            </>
          }
          dismissLabel="Done"
          onDismiss={list.dismissCreated}
        >
          {!list.created.password && <p>They can sign in with the password you chose.</p>}
        </ShownOnce>
      )}
      <ResultNotice list={list} />
      {list.creating && newUsers?.allowed && <CreateUserForm onCreated={list.showCreated} onCancel={list.closeForm} />}
      <DataTable
        caption="Users"
        columns={columns}
        rows={users.data}
        rowKey={(u) => u.id}
        loading={users.isFetching}
        error={users.error?.message}
        empty="No users."
      />
      <ConfirmDialog
        {...pending.dialog(update, (p) => p.kind === "role")}
        title={`Change the role and rings of ${target?.email ?? ""}`}
        confirmLabel={`Make ${newRole}${chosenScope ? ` of ${chosenScope.join(", ")}` : scopeChanges && newRole !== "admin" ? " of every ring" : ""}`}
        confirmDisabled={newRole === target?.role && !scopeChanges}
        onConfirm={() =>
          target && update.mutate({ userId: target.id, role: newRole, rings: newRole === "admin" ? undefined : chosenScope })
        }
      >
        <fieldset className="radio-group">
          <legend>Role</legend>
          {ROLE_OPTIONS.map((r) => (
            <label key={r.value} className="radio">
              <input
                type="radio"
                name="role"
                value={r.value}
                checked={newRole === r.value}
                onChange={() => setNewRole(r.value)}
              />
              <span>
                <strong>{r.label}</strong> <span className="muted">— {r.hint}</span>
                {r.value === target?.role ? <span className="muted"> (current)</span> : null}
              </span>
            </label>
          ))}
        </fieldset>
        <RingScopeField
          rings={rings.data?.map((r) => r.name)}
          value={newRings}
          onChange={setNewRings}
          admin={newRole === "admin"}
          problem={problemOf(update.error)}
        />
        <p className="muted">
          Now {target ? roleWords(target.role, target.rings) : ""}. Their open sessions end at once: they sign in again to
          work with the new role.
        </p>
        {target?.signsInWith === "sso" && (
          <p className="muted">They sign in through single sign-on: at their next sign-in, their groups there decide their role again.</p>
        )}
      </ConfirmDialog>
      <ConfirmDialog
        {...pending.dialog(update, (p) => p.kind === "disable")}
        title={disabling ? `Disable ${target?.email ?? ""}?` : `Enable ${target?.email ?? ""}?`}
        confirmLabel={disabling ? "Disable user" : "Enable user"}
        tone={disabling ? "danger" : "primary"}
        onConfirm={() => target && update.mutate({ userId: target.id, disabled: disabling })}
      >
        <p>
          {disabling
            ? `${target?.email} will no longer be able to sign in, and their open sessions stop working at once. Their audit history stays.`
            : `${target?.email} will be able to sign in again ${target?.signsInWith === "sso" ? "through single sign-on" : "with their password"}, as ${target?.role}. Sessions they had before stay ended.`}
        </p>
      </ConfirmDialog>
      <ConfirmDialog
        {...pending.dialog(remove, (p) => p.kind === "remove")}
        title={`Remove ${target?.email ?? ""}?`}
        confirmLabel="Remove user"
        tone="danger"
        onConfirm={() => target && remove.mutate({ userId: target.id, reason: reason.trim() || undefined })}
      >
        <p>
          {target?.email} will no longer exist as a user: they cannot sign in, and their open sessions end at once. What
          they did stays in the audit log. To keep the account for later, disable it instead.
        </p>
        <ReasonInput value={reason} onChange={setReason} />
      </ConfirmDialog>
    </>
  );
}

function CreateUserForm({
  onCreated,
  onCancel,
}: {
  onCreated: (answer: RouterOutputs["users"]["create"]) => void;
  onCancel: () => void;
}) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [mode, setMode] = useState<"generate" | "set">("generate");
  const [role, setRole] = useState<Role>("viewer");
  const [chosen, setChosen] = useState<string[]>([]);
  const rings = useQuery(trpc.rings.list.queryOptions());
  const create = useMutation(
    trpc.users.create.mutationOptions({
      onSuccess: async (answer) => {
        await queryClient.invalidateQueries(trpc.users.pathFilter());
        onCreated(answer);
      },
    }),
  );
  const problem = problemOf(create.error);
  const message = problem?.message;

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const name = String(form.get("name") ?? "").trim();
    create.mutate({
      email: String(form.get("email") ?? "").trim(),
      role,
      rings: role === "admin" ? undefined : (scopeOf(chosen) ?? undefined),
      name: name || undefined,
      password: mode === "set" ? String(form.get("password") ?? "") : undefined,
    });
  }

  return (
    <form className="card form-card" onSubmit={submit} aria-labelledby="new-user-form-title">
      <h2 id="new-user-form-title">New user</h2>
      <div className="form-grid">
        <label>
          E-mail
          <input name="email" type="email" required autoComplete="off" placeholder="ops@example.com" {...invalidIf(problem, "email")} />
        </label>
        <label>
          Name (optional)
          <input name="name" maxLength={100} autoComplete="off" {...invalidIf(problem, "name")} />
        </label>
        <label>
          Role
          <select name="role" value={role} onChange={(e) => setRole(e.target.value as Role)} {...invalidIf(problem, "role")}>
            {ROLE_OPTIONS.map((r) => (
              <option key={r.value} value={r.value}>
                {r.label} — {r.hint}
              </option>
            ))}
          </select>
        </label>
        <RingScopeField
          rings={rings.data?.map((r) => r.name)}
          value={chosen}
          onChange={setChosen}
          admin={role === "admin"}
          problem={problem}
        />
        <fieldset className="radio-group">
          <legend>Password</legend>
          <label className="radio">
            <input type="radio" name="mode" checked={mode === "generate"} onChange={() => setMode("generate")} />
            Generate one and show it once
          </label>
          <label className="radio">
            <input type="radio" name="mode" checked={mode === "set"} onChange={() => setMode("set")} />
            Set it now
          </label>
        </fieldset>
        {mode === "set" && (
          <Field label="Password" hint="at least 12 characters">
            {(field) => (
              <input
                {...field}
                name="password"
                type="password"
                required
                minLength={12}
                maxLength={200}
                autoComplete="new-password"
                {...invalidIf(problem, "password")}
              />
            )}
          </Field>
        )}
      </div>
      <FormFooter error={message} pending={create.isPending} label="Create user" pendingLabel="Creating…" onCancel={onCancel} />
    </form>
  );
}
