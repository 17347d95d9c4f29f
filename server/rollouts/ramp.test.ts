import { describe, expect, it } from "vitest";
import { nextHold, rampSecondsFor, rampShare, startsAt, turnAt, untilTurn } from "./ramp";

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

  it("stands still while held: turns after the hold are as far off as they were, turns before it come no sooner than now", () => {
    const noon = new Date("2026-12-01T12:00:00Z");
    const at = (seconds: number) => new Date(noon.getTime() + seconds * 1000);
    const held = { startedAt: noon, seconds: 1000, from: 0, to: 1, heldAt: at(100) };
    // Cohort 0.3 starts at noon + 300 s: held at 100 s, 200 s after the clock goes on.
    expect(untilTurn(held, 0.3, at(500))).toBe(200_000);
    expect(turnAt(held, 0.3, at(500))).toEqual(at(700));
    // Cohort 0.05's turn came at 50 s, before the hold: at the soonest now (its dark deadline counts from there).
    expect(untilTurn(held, 0.05, at(500))).toBe(0);
    expect(turnAt(held, 0.05, at(500))).toEqual(at(500));
    // Let go at 600 s: the clock's start moves on by the 500 s held, and the turn that had come stays come.
    const going = { ...held, heldAt: null, startedAt: at(500) };
    expect(turnAt(going, 0.05, at(600))).toEqual(at(550));
    expect(turnAt(going, 0.3, at(600))).toEqual(at(800));
    expect(untilTurn({ ...held, heldAt: null }, 0.3, at(100))).toBe(200_000);
  });

  it("holds at the limit of machines at work and lets go at half of it", () => {
    const now = new Date("2026-12-01T12:00:00Z");
    expect(nextHold(null, 999, 1000, now)).toBeUndefined();
    expect(nextHold(null, 1000, 1000, now)).toEqual(now);
    expect(nextHold(now, 501, 1000, now)).toBeUndefined();
    expect(nextHold(now, 500, 1000, now)).toBeNull();
  });
});
