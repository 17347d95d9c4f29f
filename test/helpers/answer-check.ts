// Checks real answers of the REST API against the response schemas of its
// OpenAPI document (JSON Schema 2020-12, with ajv), and keeps which
// operations had an answer checked, so that a test can require every
// described operation to be. A schema that lies (a field missing, renamed,
// of another type, a time that is not an ISO string, a field it does not
// list) fails the check.
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";

type JsonSchema = Record<string, unknown>;

interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: JsonSchema }> }>;
}

export interface OpenApi {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, JsonSchema> };
}

/** `#/components/schemas/X` as `#/$defs/X`, so that each response schema carries the named ones it uses. */
const local = <T>(value: T): T => JSON.parse(JSON.stringify(value).replaceAll('"#/components/schemas/', '"#/$defs/')) as T;

export function answerChecker(document: OpenApi) {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  const defs = local(document.components.schemas);
  const validators = new Map<string, ValidateFunction>();
  /** Every "METHOD /path" whose success answer has a schema (not `{}`). */
  const described = new Set<string>();
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      for (const [status, response] of Object.entries(op.responses)) {
        const schema = response.content?.["application/json"]?.schema;
        if (!status.startsWith("2") || !schema || Object.keys(schema).length === 0) continue;
        const key = `${method.toUpperCase()} ${path}`;
        described.add(key);
        validators.set(`${key} ${status}`, ajv.compile({ ...local(schema), $defs: defs }));
      }
    }
  }
  const checked = new Set<string>();
  return {
    described,
    checked,
    /** Throws, saying where, when `body` is not what the document says `METHOD /path` answers with `status`. */
    check(method: string, path: string, status: number, body: unknown) {
      const key = `${method.toUpperCase()} ${path}`;
      const validate = validators.get(`${key} ${status}`);
      if (!validate) return false;
      if (!validate(body)) {
        const errors = (validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
        throw new Error(`${key} → ${status}: the answer does not match the document's schema:\n  ${errors.join("\n  ")}`);
      }
      checked.add(key);
      return true;
    },
  };
}

type Middleware = ((opts: { next: (...args: unknown[]) => Promise<{ ok: boolean; data?: unknown }> }) => Promise<{ ok: boolean; data?: unknown }>) & { _type?: string };

/** Where `raw` holds a value that `kept` lacks: `rings[].waves[].hops`, for each field a schema drops. */
function droppedFields(raw: unknown, kept: unknown, at = ""): string[] {
  if (Array.isArray(raw) && Array.isArray(kept)) return raw.flatMap((item, i) => droppedFields(item, kept[i], `${at}[]`));
  if (!raw || typeof raw !== "object" || raw instanceof Date || !kept || typeof kept !== "object") return [];
  return Object.entries(raw as Record<string, unknown>).flatMap(([key, value]) => {
    if (value === undefined) return [];
    const path = at ? `${at}.${key}` : key;
    return key in kept ? droppedFields(value, (kept as Record<string, unknown>)[key], path) : [path];
  });
}

/**
 * Watches every procedure's output check (tRPC's `.output()` strips what its
 * schema does not list): each field a domain function returns and the
 * schema drops is recorded as `procedure: path`, so that a test can require
 * none (a field added to a domain function and forgotten in its schema would
 * otherwise vanish from tRPC and REST answers without a word). It wraps the
 * output middleware in the router's definitions, read at each call.
 */
export function watchDroppedFields(procedures: Record<string, { _def: { middlewares: Middleware[]; output?: unknown } }>) {
  const dropped = new Set<string>();
  let watched = 0;
  for (const [name, procedure] of Object.entries(procedures)) {
    const middlewares = procedure._def.middlewares;
    const index = middlewares.findIndex((m) => m._type === "output");
    if (index < 0) continue;
    const check = middlewares[index];
    const watcher: Middleware = async (opts) => {
      let raw: unknown;
      const result = await check({
        ...opts,
        next: async (...args) => {
          const inner = await opts.next(...args);
          if (inner.ok) raw = inner.data;
          return inner;
        },
      });
      if (result.ok) for (const path of droppedFields(raw, result.data)) dropped.add(`${name}: ${path}`);
      return result;
    };
    watcher._type = "output";
    middlewares[index] = watcher;
    watched++;
  }
  return { dropped, watched };
}
