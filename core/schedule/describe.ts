/**
 * A short human text for a schedule ("weekly on Mon, Fri at 09:00, 3 runs left"), for `show`, logs
 * and the CLI's confirmation line. With a zone the time of day and the end date are shown on that
 * zone's wall clock; without one they are left out (the time) or shown in UTC (the end).
 */
import { anchorOf } from './next-time.js';
import { daySet, END_DATE, END_TIMES, type SchedActionFields } from './sched-action-fields.js';
import { epochToWallClock, offsetString } from './zoned-time.js';

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const two = (n: number) => String(n).padStart(2, '0');

function clock(epoch: number, timeZone: string): string {
  const w = epochToWallClock(epoch, timeZone);
  return `${two(w.hour)}:${two(w.minute)}${w.second === 0 ? '' : `:${two(w.second)}`}`;
}

function date(epoch: number, timeZone: string): string {
  const w = epochToWallClock(epoch, timeZone);
  return `${w.year}-${two(w.month)}-${two(w.day)} ${two(w.hour)}:${two(w.minute)} ${offsetString(epoch, timeZone)}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** What the schedule does, then its end, e.g. `every 6 hours, until 2027-01-31 00:00 +0100`. */
export function describeSchedule(fields: SchedActionFields, timeZone?: string): string {
  const at = timeZone === undefined ? '' : ` at ${clock(anchorOf(fields), timeZone)}`;
  const days = daySet(fields.days);
  let what: string;
  if (fields.cron) what = `cron "${fields.cron}"${timeZone === undefined ? '' : ` (${timeZone})`}`;
  else if (fields.interval) {
    const wall = /day|week/i.test(fields.interval);
    what = `every ${fields.interval}${wall ? at : ''}`;
  } else {
    switch (fields.repeat) {
      case 0:
        what = `weekly on ${days.map((d) => WEEKDAYS[d]).join(', ')}${at}`;
        break;
      case 1:
        what = `monthly on day${days.length === 1 ? '' : 's'} ${days.join(', ')}${at}${
          days.some((d) => d > 28) ? ' (the last day in shorter months)' : ''
        }`;
        break;
      case 2:
        what = `yearly on day${days.length === 1 ? '' : 's'} ${days.join(', ')} of the year (0 = 1 January)${at}`;
        break;
      case 3:
        what = `every ${plural(days[0] ?? 0, 'hour')}`;
        break;
      default:
        return timeZone === undefined ? 'once' : `once, at ${date(fields.time, timeZone)}`;
    }
  }
  if (fields.endType === END_TIMES) return `${what}, ${plural(fields.endValue, 'run')} left`;
  if (fields.endType === END_DATE) return `${what}, until ${date(fields.endValue, timeZone ?? 'UTC')}`;
  return what;
}
