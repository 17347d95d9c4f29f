// Small formatting helpers shared by the pages.

/** 300 → "5 min", 90 → "1 min 30 s", 7200 → "2 h". */
export function formatSeconds(total: number): string {
  if (total < 60) return `${total} s`;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const parts = [h ? `${h} h` : "", m ? `${m} min` : "", s ? `${s} s` : ""].filter(Boolean);
  return parts.join(" ");
}

/**
 * What the server said about a failed call: its message, and the input
 * field and validation issues its error data names (server/trpc/init.ts,
 * ErrorData). A form's own checks make one the same way.
 */
export interface Problem {
  message: string;
  field?: string;
  issues?: { path: string; message: string }[];
}

export function problemOf(error: unknown): Problem | null {
  if (!error) return null;
  const e = error as { message?: string; data?: { field?: string; issues?: Problem["issues"] } | null };
  return { message: e.message ?? "failed", field: e.data?.field ?? undefined, issues: e.data?.issues ?? undefined };
}

/** Props that mark an input invalid when the problem is about its field (or a part of it). */
export function invalidIf(problem: Problem | null | undefined, field: string) {
  const paths = [problem?.field, ...(problem?.issues ?? []).map((issue) => issue.path)];
  return paths.some((bad) => bad === field || bad?.startsWith(`${field}.`) || bad?.startsWith(`${field}[`))
    ? ({ "aria-invalid": true } as const)
    : {};
}

/** A positive integer from a form field, or undefined when left empty. */
export function optionalInt(value: FormDataEntryValue | null): number | undefined {
  const text = String(value ?? "").trim();
  if (!text) return undefined;
  return Number(text);
}
