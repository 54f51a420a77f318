/**
 * Five-field cron expressions (`minute hour day-of-month month day-of-week`), evaluated on the
 * wall clock of the configured zone. Our own small parser rather than a library, so that:
 * - every refusal names the field and says why (`hour field "25": 25 is out of range 0-23`);
 * - DST follows the same rules as the other schedules (next-time.ts): a match inside a
 *   spring-forward gap fires when the gap ends (cron `30 2 * * *` on the Madrid spring-forward
 *   morning runs at 03:00 CEST), and a wall time the clock shows twice fires once, the first time.
 *
 * Syntax (Vixie cron): `*`, numbers, ranges `a-b`, lists `a,b`, steps (a star, a range or a start,
 * then `/n`; `a/n` runs from a to the field's maximum); month names JAN-DEC and day names SUN-SAT (any case); day of
 * week 0-7 with 0 and 7 both Sunday; the macros @yearly @annually @monthly @weekly @daily @midnight
 * @hourly. As in Vixie cron, when both day-of-month and day-of-week are restricted (neither
 * starts with `*`) a day matches if EITHER matches; otherwise both must.
 * An expression that can never match (`0 0 30 2 *`) is refused.
 */
import { civilDate, dayNumber, weekdayOf } from './civil-days.js';
import { ScheduleSyntaxError } from './syntax-error.js';
import { epochToWallClock, firstInstantFrom } from './zoned-time.js';

interface CronSpec {
  /** Sorted, de-duplicated allowed values of each field. */
  readonly minutes: readonly number[];
  readonly hours: readonly number[];
  readonly daysOfMonth: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  /** 0 = Sunday ... 6 (7 is folded into 0). */
  readonly daysOfWeek: ReadonlySet<number>;
  /** Vixie's rule: both day fields restricted -> a day matches if either matches. */
  readonly eitherDay: boolean;
}

interface FieldDef {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  /** The value `names[0]` stands for. */
  readonly namesFrom?: number;
}

const FIELDS: readonly FieldDef[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
    namesFrom: 1,
  },
  {
    name: 'day-of-week',
    min: 0,
    max: 7,
    names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'],
    namesFrom: 0,
  },
];

const MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const SHAPE = 'minute hour day-of-month month day-of-week, e.g. "0 3 * * 1-5"';

function value(def: FieldDef, field: string, text: string): number {
  const upper = text.toUpperCase();
  const named = def.names?.indexOf(upper) ?? -1;
  if (named >= 0) return named + (def.namesFrom ?? 0);
  if (!/^\d+$/.test(text)) {
    const names = def.names ? ` or a name (${def.names[0]}-${def.names[def.names.length - 1]})` : '';
    throw new ScheduleSyntaxError(`${def.name} field "${field}": "${text}" is not a number${names}`);
  }
  const n = Number(text);
  if (n < def.min || n > def.max) {
    throw new ScheduleSyntaxError(
      `${def.name} field "${field}": ${text} is out of range ${def.min}-${def.max}`,
    );
  }
  return n;
}

function parseField(def: FieldDef, field: string): Set<number> {
  const out = new Set<number>();
  if (field === '') throw new ScheduleSyntaxError(`${def.name} field is empty`);
  for (const part of field.split(',')) {
    if (part === '') throw new ScheduleSyntaxError(`${def.name} field "${field}": an empty item in the list`);
    const [range = '', stepText, extra] = part.split('/');
    if (extra !== undefined)
      throw new ScheduleSyntaxError(`${def.name} field "${field}": more than one "/" in "${part}"`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1) {
        throw new ScheduleSyntaxError(
          `${def.name} field "${field}": the step "${stepText}" has to be a whole number of 1 or more`,
        );
      }
      step = Number(stepText);
    }
    let from: number;
    let to: number;
    if (range === '*') {
      from = def.min;
      to = def.name === 'day-of-week' ? 6 : def.max;
    } else {
      const dash = range.indexOf('-');
      if (dash >= 0) {
        from = value(def, field, range.slice(0, dash));
        to = value(def, field, range.slice(dash + 1));
        if (from > to) {
          throw new ScheduleSyntaxError(
            `${def.name} field "${field}": the range ${range} starts after it ends; write it in increasing order`,
          );
        }
      } else {
        from = value(def, field, range);
        // `a/n` runs from a to the field's maximum, as in Vixie cron; a plain `a` is just a.
        to = stepText === undefined ? from : def.max;
      }
    }
    for (let v = from; v <= to; v += step) out.add(def.name === 'day-of-week' && v === 7 ? 0 : v);
  }
  return out;
}

/** True when some month of the set has some day of the set (Feb counted with 29 days). */
function someDayExists(days: ReadonlySet<number>, months: ReadonlySet<number>): boolean {
  const longest = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
  return [...months].some((m) => [...days].some((d) => d <= (longest[m] as number)));
}

/** Reads a cron expression; throws ScheduleSyntaxError naming the field that is wrong and why. */
export function parseCron(text: string): CronSpec {
  const trimmed = text.trim();
  const macro = MACROS[trimmed.toLowerCase()];
  if (trimmed.startsWith('@') && macro === undefined) {
    throw new ScheduleSyntaxError(
      `unknown macro ${trimmed}; use ${Object.keys(MACROS).join(', ')} or 5 fields`,
    );
  }
  const fields = (macro ?? trimmed).split(/\s+/).filter((f) => f !== '');
  if (fields.length !== 5) {
    throw new ScheduleSyntaxError(
      `${fields.length} field${fields.length === 1 ? '' : 's'} where cron needs 5: ${SHAPE}`,
    );
  }
  const sets = FIELDS.map((def, i) => parseField(def, fields[i] as string));
  const [minutes, hours, daysOfMonth, months, daysOfWeek] = sets as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];
  const domRestricted = !(fields[2] as string).startsWith('*');
  const dowRestricted = !(fields[4] as string).startsWith('*');
  const eitherDay = domRestricted && dowRestricted;
  if (!eitherDay && !someDayExists(daysOfMonth, months)) {
    throw new ScheduleSyntaxError(
      `day-of-month field "${fields[2]}" never falls in month field "${fields[3]}": the expression never matches`,
    );
  }
  const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);
  return { minutes: sorted(minutes), hours: sorted(hours), daysOfMonth, months, daysOfWeek, eitherDay };
}

function dayMatches(spec: CronSpec, dayNo: number): boolean {
  const d = civilDate(dayNo);
  if (!spec.months.has(d.month)) return false;
  const dom = spec.daysOfMonth.has(d.day);
  const dow = spec.daysOfWeek.has(weekdayOf(dayNo));
  return spec.eitherDay ? dom || dow : dom && dow;
}

/** Far enough for Feb 29 across a non-leap century year (2096 -> 2104). */
const SEARCH_DAYS = 366 * 9;

/**
 * The first instant strictly after `after` at which the expression matches on the wall clock of
 * `timeZone`; undefined if none within nine years (only possible for an expression `parseCron`
 * would refuse). A match in a spring-forward gap gives the instant the gap ends (several matches
 * in the gap collapse into that one run); a wall time shown twice matches its first instant only.
 */
export function nextCronMatch(spec: CronSpec, after: number, timeZone: string): number | undefined {
  const now = epochToWallClock(after, timeZone);
  const first = dayNumber(now);
  for (let dayNo = first; dayNo < first + SEARCH_DAYS; dayNo++) {
    if (!dayMatches(spec, dayNo)) continue;
    const date = civilDate(dayNo);
    for (const hour of spec.hours) {
      // Earlier wall times of the first day read before `after` and cannot be after it.
      if (dayNo === first && hour < now.hour) continue;
      for (const minute of spec.minutes) {
        if (dayNo === first && hour === now.hour && minute < now.minute) continue;
        const at = firstInstantFrom({ ...date, hour, minute, second: 0 }, timeZone);
        if (at > after) return at;
      }
    }
  }
  return undefined;
}
