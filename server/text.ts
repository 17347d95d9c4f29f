// Text and times as PostgreSQL can store them. Inputs reach the database
// through three doors (the agent protocol, tRPC, the CSV export's query),
// and each refuses what cannot be stored with a 400 naming the field, before
// anything is read or written: a NUL character, half a surrogate pair, a
// time outside the years the console keeps.
import { formatPath, isStorableText, storableText, UNSTORABLE_MESSAGE } from "./protocol/v1";

export { isStorableText, storableText, UNSTORABLE_MESSAGE };

/** The path (`reason`, `labels.site`, `items[2].name`) of the first text in `value` that cannot be stored, or null. */
export function findUnstorable(value: unknown, path: PropertyKey[] = []): string | null {
  if (typeof value === "string") return isStorableText(value) ? null : formatPath(path) || "(input)";
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const bad = findUnstorable(item, [...path, i]);
      if (bad) return bad;
    }
    return null;
  }
  if (value && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (!isStorableText(key)) return formatPath([...path, key]) || "(input)";
      const bad = findUnstorable(item, [...path, key]);
      if (bad) return bad;
    }
  }
  return null;
}

/** The earliest and latest instants the console stores (an agent's clock may say anything). */
export const EARLIEST = new Date("1970-01-01T00:00:00.000Z");
export const LATEST = new Date("9999-12-31T23:59:59.999Z");

/** A time moved into the range the console stores: for agents' clocks, which are hints only. */
export function clampTime(at: Date): Date {
  if (at < EARLIEST) return EARLIEST;
  if (at > LATEST) return LATEST;
  return at;
}

export const TIME_RANGE_MESSAGE = "expected a time between 1970 and 9999";
export const inStoredRange = (at: Date) => at >= EARLIEST && at <= LATEST;

/** `text` for a LIKE/ILIKE pattern (Prisma's `contains` passes it on as it is): its wildcards match only themselves. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
