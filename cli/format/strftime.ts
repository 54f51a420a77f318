/**
 * strftime for epoch seconds in an IANA time zone, for the few patterns the CLIs print
 * (OpenNebulaHelper.time_to_str and Ruby's Time#to_s). The wall clock comes from the core's
 * Intl-based zoned time, so the CLI and the scheduler agree on what a zone means.
 */
import { epochToWallClock, offsetString } from '../../core/schedule/zoned-time.js';

/** The zone the CLI formats in when the caller gives none: the process's (TZ, else the system's). */
export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;
const two = (n: number) => String(n).padStart(2, '0');

/**
 * Formats with %Y %y %m %d %e %H %M %S %a %b %z %%; any other `%x` is left as typed.
 * Fractions of a second are dropped (Ruby's Time.at(n).strftime with an integer n).
 */
export function strftime(epochS: number, pattern: string, timeZone: string): string {
  const epoch = Math.floor(epochS);
  const w = epochToWallClock(epoch, timeZone);
  return pattern.replace(/%([YymdeHMSabz%])/g, (_, c: string) => {
    switch (c) {
      case 'Y':
        return String(w.year);
      case 'y':
        return two(((w.year % 100) + 100) % 100);
      case 'm':
        return two(w.month);
      case 'd':
        return two(w.day);
      case 'e':
        return String(w.day).padStart(2, ' ');
      case 'H':
        return two(w.hour);
      case 'M':
        return two(w.minute);
      case 'S':
        return two(w.second);
      case 'a':
        return DAYS[new Date(Date.UTC(w.year, w.month - 1, w.day)).getUTCDay()] ?? '';
      case 'b':
        return MONTHS[w.month - 1] ?? '';
      case 'z':
        return offsetString(epoch, timeZone);
      default:
        return '%';
    }
  });
}

/** The patterns OpenNebula's CLI uses, by what they show. */
export const TIME_PATTERNS = {
  /** `list` LAST, image REGTIME: time_to_str(t, false, true, true). */
  dateTime: '%m/%d/%y %H:%M',
  /** `show` TIME: time_to_str(t). */
  dayTimeSeconds: '%m/%d %H:%M:%S',
  /** SCHEDULED, `Done on`: time_to_str(t, false). */
  dayTime: '%m/%d %H:%M',
  /** END `On ...`: time_to_str(t, false, false, true). */
  date: '%m/%d/%y',
  /** Ruby's Time#to_s, as in `backup scheduled at 2026-12-01 02:00:00 +0000`. */
  rubyTime: '%Y-%m-%d %H:%M:%S %z',
} as const;

/** OpenNebulaHelper.time_to_str: `-` for 0 (never), else the pattern. */
export function timeToStr(epochS: number, pattern: string, timeZone: string): string {
  return Math.trunc(epochS) === 0 ? '-' : strftime(epochS, pattern, timeZone);
}

/** Ruby's Time#to_s: `2026-12-01 02:00:00 +0000`. */
export function rubyTimeToS(epochS: number, timeZone: string): string {
  return strftime(epochS, TIME_PATTERNS.rubyTime, timeZone);
}

const divmod = (a: number, b: number): [number, number] => [Math.floor(a / b), ((a % b) + b) % b];

/** OpenNebulaHelper.period_to_str: `%3dd %02dh%02dm%02ds` (Ruby's flooring divmod). */
export function periodToStr(seconds: number): string {
  const [m, s] = divmod(Math.trunc(seconds), 60);
  const [h, min] = divmod(m, 60);
  const [d, hour] = divmod(h, 24);
  return `${String(d).padStart(3)}d ${two(hour)}h${two(min)}m${two(s)}s`;
}
