/**
 * When a scheduled action fires, and what is stored after it fires (SPEC.md 5.3, decision 6).
 * Pure: `now` and the time zone are parameters; nothing here reads the clock.
 *
 * Stored semantics (one row per schedule; each run updates it in ONE transaction, the same that
 * triggers the job, so a crash before the commit leaves the run not done and it fires again on
 * restart, and a crash after it leaves it done and the next TIME stored):
 * - TIME: the next due instant (epoch seconds). It never moves backwards.
 * - DONE: the instant of the last run, -1 for never. A schedule is pending while TIME > DONE;
 *   when it finishes TIME stays at (or is brought down to) a value <= DONE, so it never fires again.
 * - END_TYPE 1, END_VALUE: the runs LEFT, the one at TIME included. Each run takes one; at 0 the
 *   schedule is finished. So END_VALUE = 3 runs exactly 3 times (ONE runs END_VALUE + 1 times),
 *   and a restart in the middle resumes with the right count.
 * - END_TYPE 2, END_VALUE: the last instant a run may happen at. A run is never started after it,
 *   not even to catch up after downtime (ONE may run once past it).
 * - ANCHOR (new, optional): the instant whose wall-clock time of day (and date, for INTERVAL days
 *   and weeks) the repeats follow. TIME alone cannot carry it: on a spring-forward morning a
 *   02:30 run fires at 03:00 (the clock skips 02:00-03:00), and 03:00 would then stick. Set to TIME
 *   when the schedule is created or its TIME changes; absent or -1 reads as TIME.
 *
 * Next times (Product, where ONE differs):
 * - WEEKLY, MONTHLY, YEARLY and INTERVAL days/weeks step on the wall clock of the zone: a weekly
 *   03:30 Europe/Madrid stays 03:30 across DST (ONE adds 86400 s steps and moves to 04:30).
 *   A wall time the clock skips (spring-forward gap) fires at the first valid time after it,
 *   i.e. when the gap ends (02:30 -> 03:00); one the clock shows twice fires the first time.
 * - HOURLY N and INTERVAL minutes/hours step in absolute time from TIME: TIME + k * step.
 * - MONTHLY day 31 (or 29, 30) in a shorter month runs on that month's last day; DAYS is kept,
 *   so March goes back to the 31st (ONE drifts: 31 Jan -> 3 Mar -> 31 Mar -> 1 May).
 * - YEARLY days are C `tm_yday` (0 = 1 January), so day 59 is 29 Feb in leap years and 1 Mar
 *   otherwise; day 365 exists only in leap years, and in other years runs on 31 Dec (day 364).
 * - Runs missed while the daemon was down are caught up by ONE run: the due schedule fires once,
 *   and the next TIME is the first occurrence strictly after now (ONE steps from the old TIME and
 *   fires again on every tick until it catches up).
 * - The first run is at TIME whatever DAYS says (as ONE): DAYS only shapes the next times.
 * - CRON: TIME is already a match (the validator puts it there); the next is the first match
 *   strictly after now.
 */
import { civilDate, dayNumber, isLeapYear, monthLength, weekdayOf } from './civil-days.js';
import { nextCronMatch, parseCron } from './cron.js';
import { type Interval, intervalSeconds, isWallClockInterval, parseInterval } from './interval.js';
import {
  daySet,
  END_DATE,
  END_TIMES,
  REPEAT_HOURLY,
  REPEAT_MONTHLY,
  REPEAT_NONE,
  REPEAT_WEEKLY,
  REPEAT_YEARLY,
  type SchedActionFields,
} from './sched-action-fields.js';
import { epochToWallClock, firstInstantFrom } from './zoned-time.js';

/** What to store after a successful run. */
interface RunOutcome {
  /** TIME = the next due time (unchanged when finished), END_VALUE = runs left, ANCHOR kept. */
  readonly fields: SchedActionFields;
  /** DONE: the run's instant, `now`. */
  readonly done: number;
  /** True when no run is left; from now on `isDue` is false and `isFinished` true. */
  readonly finished: boolean;
}

/** The instant whose wall clock the repeats follow (see the header): ANCHOR, else TIME. */
export function anchorOf(fields: SchedActionFields): number {
  return fields.anchor !== undefined && fields.anchor >= 0 ? fields.anchor : fields.time;
}

/**
 * Due: TIME has come (TIME <= now), it has not run for this TIME (TIME > DONE), and the end is not
 * reached (runs left for END_TYPE 1; now <= END_VALUE for END_TYPE 2, so a late run never
 * happens past the end date).
 */
export function isDue(fields: SchedActionFields, done: number, now: number): boolean {
  if (fields.time > now || fields.time <= done) return false;
  if (fields.endType === END_TIMES && fields.endValue <= 0) return false;
  if (fields.endType === END_DATE && now > fields.endValue) return false;
  return true;
}

/**
 * Finished: it will never fire again. It already ran for its last TIME, it has no runs left, or
 * the end date is past (or before its next TIME). `show` should print `Done on <DONE>` for these
 * rather than `Overdue!`.
 */
export function isFinished(fields: SchedActionFields, done: number, now: number): boolean {
  if (fields.time <= done) return true;
  if (fields.endType === END_TIMES && fields.endValue <= 0) return true;
  if (fields.endType === END_DATE && Math.max(now, fields.time) > fields.endValue) return true;
  return false;
}

/**
 * The fields to store after a successful run at `now` (call it once per run, in the transaction
 * that triggers the job). The next TIME is the first occurrence strictly after both `now` and the
 * current TIME, so missed runs collapse into the one that just happened.
 */
export function afterRun(fields: SchedActionFields, now: number, timeZone: string): RunOutcome {
  const anchor = anchorOf(fields);
  const finish = (endValue: number): RunOutcome => ({
    fields: { ...fields, time: Math.min(fields.time, now), endValue, anchor },
    done: now,
    finished: true,
  });
  const left = fields.endType === END_TIMES ? fields.endValue - 1 : fields.endValue;
  if (fields.endType === END_TIMES && left <= 0) return finish(0);
  const next = nextTime(fields, Math.max(now, fields.time), timeZone);
  if (next === undefined) return finish(left);
  if (fields.endType === END_DATE && next > fields.endValue) return finish(left);
  // The warning mark keeps its lead on TIME.
  const warning = fields.warning > 0 ? Math.max(0, next - (fields.time - fields.warning)) : fields.warning;
  return { fields: { ...fields, time: next, endValue: left, anchor, warning }, done: now, finished: false };
}

/**
 * The first occurrence of the schedule strictly after `after`, following its anchor (see the
 * header); undefined for a one-shot schedule.
 */
function nextTime(fields: SchedActionFields, after: number, timeZone: string): number | undefined {
  if (fields.cron !== undefined && fields.cron !== '') {
    return nextCronMatch(parseCron(fields.cron), after, timeZone);
  }
  if (fields.interval !== undefined && fields.interval !== '') {
    return nextInterval(parseInterval(fields.interval), fields, after, timeZone);
  }
  switch (fields.repeat) {
    case REPEAT_NONE:
      return undefined;
    case REPEAT_HOURLY:
      return nextAbsolute(fields.time, (daySet(fields.days)[0] as number) * 3600, after);
    case REPEAT_WEEKLY:
    case REPEAT_MONTHLY:
    case REPEAT_YEARLY:
      return nextOnDays(fields.repeat, daySet(fields.days), anchorOf(fields), after, timeZone);
  }
}

/** from + k * step, the first strictly after `after` (k >= 1). */
function nextAbsolute(from: number, step: number, after: number): number {
  const k = Math.max(1, Math.floor((after - from) / step) + 1);
  return from + k * step;
}

/** Seconds after midnight of an instant's wall clock. */
function timeOfDay(epoch: number, timeZone: string): { hour: number; minute: number; second: number } {
  const w = epochToWallClock(epoch, timeZone);
  return { hour: w.hour, minute: w.minute, second: w.second };
}

function nextInterval(
  interval: Interval,
  fields: SchedActionFields,
  after: number,
  timeZone: string,
): number {
  if (!isWallClockInterval(interval)) return nextAbsolute(fields.time, intervalSeconds(interval), after);
  const anchor = anchorOf(fields);
  const start = dayNumber(epochToWallClock(anchor, timeZone));
  const tod = timeOfDay(anchor, timeZone);
  const stepDays = interval.count * (interval.unit === 'weeks' ? 7 : 1);
  const afterDay = dayNumber(epochToWallClock(after, timeZone));
  // Start one step before `after`'s date: a wall time on that date may still be ahead of it.
  let k = Math.max(1, Math.floor((afterDay - start) / stepDays));
  for (;;) {
    const at = firstInstantFrom({ ...civilDate(start + k * stepDays), ...tod }, timeZone);
    if (at > after) return at;
    k++;
  }
}

/** The listed days of one month (clamped to its length) or one year (365 -> the last day). */
function daysOfPeriod(repeat: 1 | 2, days: readonly number[], year: number, month: number): number[] {
  const last = repeat === REPEAT_MONTHLY ? monthLength(year, month) : isLeapYear(year) ? 365 : 364;
  return [...new Set(days.map((d) => Math.min(d, last)))].sort((a, b) => a - b);
}

function nextOnDays(
  repeat: 0 | 1 | 2,
  days: readonly number[],
  anchor: number,
  after: number,
  timeZone: string,
): number {
  const tod = timeOfDay(anchor, timeZone);
  const from = epochToWallClock(after, timeZone);
  const at = (dayNo: number) => firstInstantFrom({ ...civilDate(dayNo), ...tod }, timeZone);
  // Every candidate day is scanned from `after`'s date on; the first instant after `after` wins.
  // Bounds: 2 weeks, 2 years of months, 3 years: always past at least one listed day.
  if (repeat === REPEAT_WEEKLY) {
    const first = dayNumber(from);
    for (let dayNo = first; dayNo < first + 15; dayNo++) {
      if (!days.includes(weekdayOf(dayNo))) continue;
      const e = at(dayNo);
      if (e > after) return e;
    }
  } else if (repeat === REPEAT_MONTHLY) {
    for (let i = 0; i < 25; i++) {
      const year = from.year + Math.floor((from.month - 1 + i) / 12);
      const month = ((from.month - 1 + i) % 12) + 1;
      for (const day of daysOfPeriod(repeat, days, year, month)) {
        const e = at(dayNumber({ year, month, day }));
        if (e > after) return e;
      }
    }
  } else {
    for (let year = from.year; year < from.year + 3; year++) {
      const jan1 = dayNumber({ year, month: 1, day: 1 });
      for (const yday of daysOfPeriod(repeat, days, year, 1)) {
        const e = at(jan1 + yday);
        if (e > after) return e;
      }
    }
  }
  throw new Error(`no next time for REPEAT ${repeat} DAYS ${days.join(',')}: DAYS was not validated`);
}
