import { epochToWallClock } from './zoned-time.js';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** C ctime() in a time zone, without the newline: `Thu Jan  1 00:00:15 2026`. */
export function ctimeIn(epochS: number, timeZone: string): string {
  const w = epochToWallClock(epochS, timeZone);
  const weekday = DAYS[new Date(Date.UTC(w.year, w.month - 1, w.day)).getUTCDay()];
  const two = (n: number) => String(n).padStart(2, '0');
  return `${weekday} ${MONTHS[w.month - 1]} ${String(w.day).padStart(2)} ${two(w.hour)}:${two(w.minute)}:${two(w.second)} ${w.year}`;
}
