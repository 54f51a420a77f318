/**
 * SCHED_ACTION validation (SPEC.md 5.1-5.2, OpenNebula `ScheduledAction::parse`): sub-key values to
 * the stored fields, or a TemplateError with every problem.
 *
 * OpenNebula's messages are kept word for word where OpenNebula rejects the input too. The
 * Product rules add rejections where OpenNebula is lenient, each with its own sentence:
 * - REPEAT, END_TYPE, END_VALUE, WARNING that are not integers are refused (ONE ignores them or
 *   reads 0); a DAYS piece that is not an integer is refused (ONE skips it);
 * - END_TYPE 1 or 2 without END_VALUE is refused (ONE builds the message and forgets to return);
 * - relative `+N` times are refused for backup jobs with the reason, not only "unable to parse";
 * - the hourly message states the range that is really enforced: [1,167], one value.
 *
 * Freezer's schedule kinds are sub-keys too (Product):
 * - `INTERVAL = "N minutes|hours|days|weeks"` (singular too), with optional `START` (becomes TIME;
 *   default: now) and `END` (becomes END_TYPE 2, END_VALUE), each an ISO date or epoch seconds,
 *   an ISO date without an offset read in the configured zone;
 * - `CRON = "<minute hour day-of-month month day-of-week>"` (cron.ts); TIME (or START) is then
 *   optional and only the earliest start: the stored TIME is the first match at or after it, or
 *   the first match after now;
 * - REPEAT (other than -1), INTERVAL and CRON are mutually exclusive; START/END go with INTERVAL or
 *   CRON only, and not together with TIME or END_TYPE.
 * Every problem of the vector is reported at once, each at its sub-key's line and column with the
 * attribute `SCHED_ACTION/<KEY>`. Unknown sub-keys (and the system ones: ID, DONE, ...) are
 * ignored, as OpenNebula does. DAYS is kept as given ("5,1,1") and checked as the sorted,
 * de-duplicated set; with REPEAT -1 it is stored empty, as OpenNebula does.
 */
import { TemplateError, type TemplateProblem } from '../errors.js';
import type { Position } from '../template/types.js';
import { nextCronMatch, parseCron } from './cron.js';
import { parseInterval } from './interval.js';
import { DATE_FORMS, readDate } from './iso-time.js';
import {
  daySet,
  END_DATE,
  END_NONE,
  END_TIMES,
  type EndType,
  KIND_KEYS,
  type ParsedSchedAction,
  REPEAT_HOURLY,
  REPEAT_NONE,
  type Repeat,
  type SchedActionOptions,
} from './sched-action-fields.js';
import { ScheduleSyntaxError } from './syntax-error.js';

/** The VM actions OpenNebula schedules (`ScheduledAction::VM_ACTIONS`). */
const VM_ACTIONS: readonly string[] = [
  'terminate',
  'terminate-hard',
  'undeploy',
  'undeploy-hard',
  'hold',
  'release',
  'stop',
  'suspend',
  'resume',
  'reboot',
  'reboot-hard',
  'poweroff',
  'poweroff-hard',
  'snapshot-create',
  'snapshot-revert',
  'snapshot-delete',
  'disk-snapshot-create',
  'disk-snapshot-revert',
  'disk-snapshot-delete',
  'backup',
];

/** 9999-12-31T23:59:59Z: past this an epoch cannot be shown as a date. */
const MAX_EPOCH = 253402300799;
const INTEGER = /^[+-]?\d+$/;
const UNSIGNED = /^\d+$/;

function integer(text: string, pattern: RegExp = INTEGER): number | undefined {
  if (!pattern.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

function epoch(text: string): number | undefined {
  const n = integer(text, UNSIGNED);
  return n !== undefined && n <= MAX_EPOCH ? n : undefined;
}

const DAY_RANGES: Record<0 | 1 | 2, { min: number; max: number; message: string }> = {
  0: { min: 0, max: 6, message: 'Days in a week have to be in [0,6] range' },
  1: { min: 1, max: 31, message: 'Days in a month have to be in [1,31] range' },
  2: { min: 0, max: 365, message: 'Days in a year have to be in [0,365] range' },
};

/**
 * What is wrong with DAYS for a repeating schedule, or undefined. Empty pieces ("1,4,") are
 * skipped, as OpenNebula does; anything else that is not an integer is refused.
 */
function daysProblem(repeat: Exclude<Repeat, -1>, days: string): string | undefined {
  const pieces = days
    .split(',')
    .map((d) => d.trim())
    .filter((d) => d !== '');
  const bad = pieces.filter((d) => integer(d) === undefined);
  if (bad.length > 0) {
    return `DAYS="${days}": ${bad.join(', ')} ${bad.length === 1 ? 'is not a whole number' : 'are not whole numbers'}; give numbers separated by commas, e.g. "1,4"`;
  }
  if (pieces.length === 0) return 'Scheduled Action repeat set, but DAYS are empty';
  const set = daySet(days);
  const min = set[0] as number;
  const max = set[set.length - 1] as number;
  if (repeat === REPEAT_HOURLY) {
    if (set.length > 1) {
      return `Hourly repeat takes one value, the period in hours in [1,167] range, not a list: ${days}`;
    }
    return min < 1 || min > 167 ? 'Hours have to be in [1,167] range' : undefined;
  }
  const range = DAY_RANGES[repeat];
  return min < range.min || max > range.max ? range.message : undefined;
}

const ABSOLUTE_ONLY = 'backup jobs need an absolute time in epoch seconds, not +N';

export function validateSchedAction(
  values: ReadonlyMap<string, string>,
  where: (key: string) => Position,
  options: SchedActionOptions,
  /** Messages for DAYS or END_VALUE missing, when the caller knows better (schedupdate). */
  missing: ReadonlyMap<string, string> = new Map(),
): ParsedSchedAction {
  const problems: TemplateProblem[] = [];
  /** Points at the sub-key, or when it is missing, at `needer` (the sub-key that needs it). */
  const fail = (key: string, message: string, needer?: string) => {
    const at = where(values.has(key) || needer === undefined ? key : needer);
    problems.push({ line: at.line, column: at.column, attribute: `SCHED_ACTION/${key}`, message });
  };
  /** A sub-key's trimmed value; undefined when absent. */
  const get = (key: string) => values.get(key)?.trim();
  /** Like `get`, but an empty value counts as absent (OpenNebula cannot read a number from it). */
  const getSet = (key: string) => {
    const v = get(key);
    return v === '' ? undefined : v;
  };
  const origin = options.origin ?? 0;

  let action = 'backup';
  let args = '';
  if (!options.forBackupJob) {
    const a = getSet('ACTION');
    if (a === undefined) fail('ACTION', 'No ACTION in template for Scheduled Action.');
    else if (!VM_ACTIONS.includes(a)) fail('ACTION', `${a} is not supported.`);
    else action = a;
    args = values.get('ARGS') ?? '';
  }

  /** TIME and WARNING: an epoch, or `+N` seconds after `origin` for VM actions. */
  const readTime = (text: string): number | 'relative' | undefined => {
    if (!text.startsWith('+')) return epoch(text);
    if (options.forBackupJob) return 'relative';
    const n = epoch(text.slice(1));
    return n === undefined || origin + n > MAX_EPOCH ? undefined : origin + n;
  };

  const intervalText = getSet('INTERVAL');
  const cronText = getSet('CRON');
  /** Freezer kinds: TIME may be left out (INTERVAL starts at START or now, CRON at its first match). */
  const freezer = intervalText !== undefined || cronText !== undefined;
  const timeText = get('TIME') ?? '';
  const timeGiven = !(freezer && timeText === '');
  const timeMessage = `Unable to parse the time value or value is empty: ${timeText}`;
  const parsedTime = timeGiven ? readTime(timeText) : undefined;
  let time = -1;
  let timeOk = true;
  if (parsedTime === 'relative') fail('TIME', `${timeMessage} (${ABSOLUTE_ONLY})`);
  else if (parsedTime === undefined && timeGiven) fail('TIME', timeMessage);
  else if (parsedTime !== undefined) time = parsedTime;
  if (time < 0 && timeGiven) timeOk = false;

  let warning = 0;
  const warningText = getSet('WARNING');
  if (warningText !== undefined) {
    const parsed = readTime(warningText);
    const message = `Unable to parse the warning value: ${warningText}`;
    if (parsed === 'relative') fail('WARNING', `${message} (${ABSOLUTE_ONLY})`);
    else if (parsed === undefined) fail('WARNING', message);
    else warning = parsed;
  }

  let repeat: Repeat = REPEAT_NONE;
  let repeatOk = true;
  const repeatText = getSet('REPEAT');
  if (repeatText !== undefined) {
    const n = integer(repeatText);
    if (n === undefined || n < REPEAT_NONE || n > REPEAT_HOURLY) {
      fail('REPEAT', `Wrong REPEAT value: ${repeatText}`);
      repeatOk = false;
    } else repeat = n as Repeat;
  }

  const zone = options.timeZone ?? 'UTC';
  const given = KIND_KEYS.filter((k) => (k === 'REPEAT' ? repeat !== REPEAT_NONE : getSet(k) !== undefined));
  for (const key of given.slice(1)) {
    fail(
      key,
      `INTERVAL, CRON and REPEAT are mutually exclusive: this schedule gives ${given.join(' and ')}; keep one`,
    );
  }
  /** The parsed value, or undefined with the reason reported at `key`. */
  const syntax = <T>(key: string, read: () => T): T | undefined => {
    try {
      return read();
    } catch (err) {
      if (!(err instanceof ScheduleSyntaxError)) throw err;
      fail(key, err.message);
      timeOk = false;
      return undefined;
    }
  };
  if (intervalText !== undefined) syntax('INTERVAL', () => parseInterval(intervalText));
  const cron = cronText === undefined ? undefined : syntax('CRON', () => parseCron(cronText));

  const startText = getSet('START');
  if (startText !== undefined) {
    const start = readDate(startText, zone);
    if (!freezer) fail('START', 'START goes with INTERVAL or CRON; a schedule with REPEAT starts at TIME');
    else if (timeGiven) fail('START', 'give TIME or START, not both: they are the same thing');
    else if (start === undefined) fail('START', `START="${startText}": give ${DATE_FORMS}`);
    else time = start;
    if (start === undefined || !freezer || timeGiven) timeOk = false;
  } else if (freezer && !timeGiven) {
    if (cron === undefined && intervalText === undefined) timeOk = false;
    else if (options.now === undefined) {
      throw new Error('SCHED_ACTION with INTERVAL or CRON and no TIME or START: options.now is needed');
    } else time = options.now;
  }
  if (cron !== undefined && timeOk) {
    // The earliest start given (TIME/START) counts as a possible match; now does not.
    const from = timeGiven || startText !== undefined ? time - 1 : time;
    const first = nextCronMatch(cron, from, zone);
    if (first === undefined) {
      fail('CRON', `CRON="${cronText}": no match in the nine years after the start`);
      timeOk = false;
    } else time = first;
  }

  const days = repeat === REPEAT_NONE ? '' : (values.get('DAYS') ?? '');
  if (repeatOk && repeat !== REPEAT_NONE) {
    const problem = values.has('DAYS')
      ? daysProblem(repeat, days)
      : (missing.get('DAYS') ?? 'Repeat set, but DAYS are empty');
    if (problem !== undefined) fail('DAYS', problem, 'REPEAT');
  }

  let endType: EndType = END_NONE;
  const endTypeText = getSet('END_TYPE');
  if (endTypeText !== undefined) {
    const n = integer(endTypeText);
    if (n === undefined || n < END_NONE || n > END_DATE)
      fail('END_TYPE', `Wrong END_TYPE value: ${endTypeText}`);
    else endType = n as EndType;
  }

  let endValue = -1;
  if (endType === END_TIMES || endType === END_DATE) {
    const text = getSet('END_VALUE');
    const parsed = text === undefined ? undefined : endType === END_TIMES ? integer(text) : epoch(text);
    if (text === undefined) {
      // ONE builds "END_TYPE set, but END_VALUE is empty" here, then accepts the schedule anyway.
      const need =
        endType === END_TIMES
          ? 'END_TYPE 1 needs END_VALUE: the number of runs'
          : 'END_TYPE 2 needs END_VALUE: the end date in epoch seconds';
      fail('END_VALUE', missing.get('END_VALUE') ?? need, 'END_TYPE');
    } else if (parsed === undefined || parsed < 0) {
      fail(
        'END_VALUE',
        endType === END_TIMES
          ? 'Error parsing END_VALUE, times has to be greater or equal to 0'
          : 'Error parsing END_VALUE, wrong format for date.',
      );
    } else endValue = parsed;
  }

  const endText = getSet('END');
  if (endText !== undefined) {
    const end = readDate(endText, zone);
    if (!freezer)
      fail('END', 'END goes with INTERVAL or CRON; a schedule with REPEAT ends with END_TYPE and END_VALUE');
    else if (endTypeText !== undefined) fail('END', 'give END or END_TYPE/END_VALUE, not both');
    else if (end === undefined) fail('END', `END="${endText}": give ${DATE_FORMS}`);
    else if (timeOk && end < time) {
      fail(
        'END',
        `END="${endText}" is before the first run at ${new Date(time * 1000).toISOString()}, so the schedule would never run`,
      );
    } else {
      endType = END_DATE;
      endValue = end;
    }
  }

  if (problems.length > 0) throw new TemplateError(problems);
  return {
    time,
    repeat,
    days,
    endType,
    endValue,
    warning,
    action,
    args,
    interval: intervalText ?? '',
    cron: cronText ?? '',
    anchor: time,
  };
}
