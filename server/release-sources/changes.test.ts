import { describe, expect, it } from "vitest";
import { diffMetadata } from "./changes";

describe("diffMetadata", () => {
  it("lists keys added, removed and changed, comparing values as JSON", () => {
    expect(
      diffMetadata(
        { version: "1.0", "ostree.linux": "6.1", kept: { a: [1, 2] }, gone: true },
        { version: "1.1", "ostree.linux": "6.1", kept: { a: [1, 2] }, fresh: 3 },
      ),
    ).toEqual({ added: { fresh: 3 }, removed: { gone: true }, changed: { version: { from: "1.0", to: "1.1" } } });
  });

  it("treats what is not an object as empty, and inherited names as keys of their own", () => {
    expect(diffMetadata(null, { constructor: "x" })).toEqual({ added: { constructor: "x" }, removed: {}, changed: {} });
    expect(diffMetadata([1], "no")).toEqual({ added: {}, removed: {}, changed: {} });
  });
});
