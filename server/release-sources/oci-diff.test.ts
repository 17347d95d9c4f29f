import { describe, expect, it } from "vitest";
import { diffImages } from "./oci-diff";

const layer = (n: number, size = 10) => ({ digest: `sha256:${String(n).repeat(64).slice(0, 64)}`, size, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" });

describe("diffImages", () => {
  it("lists layers added, removed and kept by digest, labels added, removed and changed, and the size delta", () => {
    const older = { layers: [layer(1, 100), layer(2, 50)], labels: { "org.opencontainers.image.version": "41.1", gone: "x", same: "s" } };
    const newer = { layers: [layer(1, 100), layer(3, 70), layer(4, 5)], labels: { "org.opencontainers.image.version": "41.2", same: "s", fresh: "y" } };
    expect(diffImages(older, newer)).toEqual({
      layersAdded: [layer(3, 70), layer(4, 5)],
      layersRemoved: [layer(2, 50)],
      layersKept: [layer(1, 100)],
      labelsAdded: { fresh: "y" },
      labelsRemoved: { gone: "x" },
      labelsChanged: { "org.opencontainers.image.version": { from: "41.1", to: "41.2" } },
      sizeDelta: 75 - 50,
    });
  });

  it("is empty between an image and itself, and does not treat inherited keys as labels", () => {
    const image = { layers: [layer(1)], labels: { a: "1" } };
    const diff = diffImages(image, { layers: [layer(1)], labels: { a: "1", constructor: "c" } });
    expect(diff.layersAdded).toEqual([]);
    expect(diff.layersRemoved).toEqual([]);
    expect(diff.labelsAdded).toEqual({ constructor: "c" });
    expect(diffImages(image, image).sizeDelta).toBe(0);
  });
});
