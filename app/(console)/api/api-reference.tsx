"use client";
// The REST API's reference, drawn from the OpenAPI document the console
// serves (/api/v1/openapi.json, server/api/openapi.ts): per tag, each
// operation with the role it needs, what its ring scope checks, and its
// fields. How to authenticate, errors and retries come first.
import { useQuery } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import Link from "next/link";
import { CopyButton } from "@/components/copy-button";
import { DataTable } from "@/components/data-table";
import { PageState } from "@/components/notice";
import { useMe } from "@/components/use-me";
import type { RingTarget } from "@/server/auth/scope";
import { answerFields, type FieldRow, type OpenApiDocument, type Operation, operationFields, operationsByTag } from "./openapi-fields";

const DOCUMENT_URL = "/api/v1/openapi.json";

/** What an operation's ring scope checks, for a token limited to some rings (server/auth/scope.ts). */
const RING_WORDS: Record<RingTarget, string> = {
  fleet: "the whole fleet: tokens limited to some rings are refused",
  ring: "the ring it names",
  rings: "every ring it names",
  machine: "the machine's ring",
  machines: "the ring of every machine it names",
  rollout: "the rollout's rings (to read: one of them; to act: all of them)",
  branch: "every ring on the branch (of the source it names); a branch no ring follows, or every source: the whole fleet",
  scoped: "answers with what the token's rings hold",
  none: "",
};

const TAG_TITLES: Record<string, string> = {
  machines: "Machines",
  rings: "Rings",
  releases: "Releases",
  rollouts: "Rollouts",
  "enrollment-tokens": "Enrollment tokens",
  users: "Users",
  "api-tokens": "API tokens",
  audit: "Audit log",
  dashboard: "Dashboard",
};

const fieldColumns: ColumnDef<FieldRow, unknown>[] = [
  { id: "name", header: "Name", cell: ({ row }) => <code className="field-name">{row.original.name}</code> },
  { id: "where", header: "Where", cell: ({ row }) => row.original.where },
  { id: "type", header: "Type", cell: ({ row }) => <code className="field-type">{row.original.type}</code> },
  { id: "required", header: "Required", cell: ({ row }) => (row.original.required ? "required" : <span className="muted">optional</span>) },
  {
    id: "description",
    header: "Description",
    cell: ({ row }) => <span className="field-description">{row.original.description || <span className="muted">—</span>}</span>,
  },
];

/** An answer's fields: always there (null is written as a type), so no Where and no Required. */
const answerColumns = fieldColumns.filter((c) => c.id !== "where" && c.id !== "required");

async function fetchDocument(): Promise<OpenApiDocument> {
  const res = await fetch(DOCUMENT_URL, { headers: { accept: "application/json" } });
  if (!res.ok) throw new Error(`${DOCUMENT_URL} answered ${res.status}`);
  return (await res.json()) as OpenApiDocument;
}

export function ApiReference() {
  const doc = useQuery({ queryKey: ["openapi-document"], queryFn: fetchDocument, staleTime: Infinity });
  if (doc.isPending) return <div className="skeleton" aria-busy="true" />;
  if (doc.error) {
    return (
      <PageState title="Could not load the API document" tone="error">
        <p>{doc.error.message}</p>
      </PageState>
    );
  }
  return <Reference doc={doc.data} />;
}

function Reference({ doc }: { doc: OpenApiDocument }) {
  const { role } = useMe();
  const base = doc.servers?.[0]?.url ?? "/api/v1";
  const groups = operationsByTag(doc);
  const count = groups.reduce((n, g) => n + g.operations.length, 0);
  const examples = [
    `curl -H "Authorization: Bearer $ORCHARD_TOKEN" "${base}/machines?ring=canary&pageSize=100"`,
    [
      `curl -X POST "${base}/releases" \\`,
      `  -H "Authorization: Bearer $ORCHARD_TOKEN" -H "Content-Type: application/json" \\`,
      `  -H "Idempotency-Key: build-4711" \\`,
      `  -d '{"ref": "exampleos/x86_64/stable", "version": "2026.12.1", "checksum": "<64 hex>"}'`,
    ].join("\n"),
  ];
  return (
    <div className="api-reference">
      <div className="page-header">
        <h1>API reference</h1>
        <div className="actions">
          <a className="button-link" href={DOCUMENT_URL}>
            OpenAPI document (JSON)
          </a>
        </div>
      </div>
      <p className="page-intro">
        {doc.info.title} {doc.info.version}: the REST API at <code>{base}</code>, for pipelines and scripts. It does what
        the console does, through the same checks: {count} operations. This page is drawn from its OpenAPI {doc.openapi}{" "}
        document, which client generators read too.
      </p>

      <nav className="card api-toc" aria-labelledby="api-toc-title">
        <h2 id="api-toc-title">Contents</h2>
        <ul>
          <li>
            <a href="#authenticate">Authenticate</a>
          </li>
          <li>
            <a href="#errors">Errors</a>
          </li>
          <li>
            <a href="#retries">Retries</a>
          </li>
          {groups.map((g) => (
            <li key={g.tag}>
              <a href={`#tag-${g.tag}`}>{TAG_TITLES[g.tag] ?? g.tag}</a> <span className="muted">({g.operations.length})</span>
            </li>
          ))}
        </ul>
      </nav>

      <section className="card api-guide" aria-labelledby="authenticate">
        <h2 id="authenticate">Authenticate</h2>
        <p>
          Send an API token in every request: <code>Authorization: Bearer orch_a_…</code>. An admin creates tokens on the{" "}
          {role === "admin" ? <Link href="/api-tokens">API tokens</Link> : "API tokens"} page: each has a role (viewer,
          operator or admin), acts on every ring or on some rings only, and may expire. The audit log names the token
          behind every change. A missing, unknown, revoked or expired token gets <code>401</code>; a role or rings that
          do not allow the call get <code>403</code>.
        </p>
        {examples.map((example) => (
          <div className="code-block" key={example}>
            <pre>
              <code>{example}</code>
            </pre>
            <CopyButton value={example} label="Copy command" />
          </div>
        ))}
      </section>

      <section className="card api-guide" aria-labelledby="errors">
        <h2 id="errors">Errors</h2>
        <p>
          A refusal is answered as <code>application/problem+json</code> (RFC 9457): <code>status</code>,{" "}
          <code>title</code>, a <code>detail</code> to show a person, Orchard&apos;s <code>code</code> (
          <code>INVALID</code>, <code>UNAUTHORIZED</code>, <code>FORBIDDEN</code>, <code>NOT_FOUND</code>,{" "}
          <code>CONFLICT</code>…), the <code>field</code> it is about, and every validation issue. A refused request
          changes nothing.
        </p>
        <div className="code-block">
          <pre>
            <code>
              {JSON.stringify(
              {
                type: "about:blank",
                title: "Bad Request",
                status: 400,
                detail: "rings: no ring named canery",
                code: "INVALID",
                field: "rings",
              },
                null,
                2,
              )}
            </code>
          </pre>
        </div>
      </section>

      <section className="card api-guide" aria-labelledby="retries">
        <h2 id="retries">Retries</h2>
        <p>
          A request that creates something (a release, a rollout, a token…) takes an <code>Idempotency-Key</code> header:
          a retry with the same key and the same body gets the first answer again (with{" "}
          <code>Idempotent-Replayed: true</code>) instead of acting twice, for a day. The same key with another body is
          refused. Lists of machines page with <code>cursor</code>: pass the <code>nextCursor</code> of a page to get the
          next one.
        </p>
      </section>

      {groups.map((g) => (
        <section key={g.tag} className="api-tag" aria-labelledby={`tag-${g.tag}`}>
          <h2 id={`tag-${g.tag}`}>{TAG_TITLES[g.tag] ?? g.tag}</h2>
          {g.operations.map(({ method, path, op }) => (
            <OperationCard key={`${method} ${path}`} method={method} path={path} op={op} doc={doc} />
          ))}
        </section>
      ))}
    </div>
  );
}

function OperationCard({ method, path, op, doc }: { method: string; path: string; op: Operation; doc: OpenApiDocument }) {
  const titleId = `op-${op.operationId}`;
  const fields = operationFields(op);
  const answer = answerFields(op, doc);
  const role = op["x-orchard-role"];
  const rings = (op["x-orchard-rings"] ?? []).map((t) => RING_WORDS[t as RingTarget] ?? t).filter(Boolean);
  const success = Object.keys(op.responses ?? {}).find((status) => status.startsWith("2"));
  return (
    <article className="card api-op" aria-labelledby={titleId}>
      <h3 id={titleId}>
        <span className={`method method-${method.toLowerCase()}`}>{method}</span> <code className="api-path">{path}</code>
      </h3>
      {op.summary && <p>{op.summary}</p>}
      <dl className="facts api-facts">
        <dt>Role</dt>
        <dd>{role === "admin" ? "admin" : role ? `${role} or above` : "any valid token"}</dd>
        {rings.length > 0 && (
          <>
            <dt>Rings</dt>
            <dd>{rings.join("; ")}</dd>
          </>
        )}
        {success && (
          <>
            <dt>Answer</dt>
            <dd>
              {success}
              {op.responses?.[success]?.content?.["text/csv"] ? ", CSV" : ", JSON"}
              {answer && (
                <>
                  {": "}
                  <code className="field-type">{answer.type}</code>
                </>
              )}
            </dd>
          </>
        )}
      </dl>
      {fields.length > 0 ? (
        <DataTable caption={`Fields of ${method} ${path}`} columns={fieldColumns} rows={fields} rowKey={(f) => `${f.where} ${f.name}`} />
      ) : (
        <p className="muted small">No parameters.</p>
      )}
      {answer && answer.fields.length > 0 && (
        <details className="api-answer">
          <summary>Fields of the answer ({answer.fields.length})</summary>
          <DataTable caption={`Answer of ${method} ${path}`} columns={answerColumns} rows={answer.fields} rowKey={(f) => f.name} />
        </details>
      )}
    </article>
  );
}
