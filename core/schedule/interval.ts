/**
 * Freezer's interval schedules: `INTERVAL = "6 hours"`. Minutes and hours are steps of absolute
 * time (a 6-hour backup stays 6 real hours apart across DST); days and weeks are steps of the wall
 * clock of the configured zone (a daily 03:30 stays at 03:30), see next-time.ts.
 */
import { ScheduleSyntaxError } from './syntax-error.js';

type IntervalUnit = 'minutes' | 'hours' | 'days' | 'weeks';

export interface Interval {
  readonly count: number;
  readonly unit: IntervalUnit;
}

const UNIT_SECONDS: Record<IntervalUnit, number> = { minutes: 60, hours: 3600, days: 86400, weeks: 604800 };

/** Longest accepted step: 100 years of days. */
const MAX_STEP_SECONDS = 36500 * 86400;

const FORM = 'write "N minutes", "N hours", "N days" or "N weeks" (e.g. "6 hours")';

/** Reads `INTERVAL`; throws ScheduleSyntaxError saying what is wrong. Units may be singular. */
export function parseInterval(text: string): Interval {
  const s = text.trim();
  const m = /^(\S+)\s+(\S+)$/.exec(s);
  if (!m) throw new ScheduleSyntaxError(`INTERVAL="${text}": ${FORM}`);
  const [, countText = '', unitText = ''] = m;
  const unitName = unitText.toLowerCase();
  const unit = (['minutes', 'hours', 'days', 'weeks'] as const).find(
    (u) => u === unitName || u.slice(0, -1) === unitName,
  );
  if (!/^\d+$/.test(countText) || Number(countText) < 1) {
    throw new ScheduleSyntaxError(
      `INTERVAL="${text}": the count "${countText}" has to be a whole number of 1 or more`,
    );
  }
  if (unit === undefined) {
    throw new ScheduleSyntaxError(
      `INTERVAL="${text}": unknown unit "${unitText}"; use minutes, hours, days or weeks (singular too)`,
    );
  }
  const count = Number(countText);
  if (count * UNIT_SECONDS[unit] > MAX_STEP_SECONDS) {
    throw new ScheduleSyntaxError(`INTERVAL="${text}": the step is longer than 100 years`);
  }
  return { count, unit };
}

/** The step in seconds (days and weeks: as if every day had 86400 s; next-time.ts uses the wall clock). */
export function intervalSeconds(i: Interval): number {
  return i.count * UNIT_SECONDS[i.unit];
}

/** Minutes and hours step in absolute time; days and weeks on the wall clock. */
export function isWallClockInterval(i: Interval): boolean {
  return i.unit === 'days' || i.unit === 'weeks';
}

/** "6 hours", "1 day". */
export function intervalText(i: Interval): string {
  return `${i.count} ${i.count === 1 ? i.unit.slice(0, -1) : i.unit}`;
}
