import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "./duration";

describe("durations", () => {
  it.each([
    ["90s", 90],
    ["30m", 1800],
    ["24h", 86_400],
    ["7d", 604_800],
    ["1h30m", 5400],
    ["2w", 1_209_600],
  ])("parses %s", (text, seconds) => expect(parseDuration(text)).toBe(seconds));

  it.each(["", "soon", "10", "-5m", "1.5h", "0s", "5 m"])("refuses %j", (text) => expect(parseDuration(text)).toBeNull());

  it("formats in the largest whole unit", () => {
    expect(formatDuration(86_400)).toBe("1d");
    expect(formatDuration(5400)).toBe("90m");
    expect(formatDuration(61)).toBe("61s");
  });
});
