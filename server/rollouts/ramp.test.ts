import { describe, expect, it } from "vitest";
import { rampSecondsFor, rampShare, startsAt } from "./ramp";

describe("a wave's ramp", () => {
  it("spreads a large wave's machines at the given rate, and starts a small one at once", () => {
    expect(rampSecondsFor(90_000, 50)).toBe(1800);
    expect(rampSecondsFor(90_001, 50)).toBe(1801);
    // Within ten seconds: all at once.
    expect(rampSecondsFor(500, 50)).toBe(0);
    expect(rampSecondsFor(501, 50)).toBe(11);
    expect(rampSecondsFor(0, 50)).toBe(0);
  });

  it("starts each machine by its place in the wave's share of the cohort space", () => {
    const ramp = { startedAt: new Date("2026-12-01T12:00:00Z"), seconds: 1000, from: 0.1, to: 0.5 };
    expect(rampShare(ramp, 0.1)).toBe(0);
    expect(rampShare(ramp, 0.3)).toBeCloseTo(0.5);
    expect(rampShare(ramp, 0.05)).toBe(0);
    expect(rampShare(ramp, 0.9)).toBe(1);
    expect(startsAt(ramp, 0.3).toISOString()).toBe("2026-12-01T12:08:20.000Z");
    expect(rampShare({ from: 0.5, to: 0.5 }, 0.5)).toBe(0);
  });
});
