import { describe, expect, it } from "vitest";
import { backoffSeconds, jittered, Waker } from "./timing.ts";

describe("backoff", () => {
  it("doubles from the base and never exceeds the cap (the check-in interval × 10)", () => {
    const top = () => 1; // the largest delay full jitter can draw
    expect([0, 1, 2, 3].map((n) => backoffSeconds(n, 2, 600, top))).toEqual([2, 4, 8, 16]);
    expect(backoffSeconds(9, 2, 600, top)).toBe(600);
    expect(backoffSeconds(1000, 2, 600, top)).toBe(600);
  });

  it("draws a delay between 0 and the ceiling (full jitter)", () => {
    expect(backoffSeconds(3, 2, 600, () => 0)).toBe(0);
    expect(backoffSeconds(3, 2, 600, () => 0.5)).toBe(8);
  });

  it("jitters an interval by ±10 %", () => {
    expect(jittered(60, () => 0)).toBeCloseTo(54);
    expect(jittered(60, () => 1)).toBeCloseTo(66);
  });
});

describe("Waker", () => {
  it("cuts a wakeable wait short, but not a backoff", async () => {
    const waker = new Waker();
    const signal = new AbortController().signal;
    const started = Date.now();
    setTimeout(() => waker.wake(), 20);
    await waker.wait(5, true, signal);
    expect(Date.now() - started).toBeLessThan(1000);

    waker.clear();
    const backoffStart = Date.now();
    setTimeout(() => waker.wake(), 5);
    await waker.wait(0.2, false, signal);
    expect(Date.now() - backoffStart).toBeGreaterThanOrEqual(190);
    // The wake-up during the backoff is not lost: the next wait ends at once.
    await waker.wait(5, true, signal);
  });

  it("rejects when stopped", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 10);
    await expect(new Waker().wait(5, true, controller.signal)).rejects.toThrow();
  });
});
