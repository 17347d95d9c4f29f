// The zod schemas behind the REST API: each route's input is its procedure's
// own input parser, read from the tRPC router. Query strings carry text
// only, so a query parameter is turned into what its schema expects (a
// number, a boolean, a list) before the procedure parses it.
import { z } from "zod";
import type { RingTarget } from "../auth/scope";
import { appRouter } from "../trpc/router";

type AnySchema = z.ZodType;

interface ProcedureDef {
  _def: { type: "query" | "mutation"; inputs: unknown[]; output?: unknown; meta?: { role?: string | null; rings?: RingTarget | readonly RingTarget[] } };
}

export function procedureDef(path: string): ProcedureDef | undefined {
  return (appRouter._def.procedures as unknown as Record<string, ProcedureDef | undefined>)[path];
}

/** The procedure's input schema, or null for none. */
export function inputSchemaOf(path: string): AnySchema | null {
  const inputs = procedureDef(path)?._def.inputs ?? [];
  return (inputs.at(-1) as AnySchema | undefined) ?? null;
}

/** The schema the procedure's answer is checked against (its `.output()`), or null for none. */
export function outputSchemaOf(path: string): AnySchema | null {
  return (procedureDef(path)?._def.output as AnySchema | undefined) ?? null;
}

/** The fields of an input schema: an object's, or those of both sides of an intersection. */
export function shapeOf(schema: AnySchema | null): Record<string, AnySchema> {
  if (!schema) return {};
  const inner = unwrap(schema);
  if (inner instanceof z.ZodObject) return inner.shape as Record<string, AnySchema>;
  if (inner instanceof z.ZodIntersection) {
    const def = inner._zod.def as unknown as { left: AnySchema; right: AnySchema };
    return { ...shapeOf(def.left), ...shapeOf(def.right) };
  }
  return {};
}

/** Past optional, nullable, default, readonly and pipes to the schema that says what a value is. */
export function unwrap(schema: AnySchema): AnySchema {
  let current: AnySchema = schema;
  for (let i = 0; i < 10; i++) {
    const def = (current as unknown as { _zod: { def: { type: string; innerType?: AnySchema; in?: AnySchema } } })._zod.def;
    if (def.innerType && ["optional", "nullable", "default", "readonly", "prefault", "catch", "nonoptional"].includes(def.type)) current = def.innerType;
    else if (def.type === "pipe" && def.in) current = def.in;
    else break;
  }
  return current;
}

function kindOf(schema: AnySchema): string {
  return (unwrap(schema) as unknown as { _zod: { def: { type: string } } })._zod.def.type;
}

/**
 * Query parameters as the schema's fields expect them: numbers and booleans
 * from their text, lists from repeated parameters or commas. Text the
 * schema refuses is left as it is, for the procedure to refuse by name.
 */
export function coerceQuery(schema: AnySchema | null, params: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const shape = shapeOf(schema);
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key);
    const field = shape[key] as AnySchema | undefined;
    const kind = field ? kindOf(field) : "string";
    if (kind === "array") {
      const element = (unwrap(field!) as unknown as { _zod: { def: { element: AnySchema } } })._zod.def.element;
      const items = values.flatMap((v) => v.split(",")).filter((v) => v !== "");
      out[key] = items.map((item) => scalar(kindOf(element), item));
    } else {
      out[key] = scalar(kind, values.at(-1)!);
    }
  }
  return out;
}

function scalar(kind: string, text: string): unknown {
  if (kind === "number" || kind === "int") {
    const n = Number(text);
    return text.trim() !== "" && Number.isFinite(n) ? n : text;
  }
  if (kind === "boolean") return text === "true" ? true : text === "false" ? false : text;
  return text;
}
