// What changed between two images of a source: layers (by digest) and labels.
import type { FoundImage } from "./oci";

export type Layer = FoundImage["layers"][number];

export interface ImageDiff {
  /** Layers of the newer image that the older one does not have, in the newer image's order. */
  layersAdded: Layer[];
  /** Layers of the older image that the newer one does not have, in the older image's order. */
  layersRemoved: Layer[];
  /** Layers both images have (by digest), in the newer image's order. */
  layersKept: Layer[];
  labelsAdded: Record<string, string>;
  labelsRemoved: Record<string, string>;
  labelsChanged: Record<string, { from: string; to: string }>;
  /** Sum of the newer image's layer sizes minus the older one's (compressed bytes, as stored in the registry). */
  sizeDelta: number;
}

export function diffImages(older: Pick<FoundImage, "layers" | "labels">, newer: Pick<FoundImage, "layers" | "labels">): ImageDiff {
  const olderDigests = new Set(older.layers.map((l) => l.digest));
  const newerDigests = new Set(newer.layers.map((l) => l.digest));
  const labelsAdded: Record<string, string> = {};
  const labelsRemoved: Record<string, string> = {};
  const labelsChanged: Record<string, { from: string; to: string }> = {};
  for (const [key, value] of Object.entries(newer.labels)) {
    if (!Object.hasOwn(older.labels, key)) labelsAdded[key] = value;
    else if (older.labels[key] !== value) labelsChanged[key] = { from: older.labels[key], to: value };
  }
  for (const [key, value] of Object.entries(older.labels)) {
    if (!Object.hasOwn(newer.labels, key)) labelsRemoved[key] = value;
  }
  const size = (layers: Layer[]) => layers.reduce((sum, l) => sum + l.size, 0);
  return {
    layersAdded: newer.layers.filter((l) => !olderDigests.has(l.digest)),
    layersRemoved: older.layers.filter((l) => !newerDigests.has(l.digest)),
    layersKept: newer.layers.filter((l) => olderDigests.has(l.digest)),
    labelsAdded,
    labelsRemoved,
    labelsChanged,
    sizeDelta: size(newer.layers) - size(older.layers),
  };
}
