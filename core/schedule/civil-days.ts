/**
 * Calendar dates as whole day numbers (days since 1970-01-01), for schedule arithmetic that must
 * not touch time zones: "7 days after", "the weekday of", "the 31st clamped to this month". The
 * zone only comes in when a date and a time of day become an instant (`firstInstantFrom`).
 */
interface CivilDate {
  readonly year: number;
  /** 1-12 */
  readonly month: number;
  /** 1-31 */
  readonly day: number;
}

const DAY_MS = 86400000;

/** Days since 1970-01-01 of a date; fields out of range carry over (day 0 = the last of the month before). */
export function dayNumber(d: CivilDate): number {
  const t = new Date(0);
  t.setUTCFullYear(d.year, d.month - 1, d.day);
  return Math.round(t.getTime() / DAY_MS);
}

export function civilDate(dayNo: number): CivilDate {
  const t = new Date(dayNo * DAY_MS);
  return { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
}

/** 0 = Sunday ... 6 = Saturday. 1970-01-01 was a Thursday. */
export function weekdayOf(dayNo: number): number {
  return (((dayNo + 4) % 7) + 7) % 7;
}

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

export function monthLength(year: number, month: number): number {
  return dayNumber({ year, month: month + 1, day: 1 }) - dayNumber({ year, month, day: 1 });
}
