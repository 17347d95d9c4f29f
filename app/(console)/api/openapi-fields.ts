// The parts of an OpenAPI 3.1 document that the reference page shows, and
// the fields of an operation (parameters and body, nested ones with dotted
// names) with their JSON Schema types written the way a reader expects.

export interface JsonSchema {
  /** `#/components/schemas/Name`: a schema the document names once (Machine, Rollout…). */
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  description?: string;
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  default?: unknown;
}

export interface Parameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  description?: string;
  schema?: JsonSchema;
}

export interface Operation {
  operationId: string;
  summary?: string;
  description?: string;
  tags?: string[];
  /** The least role that may call it; null: any valid token (server/api/openapi.ts). */
  "x-orchard-role"?: string | null;
  /** What its input touches, for tokens limited to some rings (server/auth/scope.ts). */
  "x-orchard-rings"?: string[];
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: JsonSchema }> };
  responses?: Record<string, { description?: string; content?: Record<string, unknown> }>;
}

export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description?: string };
  servers?: { url: string }[];
  tags?: { name: string }[];
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

/** Looks a `$ref` up in the document's components (a few hops at most); other schemas as they are. */
export type Resolve = (schema: JsonSchema) => JsonSchema;

export function resolverOf(doc: OpenApiDocument): Resolve {
  return (schema) => {
    let current = schema;
    for (let hops = 0; current.$ref && hops < 5; hops++) {
      const name = current.$ref.replace("#/components/schemas/", "");
      const found = doc.components?.schemas?.[name];
      if (!found) break;
      current = { ...found, description: current.description ?? found.description };
    }
    return current;
  };
}

const asIs: Resolve = (schema) => schema;

/** The name a `$ref` points at (`Machine`), or null. */
const refName = (schema: JsonSchema | undefined) => schema?.$ref?.replace("#/components/schemas/", "") ?? null;

export interface FieldRow {
  name: string;
  where: Parameter["in"] | "body" | "answer";
  type: string;
  required: boolean;
  description: string;
}

/** The schema without its `null` alternative, and whether there was one. */
function nonNull(schema: JsonSchema): { schema: JsonSchema; nullable: boolean } {
  const options = schema.anyOf ?? schema.oneOf;
  if (options) {
    const rest = options.filter((o) => o.type !== "null");
    if (rest.length === 1 && rest.length < options.length) return { schema: rest[0], nullable: true };
  }
  return { schema, nullable: false };
}

/** `string`, `integer`, `"a" | "b"`, `string[]`, `string (date-time)`, `object`… */
export function typeText(schema: JsonSchema | undefined): string {
  if (!schema) return "any";
  const named = refName(schema);
  if (named) return named;
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  const options = schema.anyOf ?? schema.oneOf;
  if (options) return [...new Set(options.map(typeText))].join(" | ");
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (types.length === 0) return "any";
  return types
    .map((type) => {
      if (type === "array") {
        const item = typeText(schema.items);
        return item.includes(" | ") ? `(${item})[]` : `${item}[]`;
      }
      if (type === "object" && !schema.properties && schema.additionalProperties && typeof schema.additionalProperties === "object") {
        return `map of ${typeText(schema.additionalProperties)}`;
      }
      return schema.format ? `${type} (${schema.format})` : type;
    })
    .join(" | ");
}

/** The schema's limits in words: "1–64 characters", "at most 3660", "pattern ^…$", "default 50". */
export function limitsText(schema: JsonSchema | undefined): string[] {
  if (!schema) return [];
  const s = nonNull(schema).schema;
  const out: string[] = [];
  const range = (min: number | undefined, max: number | undefined, unit: string) => {
    const of = (n: number) => `${n}${n === 1 ? unit.replace(/s$/, "") : unit}`;
    if (min !== undefined && max !== undefined) out.push(`${min}–${of(max)}`);
    else if (min !== undefined) out.push(`at least ${of(min)}`);
    else if (max !== undefined) out.push(`at most ${of(max)}`);
  };
  range(s.minLength, s.maxLength, " characters");
  range(s.minimum ?? s.exclusiveMinimum, s.maximum ?? s.exclusiveMaximum, "");
  range(s.minItems, s.maxItems, " items");
  if (s.pattern) out.push(`pattern ${s.pattern}`);
  if (s.default !== undefined) out.push(`default ${JSON.stringify(s.default)}`);
  return out;
}

function describe(schema: JsonSchema | undefined, description?: string): string {
  return [description ?? schema?.description, ...limitsText(schema)].filter(Boolean).join(" · ");
}

/** An object's fields, and those of objects within it (`exclude.labels`, `maintenanceWindows[].days`). */
function fieldsOf(schema: JsonSchema, where: FieldRow["where"], prefix: string, depth: number, resolve: Resolve = asIs): FieldRow[] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {}).flatMap(([key, property]) => {
    const name = `${prefix}${key}`;
    const row: FieldRow = { name, where, type: typeText(property), required: required.has(key), description: describe(resolve(property)) };
    if (depth >= 3) return [row];
    const inner = resolve(nonNull(resolve(property)).schema);
    const item = inner.type === "array" && inner.items ? resolve(nonNull(resolve(inner.items)).schema) : null;
    if (inner.properties) return [row, ...fieldsOf(inner, where, `${name}.`, depth + 1, resolve)];
    if (item?.properties) return [row, ...fieldsOf(item, where, `${name}[].`, depth + 1, resolve)];
    return [row];
  });
}

/** The fields of an operation's JSON answer (a list's items as `[].…`), or none for CSV or an answer not described. */
export function answerFields(op: Operation, doc: OpenApiDocument): { type: string; fields: FieldRow[] } | null {
  const success = Object.entries(op.responses ?? {}).find(([status]) => status.startsWith("2"))?.[1];
  const content = success?.content?.["application/json"] as { schema?: JsonSchema } | undefined;
  if (!content?.schema) return null;
  const resolve = resolverOf(doc);
  const top = resolve(content.schema);
  const item = top.type === "array" && top.items ? resolve(top.items) : null;
  const fields = item ? fieldsOf(item, "answer", "[].", 1, resolve) : fieldsOf(top, "answer", "", 0, resolve);
  return { type: typeText(content.schema), fields };
}

/** Every field of an operation: its path, query and header parameters, then its JSON body's fields. */
export function operationFields(op: Operation): FieldRow[] {
  const params = (op.parameters ?? []).flatMap((p): FieldRow[] => {
    const row: FieldRow = { name: p.name, where: p.in, type: typeText(p.schema), required: Boolean(p.required), description: describe(p.schema, p.description) };
    const inner = p.schema ? nonNull(p.schema).schema : null;
    return inner?.properties ? [row, ...fieldsOf(inner, p.in, `${p.name}.`, 1)] : [row];
  });
  const body = op.requestBody?.content["application/json"]?.schema;
  return [...params, ...(body ? fieldsOf(body, "body", "", 0) : [])];
}

/** The operations of the document, grouped by their first tag, in the document's order of tags. */
export function operationsByTag(doc: OpenApiDocument) {
  const groups = new Map<string, { method: string; path: string; op: Operation }[]>();
  for (const tag of doc.tags ?? []) groups.set(tag.name, []);
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = op.tags?.[0] ?? "other";
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag)!.push({ method: method.toUpperCase(), path, op });
    }
  }
  return [...groups].filter(([, ops]) => ops.length > 0).map(([tag, operations]) => ({ tag, operations }));
}
