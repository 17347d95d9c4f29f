// The API reference page's reading of the OpenAPI document
// (app/(console)/api/openapi-fields.ts), on the document the console serves:
// every operation's fields, nested ones by their path, with their types and
// limits in words.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { answerFields, type OpenApiDocument, operationFields, operationsByTag } from "../../app/(console)/api/openapi-fields";
import { API_ROUTES } from "../../server/api/routes";

const doc = JSON.parse(readFileSync("server/api/generated/openapi.json", "utf8")) as OpenApiDocument;
const field = (method: string, path: string, name: string) => operationFields(doc.paths[path][method]).find((f) => f.name === name);

describe("the API reference's fields", () => {
  it("groups every operation under its tag, in the document's order", () => {
    const groups = operationsByTag(doc);
    expect(groups.map((g) => g.tag)).toEqual(doc.tags?.map((t) => t.name));
    // Every route of the table, the audit log's CSV, and the artifacts' upload and download.
    expect(groups.flatMap((g) => g.operations)).toHaveLength(API_ROUTES.length + 3);
  });

  it("lists every path parameter as required, where it is", () => {
    for (const { method, path, op } of operationsByTag(doc).flatMap((g) => g.operations)) {
      for (const [, name] of path.matchAll(/\{(\w+)\}/g)) {
        expect(operationFields(op).find((f) => f.name === name), `${method} ${path}`).toMatchObject({ where: "path", required: true });
      }
    }
  });

  it("writes types and limits as a reader expects them", () => {
    expect(field("post", "/api-tokens", "role")).toMatchObject({ where: "body", type: '"viewer" | "operator" | "admin"', required: true });
    expect(field("post", "/api-tokens", "rings")).toMatchObject({ type: "string[] | null", required: false, description: "1–100 items" });
    expect(field("post", "/api-tokens", "expiresInDays")).toMatchObject({ type: "integer", description: "1–3660" });
    expect(field("post", "/api-tokens", "Idempotency-Key")).toMatchObject({ where: "header", required: false });
    expect(field("get", "/machines", "pageSize")).toMatchObject({ where: "query", description: "1–200 · default 50" });
    expect(field("patch", "/rings/{ring}", "failureDomainLabel")?.type).toBe("string | null");
  });

  it("names the fields of nested objects and of objects in lists by their path", () => {
    expect(field("patch", "/rings/{ring}", "maintenanceWindows[].days")).toMatchObject({
      type: '("sun" | "mon" | "tue" | "wed" | "thu" | "fri" | "sat")[]',
      required: true,
      description: "at least 1 item",
    });
    expect(field("post", "/rollouts", "exclude.labels")?.type).toBe("map of string");
  });

  it("describes each answer: its named schema, its fields with nested ones, a list's items as []", () => {
    const machine = answerFields(doc.paths["/machines/{machineId}"].get, doc);
    expect(machine?.type).toBe("Machine");
    const byName = new Map(machine!.fields.map((f) => [f.name, f]));
    expect(byName.get("machineId")).toMatchObject({ where: "answer", type: "string" });
    // The ActionAllowed schema is looked up where the machine's actions name it.
    expect(byName.get("actions.rollback")?.type).toBe("ActionAllowed");
    expect(byName.get("actions.rollback.why")?.type).toBe("string | null");
    const tokens = answerFields(doc.paths["/api-tokens"].get, doc);
    expect(tokens?.fields.some((f) => f.name.startsWith("[]."))).toBe(true);
    // Every operation with a JSON answer but the two that are not described (CSV, and the version history keyed by version).
    const described = operationsByTag(doc).flatMap((g) => g.operations).filter(({ op }) => answerFields(op, doc)?.fields.length);
    expect(described.length).toBeGreaterThan(60);
  });
});
