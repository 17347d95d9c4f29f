// Maintenance windows: weekly, in the ring's time zone, with blackout dates.
// A ring without windows is always open (blackout dates still apply).
import { z } from "zod";

export const weekdays = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
export type Weekday = (typeof weekdays)[number];

export const maintenanceWindowSchema = z.object({
  days: z.array(z.enum(weekdays, { error: `expected one of ${weekdays.join(", ")}` })).min(1, "at least one day"),
  start: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "expected HH:MM, such as 02:00"),
  durationMinutes: z.number().int().min(1, "at least a minute").max(7 * 24 * 60, "at most a week"),
});
export type MaintenanceWindow = z.infer<typeof maintenanceWindowSchema>;

export const timeZoneSchema = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, "expected an IANA time zone such as Europe/Amsterdam");

export const blackoutDateSchema = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "expected a date such as 2026-12-24");

export interface WindowPolicy {
  timeZone: string;
  windows: MaintenanceWindow[];
  blackoutDates: string[];
}

interface LocalTime {
  date: string;
  weekday: number;
  minuteOfDay: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock date, weekday and minute of `at` in `timeZone`. */
export function localTime(at: Date, timeZone: string): LocalTime {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
    });
    formatters.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(at).map((p) => [p.type, p.value]));
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    weekday: weekdays.indexOf(parts.weekday.toLowerCase().slice(0, 3) as Weekday),
    minuteOfDay: Number(parts.hour) * 60 + Number(parts.minute),
  };
}

/** True when `at` falls inside one of the policy's windows and not on a blackout date. */
export function windowOpen(policy: WindowPolicy, at: Date): boolean {
  const local = localTime(at, policy.timeZone);
  if (policy.blackoutDates.includes(local.date)) return false;
  if (policy.windows.length === 0) return true;
  const minuteOfWeek = local.weekday * 1440 + local.minuteOfDay;
  return policy.windows.some((w) => {
    const [h, m] = w.start.split(":").map(Number);
    return w.days.some((day) => {
      const start = weekdays.indexOf(day) * 1440 + h * 60 + m;
      // A window may run past the end of the week (Saturday night into Sunday).
      const offset = (minuteOfWeek - start + 7 * 1440) % (7 * 1440);
      return offset < w.durationMinutes;
    });
  });
}

const MINUTE = 60_000;

/** Minutes since the epoch of a wall-clock date and minute, as if it were UTC. */
function wallMinutes(date: string, minuteOfDay: number): number {
  const [y, m, d] = date.split("-").map(Number);
  return Date.UTC(y, m - 1, d) / MINUTE + minuteOfDay;
}

/** The instant at which the wall clock of `timeZone` shows `date` `minuteOfDay` (the later one across a DST change). */
function instantOf(date: string, minuteOfDay: number, timeZone: string): Date {
  const wanted = wallMinutes(date, minuteOfDay);
  let guess = wanted * MINUTE;
  for (let i = 0; i < 3; i++) {
    const local = localTime(new Date(guess), timeZone);
    const off = wallMinutes(local.date, local.minuteOfDay) - wanted;
    if (off === 0) break;
    guess -= off * MINUTE;
  }
  return new Date(guess);
}

/**
 * When the policy next lets a wave open after `at`: null when it is open
 * now, or when it stays shut for a year (every day a blackout). Windows open
 * at their start, at a local midnight that ends a blackout date, or when a
 * change of clocks skips their start (always on a half hour), so those are
 * the only instants to try.
 */
export function nextOpening(policy: WindowPolicy, at: Date): Date | null {
  if (windowOpen(policy, at)) return null;
  const today = localTime(at, policy.timeZone).date;
  const days = Math.min(370, 8 + policy.blackoutDates.length);
  let best: Date | null = null;
  for (let d = 0; d <= days; d++) {
    const date = new Date(wallMinutes(today, d * 1440) * MINUTE).toISOString().slice(0, 10);
    const weekday = weekdays[new Date(`${date}T00:00:00Z`).getUTCDay()];
    const starts = [0];
    for (const w of policy.windows) {
      if (!w.days.includes(weekday)) continue;
      const [h, m] = w.start.split(":").map(Number);
      starts.push(h * 60 + m);
    }
    const dayStart = instantOf(date, 0, policy.timeZone).getTime();
    const halfHours = Array.from({ length: 50 }, (_, i) => new Date(dayStart + i * 30 * MINUTE));
    for (const candidate of [...starts.map((minute) => instantOf(date, minute, policy.timeZone)), ...halfHours]) {
      if (candidate > at && (!best || candidate < best) && windowOpen(policy, candidate)) best = candidate;
    }
    if (best) return best;
  }
  return best;
}
