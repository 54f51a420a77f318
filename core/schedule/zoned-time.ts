/**
 * Wall clock <-> epoch seconds in an IANA time zone, with Intl only (no tz database of our own).
 *
 * Schedules are kept on the wall clock of the configured zone (SPEC.md decision 6: DST keeps
 * 03:30 at 03:30), so the scheduler goes epoch -> wall clock, does calendar arithmetic on the
 * fields, and comes back with `wallClockToEpoch`. Two wall times need a rule:
 * - one that does not exist (spring-forward gap) moves forward by the gap: 02:30 on the morning
 *   Europe/Madrid jumps from 02:00 to 03:00 becomes 03:30 CEST;
 * - one that exists twice (fall-back overlap) takes the earlier instant, i.e. the offset in force
 *   before the change: 01:30 on the morning America/New_York falls back is 01:30 EDT (-0400).
 * Epochs are whole seconds; the supported range is what `Date` holds (years 1970-9999 in practice).
 */
export interface WallClock {
  readonly year: number;
  /** 1-12 */
  readonly month: number;
  /** 1-31 */
  readonly day: number;
  /** 0-23 */
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    // Throws RangeError for an unknown zone, before anything is cached.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True when Intl knows the zone (`UTC`, `Europe/Madrid`, ...). */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

export function epochToWallClock(epochS: number, timeZone: string): WallClock {
  const w = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const part of formatter(timeZone).formatToParts(new Date(Math.floor(epochS) * 1000))) {
    if (part.type in w) w[part.type as keyof typeof w] = Number(part.value);
  }
  return w;
}

/** The wall clock read as if it were UTC, in epoch seconds (no zone involved). */
function asUtc(w: WallClock): number {
  // Not Date.UTC, which reads years 0-99 as 1900-1999. Out-of-range fields carry over.
  const d = new Date(0);
  d.setUTCFullYear(w.year, w.month - 1, w.day);
  d.setUTCHours(w.hour, w.minute, w.second, 0);
  return Math.floor(d.getTime() / 1000);
}

/**
 * Carries out-of-range fields over like `Date.UTC` does (day 32 of January is 1 February,
 * hour 24 is 00:00 the next day), so callers can add days or months to a field and normalise.
 */
export function normalizeWallClock(w: WallClock): WallClock {
  return epochToWallClock(asUtc(w), 'UTC');
}

/** Seconds east of UTC in force at that instant (Madrid in summer: 7200). */
export function offsetSeconds(epochS: number, timeZone: string): number {
  const e = Math.floor(epochS);
  return asUtc(epochToWallClock(e, timeZone)) - e;
}

/** strftime `%z`: `+0100`, `-0500`, `+0000`. */
export function offsetString(epochS: number, timeZone: string): string {
  const minutes = Math.trunc(offsetSeconds(epochS, timeZone) / 60);
  const abs = Math.abs(minutes);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${minutes < 0 ? '-' : '+'}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
}

/**
 * The instant the wall clock of `timeZone` shows `w` (normalised first, see `normalizeWallClock`).
 * A gap moves forward by its length; an overlap takes the earlier instant.
 */
export function wallClockToEpoch(w: WallClock, timeZone: string): number {
  const local = asUtc(w);
  // The offsets in force around that wall time; a transition near it shows up as two of them.
  const offsets = [
    ...new Set([
      offsetSeconds(local - 86400, timeZone),
      offsetSeconds(local, timeZone),
      offsetSeconds(local + 86400, timeZone),
    ]),
  ];
  const exact = offsets
    .map((o) => local - o)
    .filter((e) => e + offsetSeconds(e, timeZone) === local)
    .sort((a, b) => a - b);
  if (exact[0] !== undefined) return exact[0];
  // In a gap the clock went forward, so the smaller offset is the one before it; applying it
  // lands past the change, shifted forward by exactly the gap.
  return local - Math.min(...offsets);
}

/** 0 = Sunday ... 6 = Saturday (C `tm_wday`). */
export function weekday(w: Pick<WallClock, 'year' | 'month' | 'day'>): number {
  return new Date(asUtc({ ...w, hour: 0, minute: 0, second: 0 }) * 1000).getUTCDay();
}

/** 0 = 1 January (C `tm_yday`, the YEARLY DAYS numbering). */
export function dayOfYear(w: Pick<WallClock, 'year' | 'month' | 'day'>): number {
  const start = asUtc({ year: w.year, month: 1, day: 1, hour: 0, minute: 0, second: 0 });
  return (asUtc({ ...w, hour: 0, minute: 0, second: 0 }) - start) / 86400;
}

/** Days in a month (1-12) of a year, leap Februaries counted. */
export function daysInMonth(year: number, month: number): number {
  return epochToWallClock(asUtc({ year, month: month + 1, day: 0, hour: 0, minute: 0, second: 0 }), 'UTC')
    .day;
}

/**
 * The first instant whose wall clock in `timeZone` reads `w` or later. That is `w` itself when it
 * exists (the earlier instant when it exists twice), and the instant the clock jumps when `w`
 * falls in a spring-forward gap: 02:30 on the morning Europe/Madrid jumps from 02:00 to 03:00
 * gives 03:00 CEST. Schedules use this rather than `wallClockToEpoch` (which moves a gap time
 * forward by the gap, 02:30 -> 03:30), so a run set inside the gap happens as soon as the gap is
 * over and never lands after a run set for 03:00-03:29 that day.
 */
export function firstInstantFrom(w: WallClock, timeZone: string): number {
  const local = asUtc(w);
  const shifted = wallClockToEpoch(w, timeZone);
  const reads = (e: number) => e + offsetSeconds(e, timeZone);
  if (reads(shifted) === local) return shifted;
  // In a gap: before the jump the clock reads less than `local`, from the jump on at least
  // `local`. Search the smallest instant that reads `local` or later (the jump).
  const before = Math.max(offsetSeconds(local - 86400, timeZone), offsetSeconds(local + 86400, timeZone));
  let lo = local - before; // reads < local
  let hi = shifted; // reads >= local
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (reads(mid) >= local) hi = mid;
    else lo = mid;
  }
  return hi;
}
