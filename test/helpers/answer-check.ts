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
