// Pure helpers for tag lists: the `Link` header of a paginated
// `/v2/NAME/tags/list` answer, tag patterns, and cosign's attachment tags.

/**
 * The `rel="next"` target of a `Link` header (RFC 8288), resolved against
 * `base`; null when there is none. Registries send
 * `</v2/NAME/tags/list?last=X&n=N>; rel="next"`.
 */
export function parseNextLink(header: string | null, base: string | URL): URL | null {
  if (!header) return null;
  const linkPattern = /<([^>]*)>((?:\s*;\s*[^,;=\s]+\s*=\s*(?:"[^"]*"|[^,;]*))*)/g;
  for (const match of header.matchAll(linkPattern)) {
    const params = match[2];
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^,;\s]*))/i.exec(params);
    const relations = (rel?.[1] ?? rel?.[2] ?? "").toLowerCase().split(/\s+/);
    if (relations.includes("next")) {
      try {
        return new URL(match[1], base);
      } catch {
        return null;
      }
    }
  }
  return null;
}

/**
 * A tag pattern is a glob on the whole tag: `*` matches any run of
 * characters (none too), `?` exactly one; every other character matches
 * itself (tags hold only `[A-Za-z0-9_.-]`, so there is nothing to escape).
 * `41.*` matches `41.1` and `41.20250101`, not `410.1`; `stable-*` matches
 * `stable-1` and `stable-`.
 */
export function tagGlobToRegExp(pattern: string): RegExp {
  let source = "^";
  for (const char of pattern) {
    if (char === "*") source += ".*";
    else if (char === "?") source += ".";
    else source += char.replace(/[\\^$.|+()[\]{}]/g, "\\$&");
  }
  return new RegExp(`${source}$`);
}

export const tagPatternSyntax = /^[A-Za-z0-9_.*?-]{1,128}$/;
export const tagSyntax = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Tags cosign (and containers/image) use for attachments of an image:
 * `sha256-<hex>.sig`, `.att`, `.sbom`. They are never releases, whatever the
 * pattern says.
 */
export function isAttachmentTag(tag: string): boolean {
  return /^sha256-[0-9a-f]{64}(\.[a-z]+)?$/.test(tag);
}
