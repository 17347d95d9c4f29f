import { describe, expect, it } from "vitest";
import { isAttachmentTag, parseNextLink, tagGlobToRegExp } from "./oci-tags";

describe("parseNextLink", () => {
  const base = "http://127.0.0.1:5000/v2/os/tags/list?n=2";
  it("resolves a registry's relative next link", () => {
    expect(parseNextLink('</v2/os/tags/list?last=41.2&n=2>; rel="next"', base)?.href).toBe("http://127.0.0.1:5000/v2/os/tags/list?last=41.2&n=2");
  });
  it("finds next among several links, unquoted rel, and several relation types", () => {
    expect(parseNextLink('<https://r/first>; rel="first", <https://r/b?last=x>; rel=next', base)?.href).toBe("https://r/b?last=x");
    expect(parseNextLink('<https://r/c>; title="a,b"; rel="prefetch next"', base)?.href).toBe("https://r/c");
  });
  it("is null without a header or a next relation", () => {
    expect(parseNextLink(null, base)).toBeNull();
    expect(parseNextLink('<https://r/prev>; rel="prev"', base)).toBeNull();
    expect(parseNextLink("garbage", base)).toBeNull();
  });
});

describe("tagGlobToRegExp", () => {
  const matches = (pattern: string, tag: string) => tagGlobToRegExp(pattern).test(tag);
  it("matches the whole tag, * any run, ? one character, dots literally", () => {
    expect(matches("41.*", "41.1")).toBe(true);
    expect(matches("41.*", "41.")).toBe(true);
    expect(matches("41.*", "410.1")).toBe(false);
    expect(matches("41.*", "x41.1")).toBe(false);
    expect(matches("stable-*", "stable-2026")).toBe(true);
    expect(matches("stable-*", "stable")).toBe(false);
    expect(matches("4?", "41")).toBe(true);
    expect(matches("4?", "4")).toBe(false);
    expect(matches("latest", "latest")).toBe(true);
    expect(matches("latest", "latest2")).toBe(false);
    expect(matches("*", "anything.at-all_1")).toBe(true);
  });
});

describe("isAttachmentTag", () => {
  it("recognises cosign's signature, attestation and SBOM tags", () => {
    const hex = "a".repeat(64);
    expect(isAttachmentTag(`sha256-${hex}.sig`)).toBe(true);
    expect(isAttachmentTag(`sha256-${hex}.att`)).toBe(true);
    expect(isAttachmentTag(`sha256-${hex}`)).toBe(true);
    expect(isAttachmentTag("sha256-abc.sig")).toBe(false);
    expect(isAttachmentTag("41.1")).toBe(false);
  });
});
