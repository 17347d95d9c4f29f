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
 * The input field a server message is about. Domain and validation errors
 * start with the field's path ("version: branch … has no release 9"), which
 * lets a form mark that field.
 */
export function errorField(message: string | null | undefined): string | undefined {
  const match = message ? /^([A-Za-z][A-Za-z0-9_.[\]]*): /.exec(message) : null;
  return match?.[1];
}

/** Props that mark an input invalid when the server's message is about it. */
export function invalidIf(message: string | null | undefined, field: string) {
  const bad = errorField(message);
  return bad === field || bad?.startsWith(`${field}.`) || bad?.startsWith(`${field}[`)
    ? ({ "aria-invalid": true } as const)
    : {};
}

/** A positive integer from a form field, or undefined when left empty. */
export function optionalInt(value: FormDataEntryValue | null): number | undefined {
  const text = String(value ?? "").trim();
  if (!text) return undefined;
  return Number(text);
}
