// The OpenAPI 3.1 document of the REST API, generated from the route table
// and each procedure's own zod schemas (zod 4's toJSONSchema), so that
// nothing is written twice: a field, its limits and its enum values are the
// ones the procedure enforces, and an answer is described by the schema its
// procedure's `.output()` checks it against.
import { z } from "zod";
import { artifactSchema } from "../artifacts/schemas";
import { API_PREFIX, API_ROUTES, type ApiRoute } from "./routes";
import { inputSchemaOf, outputSchemaOf, procedureDef } from "./schema";

type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema>; required?: string[] };

/** Named schemas (`.meta({ id })`), shared by the operations that answer with them. */
type Components = Record<string, JsonSchema>;

/**
 * A zod schema as JSON Schema, as it travels: the REST API writes its
 * answers with JSON.stringify, so a Date is an ISO 8601 string in UTC
 * (`2026-11-30T12:00:00.000Z`), and a date given as input is read from one.
 * Schemas with an id go into `components` once, referred to from here.
 */
function jsonSchemaOf(schema: z.ZodType, io: "input" | "output", components: Components): JsonSchema {
  const out = z.toJSONSchema(schema, {
    io,
    target: "draft-2020-12",
    unrepresentable: "any",
    override: ({ zodSchema, jsonSchema }) => {
      if (zodSchema._zod.def.type === "date") Object.assign(jsonSchema, { type: "string", format: "date-time" });
      // z.number().int() says "a safe integer" with two bounds on every count: the type says enough.
      if (jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete jsonSchema.minimum;
      if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
    },
  }) as JsonSchema;
  delete out.$schema;
  const defs = (out.$defs ?? {}) as Record<string, JsonSchema>;
  delete out.$defs;
  const refs = <T>(value: T): T => JSON.parse(JSON.stringify(value).replaceAll('"#/$defs/', '"#/components/schemas/')) as T;
  for (const [id, def] of Object.entries(defs)) {
    // zod names the schemas it must (a recursive one) __schema0, __schema1… in every conversion anew: they cannot be shared.
    if (id.startsWith("__")) throw new Error(`a recursive schema needs a name (.meta({ id })) to be shared: ${JSON.stringify(def).slice(0, 200)}`);
    const named = refs(def);
    if (components[id] && JSON.stringify(components[id]) !== JSON.stringify(named)) throw new Error(`two different schemas are named ${id}`);
    components[id] = named;
  }
  return flatten(refs(out));
}

/** An intersection of objects (`a.and(b)`) as one object: the fields of both, for parameters and bodies. */
function flatten(schema: JsonSchema): JsonSchema {
  const parts = schema.allOf as JsonSchema[] | undefined;
  if (!parts) return schema;
  const { allOf: _allOf, ...rest } = schema;
  const merged = parts.map(flatten);
  return {
    ...rest,
    type: "object",
    properties: Object.assign({}, ...merged.map((p) => p.properties ?? {})) as Record<string, JsonSchema>,
    required: [...new Set(merged.flatMap((p) => p.required ?? []))],
  };
}

const problemSchema = {
  type: "object",
  description: "RFC 9457 problem details, with the field the error is about and every validation issue.",
  required: ["type", "title", "status", "detail", "code"],
  properties: {
    type: { type: "string" },
    title: { type: "string" },
    status: { type: "integer" },
    detail: { type: "string" },
    code: { type: "string", description: "INVALID, UNAUTHORIZED, FORBIDDEN, NOT_FOUND, CONFLICT, RATE_LIMITED, UNAVAILABLE…" },
    field: { type: "string", description: "The input field the error is about, as a path such as rings[1]" },
    issues: {
      type: "array",
      items: { type: "object", required: ["path", "message"], properties: { path: { type: "string" }, message: { type: "string" } } },
    },
  },
};

const problemResponse = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
});

const tooManyRequests = {
  ...problemResponse("Too many requests: for this token (ORCHARD_API_RATE_LIMIT per second), or without a valid token from this address"),
  headers: { "Retry-After": { description: "Seconds to wait before the next request", schema: { type: "integer", minimum: 1 } } },
};

function operationOf(route: ApiRoute, components: Components) {
  const schema = inputSchemaOf(route.procedure);
  const input = schema ? jsonSchemaOf(schema, "input", components) : { type: "object", properties: {} };
  const output = outputSchemaOf(route.procedure);
  const properties = { ...(input.properties ?? {}) };
  const required = new Set(input.required ?? []);
  const pathParams = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
  const parameters: Record<string, unknown>[] = pathParams.map((name) => {
    const param = { name, in: "path", required: true, schema: properties[name] ?? { type: "string" } };
    delete properties[name];
    required.delete(name);
    return param;
  });
  const withBody = route.method !== "GET" && route.method !== "DELETE";
  if (!withBody) {
    for (const [name, property] of Object.entries(properties)) {
      const array = property.type === "array";
      parameters.push({
        name,
        in: "query",
        required: required.has(name),
        ...(typeof property.description === "string" ? { description: property.description } : {}),
        schema: property,
        ...(array ? { style: "form", explode: true } : {}),
      });
    }
  }
  if (route.creates) {
    parameters.push({
      name: "Idempotency-Key",
      in: "header",
      required: false,
      description: "A retry with the same key and the same request gets the first answer again instead of acting twice (kept for a day).",
      schema: { type: "string", minLength: 1, maxLength: 200 },
    });
  }
  const meta = procedureDef(route.procedure)?._def.meta;
  const role = meta?.role ?? null;
  const bodySchema = { ...input, properties, ...(required.size ? { required: [...required] } : { required: undefined }) };
  if (!bodySchema.required) delete bodySchema.required;
  return {
    operationId: route.procedure.replace(".", "_"),
    summary: route.summary,
    description: `Runs the console's \`${route.procedure}\`. Needs the ${role ?? "no"} role${role ? " (and, for a token limited to some rings, the rings it touches)" : ""}.`,
    tags: [route.tag],
    // For the console's reference page: the role the procedure needs, and what its ring scope checks (server/auth/scope.ts).
    "x-orchard-role": role,
    "x-orchard-rings": role ? [meta?.rings ?? "fleet"].flat() : [],
    ...(parameters.length ? { parameters } : {}),
    ...(withBody && Object.keys(properties).length
      ? { requestBody: { required: required.size > 0, content: { "application/json": { schema: bodySchema } } } }
      : {}),
    responses: {
      [route.creates ? "201" : "200"]: {
        description: route.creates ? "Created" : "Done",
        content: { "application/json": { schema: output ? jsonSchemaOf(output, "output", components) : {} } },
      },
      "400": problemResponse("Invalid input: the field is named"),
      "401": problemResponse("No token, or an unknown, revoked or expired one"),
      "403": problemResponse("The token's role or rings do not allow this"),
      "404": problemResponse("Not found"),
      "409": problemResponse("Not possible now (the reason says why)"),
      "429": tooManyRequests,
    },
  };
}

export function openApiDocument(serverUrl: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  const components: Components = {};
  for (const route of API_ROUTES) {
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operationOf(route, components);
  }
  paths["/audit.csv"] = {
    get: {
      operationId: "audit_csv",
      summary: "The audit log as CSV (the audit list's filters)",
      tags: ["audit"],
      "x-orchard-role": "viewer",
      "x-orchard-rings": ["fleet"],
      parameters: ["actor", "action", "targetType", "targetId", "from", "to"].map((name) => ({ name, in: "query", required: false, schema: { type: "string" } })),
      responses: {
        "200": { description: "CSV, oldest first", content: { "text/csv": { schema: { type: "string" } } } },
        "400": problemResponse("Invalid filter"),
        "401": problemResponse("No token, or an unknown, revoked or expired one"),
        "403": problemResponse("A token limited to some rings"),
        "429": tooManyRequests,
      },
    },
  };
  // Release artifacts' bytes: the streaming route of server/api/artifacts.ts, beside the procedures' JSON routes.
  const artifact = (paths["/releases/{releaseId}/artifacts/{name}"] ??= {});
  const artifactParams = [
    { name: "releaseId", in: "path", required: true, schema: { type: "string" } },
    { name: "name", in: "path", required: true, schema: { type: "string", pattern: "^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$", maxLength: 200 } },
  ];
  const artifactSchemaRef = jsonSchemaOf(artifactSchema, "output", components);
  artifact.put = {
    operationId: "releases_uploadArtifact",
    summary: "Upload a release's artifact: the raw bytes as the body (streamed to disk), stored only if their sha256 is the X-Checksum-Sha256 header's",
    tags: ["releases"],
    "x-orchard-role": "operator",
    "x-orchard-rings": ["fleet"],
    parameters: [
      ...artifactParams,
      { name: "X-Checksum-Sha256", in: "header", required: true, description: "The file's sha256 (64 hex characters); a mismatch stores nothing (400, field sha256).", schema: { type: "string", pattern: "^[0-9a-fA-F]{64}$" } },
    ],
    requestBody: { required: true, description: "The file's bytes; Content-Type is kept as the artifact's type (default application/octet-stream).", content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } },
    responses: {
      "201": { description: "The stored artifact", content: { "application/json": { schema: artifactSchemaRef } } },
      "400": problemResponse("No or a wrong sha256 (nothing stored), or a bad name"),
      "401": problemResponse("No token, or an unknown, revoked or expired one"),
      "403": problemResponse("Not an operator over the whole fleet"),
      "404": problemResponse("No such release"),
      "409": problemResponse("The release has an artifact of this name"),
      "413": problemResponse("Over ORCHARD_ARTIFACT_MAX_BYTES (nothing stored)"),
      "429": tooManyRequests,
    },
  };
  artifact.get = {
    operationId: "releases_downloadArtifact",
    summary: "Download a release's artifact (HEAD too): one byte range (206 with Content-Range; 416 when it cannot be satisfied), ETag the sha256",
    tags: ["releases"],
    "x-orchard-role": "viewer",
    "x-orchard-rings": ["none"],
    parameters: [...artifactParams, { name: "Range", in: "header", required: false, description: "One range: bytes=0-99, bytes=100-, bytes=-100", schema: { type: "string" } }],
    responses: {
      "200": { description: "The whole file", content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } },
      "206": { description: "The range asked for", content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } },
      "304": { description: "If-None-Match named its ETag" },
      "401": problemResponse("No token, or an unknown, revoked or expired one"),
      "404": problemResponse("No such artifact"),
      "416": { description: "The range starts past the end (Content-Range: bytes */size)" },
      "429": tooManyRequests,
    },
  };
  return {
    openapi: "3.1.0",
    info: {
      title: "Orchard API",
      version: "1",
      description:
        "Drive an Orchard console from pipelines: machines, rings and their policies, releases, rollouts, enrollment tokens, users, API tokens and the audit log. Authenticate with an API token (created by an admin in the console) as `Authorization: Bearer orch_a_…`. Answers are JSON: times are ISO 8601 strings in UTC (`2026-11-30T12:00:00.000Z`), and an answer has exactly the fields its schema lists.",
    },
    servers: [{ url: new URL(API_PREFIX, serverUrl).toString() }],
    security: [{ bearer: [] }],
    tags: [...new Set(API_ROUTES.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "An API token, orch_a_…" } },
      schemas: { Problem: problemSchema, ...Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b))) },
    },
  };
}
