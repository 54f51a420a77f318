/** strftime-like formatting of epoch seconds in a time zone (the CLI's local zone by default). */
import { epochToWallClock, offsetString } from '../../core/schedule/zoned-time.js';

export function localTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

/** Supports %Y %y %m %d %e %H %M %S %a %b %z %%. */
export function strftime(epochS: number, pattern: string, timeZone: string = localTimeZone()): string {
  const w = epochToWallClock(epochS, timeZone);
  return pattern.replace(/%([YymdeHMSabz%])/g, (_, c: string) => {
    switch (c) {
      case 'Y':
        return String(w.year);
      case 'y':
        return two(w.year % 100);
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
        return DAYS[new Date(Date.UTC(w.year, w.month - 1, w.day)).getUTCDay()] as string;
      case 'b':
        return MONTHS[w.month - 1] as string;
      case 'z':
        return offsetString(epochS, timeZone);
      default:
        return '%';
    }
  });
}
