import { describe, expect, it } from "vitest";
import { localTime, nextOpening, windowOpen, type WindowPolicy } from "./windows";

const nightly = { days: ["mon", "tue", "wed", "thu", "fri"] as ("mon" | "tue" | "wed" | "thu" | "fri")[], start: "02:00", durationMinutes: 120 };

describe("maintenance windows", () => {
  it("reads wall-clock time in the ring's time zone", () => {
    // 2026-11-25 is a Wednesday; 01:30 UTC is 02:30 in Amsterdam (UTC+1).
    expect(localTime(new Date("2026-11-25T01:30:00Z"), "Europe/Amsterdam")).toEqual({
      date: "2026-11-25",
      weekday: 3,
      minuteOfDay: 150,
    });
  });

  it.each([
    ["2026-11-25T01:30:00Z", "Europe/Amsterdam", true],
    ["2026-11-25T00:59:00Z", "Europe/Amsterdam", false],
    ["2026-11-25T03:00:00Z", "Europe/Amsterdam", false],
    ["2026-11-25T02:30:00Z", "UTC", true],
    ["2026-11-28T02:30:00Z", "UTC", false], // Saturday
    ["2026-11-25T07:30:00Z", "America/New_York", true], // 02:30 EST
  ])("%s in %s is open: %s", (at, timeZone, open) => {
    expect(windowOpen({ timeZone, windows: [nightly], blackoutDates: [] }, new Date(at))).toBe(open);
  });

  it("is always open without windows, except on blackout dates (local)", () => {
    const policy = { timeZone: "Asia/Tokyo", windows: [], blackoutDates: ["2026-12-25"] };
    expect(windowOpen(policy, new Date("2026-12-24T12:00:00Z"))).toBe(true);
    // 16:00 UTC on the 24th is already the 25th in Tokyo.
    expect(windowOpen(policy, new Date("2026-12-24T16:00:00Z"))).toBe(false);
  });

  it("runs a window past midnight and past the end of the week", () => {
    const late = { timeZone: "UTC", windows: [{ days: ["sat" as const], start: "23:00", durationMinutes: 180 }], blackoutDates: [] };
    expect(windowOpen(late, new Date("2026-11-28T23:30:00Z"))).toBe(true);
    expect(windowOpen(late, new Date("2026-11-29T01:59:00Z"))).toBe(true);
    expect(windowOpen(late, new Date("2026-11-29T02:00:00Z"))).toBe(false);
  });
});

describe("when a window next opens", () => {
  const policy = (p: Partial<WindowPolicy>): WindowPolicy => ({ timeZone: "UTC", windows: [nightly], blackoutDates: [], ...p });
  it.each([
    ["open now: null", policy({}), "2026-11-25T02:30:00Z", null],
    ["later the same night", policy({}), "2026-11-25T01:00:00Z", "2026-11-25T02:00:00.000Z"],
    ["the next weekday after the window closed", policy({}), "2026-11-25T05:00:00Z", "2026-11-26T02:00:00.000Z"],
    ["over the weekend", policy({}), "2026-11-27T05:00:00Z", "2026-11-30T02:00:00.000Z"],
    ["past a blackout date", policy({ blackoutDates: ["2026-11-26"] }), "2026-11-25T05:00:00Z", "2026-11-27T02:00:00.000Z"],
    ["in the ring's time zone", policy({ timeZone: "Europe/Amsterdam" }), "2026-11-25T05:00:00Z", "2026-11-26T01:00:00.000Z"],
    ["at midnight, when a blackout day ends inside a window", { timeZone: "UTC", windows: [], blackoutDates: ["2026-12-24"] }, "2026-12-24T12:00:00Z", "2026-12-25T00:00:00.000Z"],
    ["never, when every day of the year is a blackout", policy({ windows: [], blackoutDates: Array.from({ length: 400 }, (_, i) => new Date(Date.UTC(2026, 10, 25 + i)).toISOString().slice(0, 10)) }), "2026-11-25T05:00:00Z", null],
  ])("%s", (_, p, at, expected) => {
    expect(nextOpening(p, new Date(at))?.toISOString() ?? null).toBe(expected);
  });

  it("across a change to summer time", () => {
    // 2027-03-28: clocks in Amsterdam go from 02:00 to 03:00; a 02:30 window start does not exist that night.
    const p = policy({ timeZone: "Europe/Amsterdam", windows: [{ days: ["sun", "mon"], start: "02:30", durationMinutes: 60 }] });
    const next = nextOpening(p, new Date("2027-03-27T12:00:00Z"));
    expect(next && windowOpen(p, next)).toBe(true);
    expect(next!.getTime()).toBeLessThanOrEqual(new Date("2027-03-28T02:00:00Z").getTime());
  });
});
