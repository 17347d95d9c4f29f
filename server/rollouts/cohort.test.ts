import { describe, expect, it } from "vitest";
import { cohortOf } from "./cohort";

describe("cohorts", () => {
  it("places a machine at a stable point of [0, 1)", () => {
    const a = cohortOf("kiosk-0001");
    expect(a).toBe(cohortOf("kiosk-0001"));
    expect(a).toBeGreaterThanOrEqual(0);
    expect(a).toBeLessThan(1);
  });

  it("moves machines when the seed changes (reshuffle)", () => {
    expect(cohortOf("kiosk-0001", "seed-1")).not.toBe(cohortOf("kiosk-0001", "seed-2"));
  });

  it("spreads machines evenly", () => {
    const points = Array.from({ length: 20_000 }, (_, i) => cohortOf(`m-${i}`));
    for (const p of [0.1, 0.5, 0.9]) {
      const share = points.filter((x) => x < p).length / points.length;
      expect(Math.abs(share - p)).toBeLessThan(0.015);
    }
  });
});
