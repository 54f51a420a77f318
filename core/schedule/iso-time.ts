/**
 * Dates written by people in schedules: ISO 8601 dates and date-times, with or without an offset.
 * Shared by the CLI (--schedule, --end) and the daemon (SCHED_ACTION START and END), so both read
 * "2026-12-01T02:00" the same way: without an offset it is the wall clock of the given zone (a time
 * the clock skips moves forward by the gap, one it shows twice is the first), with one it is exact.
 */
import { daysInMonth, type WallClock, wallClockToEpoch } from './zoned-time.js';

/** 9999-12-31T23:59:59Z: past this an epoch cannot be shown as a date. */
export const MAX_EPOCH = 253402300799;

/** A date and time of day as written, before any zone is applied. */
type DateFields = WallClock;

// 2026-12-01 | 2026-12-01T02:00 | 2026-12-01 02:00:00.5 | ...T02:00Z | ... 02:00:00 +01:00 / +0100 / +01
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?: ?([Zz]|[+-]\d{2}(?::?\d{2})?))?)?$/;

function exists(f: DateFields): boolean {
  return (
    f.month >= 1 &&
    f.month <= 12 &&
    f.day >= 1 &&
    f.day <= daysInMonth(f.year, f.month) &&
    f.hour <= 23 &&
    f.minute <= 59 &&
    f.second <= 59
  );
}

/** Seconds east of UTC from `Z`, `+01`, `+0100`, `-05:00`; undefined when out of range. */
function zoneOffset(text: string): number | undefined {
  if (text === 'Z' || text === 'z') return 0;
  const digits = text.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2) || '0');
  if (hours > 23 || minutes > 59) return undefined;
  return (text.startsWith('-') ? -1 : 1) * (hours * 3600 + minutes * 60);
}

/**
 * A date as the wall clock of `timeZone`, or at the given offset; null when there is no such date
 * or time or it lies outside 1970-9999.
 */
export function fieldsToEpoch(f: DateFields, offset: string | undefined, timeZone: string): number | null {
  if (!exists(f)) return null;
  let epoch: number;
  if (offset === undefined) epoch = wallClockToEpoch(f, timeZone);
  else {
    const seconds = zoneOffset(offset);
    if (seconds === undefined) return null;
    epoch = wallClockToEpoch(f, 'UTC') - seconds;
  }
  return epoch >= 0 && epoch <= MAX_EPOCH ? epoch : null;
}

/**
 * An ISO 8601 date or date-time: the epoch, null when it has the form but names no real date or
 * time, undefined when it is not that form at all. A missing time is midnight.
 */
export function isoTime(text: string, timeZone: string): number | null | undefined {
  const m = ISO.exec(text);
  if (!m) return undefined;
  const n = (i: number) => Number(m[i] ?? '0');
  return fieldsToEpoch(
    { year: n(1), month: n(2), day: n(3), hour: n(4), minute: n(5), second: n(6) },
    m[7],
    timeZone,
  );
}

/** The forms `readDate` accepts, for messages. */
export const DATE_FORMS =
  'an ISO date (2026-12-01, 2026-12-01T02:00, optionally with Z or +01:00) or epoch seconds';

/** Epoch seconds or an ISO date (see `isoTime`); undefined when it is neither. */
export function readDate(text: string, timeZone: string): number | undefined {
  const s = text.trim();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    return n <= MAX_EPOCH ? n : undefined;
  }
  return isoTime(s, timeZone) ?? undefined;
}
