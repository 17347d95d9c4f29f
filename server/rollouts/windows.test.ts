import { describe, expect, it } from "vitest";
import { localTime, windowOpen } from "./windows";

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
