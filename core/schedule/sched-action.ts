/**
 * SCHED_ACTION validation (SPEC.md 5.1-5.2, OpenNebula `ScheduledAction::parse`).
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
import type { Position, VectorAttribute } from '../template/types.js';
import { nextCronMatch, parseCron } from './cron.js';
import { parseInterval } from './interval.js';
import { DATE_FORMS, readDate } from './iso-time.js';
import { ScheduleSyntaxError } from './syntax-error.js';

export const REPEAT_NONE = -1;
export const REPEAT_WEEKLY = 0;
export const REPEAT_MONTHLY = 1;
export const REPEAT_YEARLY = 2;
export const REPEAT_HOURLY = 3;

// END_TYPE: -1 none, 0 never, 1 after END_VALUE runs, 2 at the END_VALUE epoch.
const END_NONE = -1;
export const END_TIMES = 1;
export const END_DATE = 2;

export type Repeat = -1 | 0 | 1 | 2 | 3;
type EndType = -1 | 0 | 1 | 2;

/** A validated schedule as stored (for a backup job ACTION is `backup` and ARGS empty). */
export interface SchedActionFields {
  /** First due time, epoch seconds. */
  readonly time: number;
  readonly repeat: Repeat;
  /** As given (e.g. "5,1,1"); checked on the sorted, de-duplicated set; "" when REPEAT is -1. */
  readonly days: string;
  readonly endType: EndType;
  /** Runs (END_TYPE 1) or an epoch (END_TYPE 2); -1 for END_TYPE -1 and 0. */
  readonly endValue: number;
  /** Epoch of the warning mark, 0 when none. */
  readonly warning: number;
  /**
   * Freezer interval, e.g. "6 hours"; "" (or absent: a store without the column) = none.
   * Optional only until the store keeps it; `parseSchedAction` always sets it.
   */
  readonly interval?: string | undefined;
  /** Five-field cron expression; "" (or absent) = none. */
  readonly cron?: string | undefined;
  /**
   * The instant whose wall-clock time of day the repeats follow (next-time.ts explains why TIME
   * alone is not enough); -1 or absent = TIME.
   */
  readonly anchor?: number | undefined;
}

/** What `parseSchedAction` returns: the stored fields plus ACTION and ARGS. */
export interface ParsedSchedAction extends SchedActionFields {
  /** Always `backup` for a backup job. */
  readonly action: string;
  /** Always "" for a backup job (ARGS is dropped). */
  readonly args: string;
  readonly interval: string;
  readonly cron: string;
  /** TIME as validated (a new schedule follows its own TIME). */
  readonly anchor: number;
}

export interface SchedActionOptions {
  /** Backup job schedules: absolute times only, ACTION forced to `backup`, ARGS dropped. */
  readonly forBackupJob: boolean;
  /** VM actions only: the epoch a relative `+N` TIME or WARNING counts from (ONE: the VM's start). */
  readonly origin?: number | undefined;
  /**
   * Epoch seconds. Needed by INTERVAL without START or TIME (it starts now) and CRON without TIME
   * (its first match after now); the daemon passes its clock's time.
   */
  readonly now?: number | undefined;
  /** The configured IANA zone: CRON is evaluated, and START/END dates without offset read, in it. */
  readonly timeZone?: string | undefined;
}

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
const KIND_KEYS = ['REPEAT', 'INTERVAL', 'CRON'] as const;
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

/** The sorted, de-duplicated day numbers of a DAYS value that passed validation. */
export function daySet(days: string): number[] {
  const pieces = days
    .split(',')
    .map((d) => d.trim())
    .filter((d) => d !== '');
  return [...new Set(pieces.map(Number))].sort((a, b) => a - b);
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

function validate(
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

function locator(vector: VectorAttribute): (key: string) => Position {
  return (key) => vector.positions.get(key) ?? { line: vector.line, column: vector.column };
}

/**
 * Validates a SCHED_ACTION vector. Throws a TemplateError with every problem found.
 * For a backup job ACTION is always `backup` (a given ACTION is ignored) and ARGS is dropped.
 */
export function parseSchedAction(vector: VectorAttribute, options: SchedActionOptions): ParsedSchedAction {
  return validate(vector.values, locator(vector), options);
}

/**
 * `schedupdate`: the sub-keys given replace the stored ones, the rest keep their values, and the
 * result is validated as a whole (ONE re-checks only what was given). Changing REPEAT to another
 * kind needs DAYS too, and changing END_TYPE to 1 or 2 needs END_VALUE too: the old value would
 * mean something else (weekly "1,4" read as monthly days; a run count read as a date).
 */
export function updateSchedAction(
  existing: SchedActionFields & { readonly action?: string; readonly args?: string },
  vector: VectorAttribute,
  options: SchedActionOptions = { forBackupJob: true },
): ParsedSchedAction {
  const given = (key: string) => {
    const v = vector.values.get(key)?.trim();
    return v === '' ? undefined : v;
  };
  // A new kind given (REPEAT other than -1, INTERVAL or CRON) replaces the old kind.
  const newKind = KIND_KEYS.find(
    (k) => given(k) !== undefined && !(k === 'REPEAT' && Number(given(k)) === -1),
  );
  const keep = (k: (typeof KIND_KEYS)[number]) => newKind === undefined || newKind === k;
  const merged = new Map<string, string>([
    ['TIME', String(existing.time)],
    ['REPEAT', String(keep('REPEAT') ? existing.repeat : REPEAT_NONE)],
    ['END_TYPE', String(existing.endType)],
  ]);
  if (existing.interval && keep('INTERVAL')) merged.set('INTERVAL', existing.interval);
  if (existing.cron && keep('CRON')) merged.set('CRON', existing.cron);
  // A changed CRON starts from its first match after now, not from the old expression's TIME;
  // START replaces TIME.
  if (
    (given('CRON') !== undefined && given('TIME') === undefined && options.now !== undefined) ||
    given('START') !== undefined
  ) {
    merged.delete('TIME');
  }
  if (given('END') !== undefined && given('END_TYPE') === undefined) merged.delete('END_TYPE');
  if (existing.warning !== 0) merged.set('WARNING', String(existing.warning));
  if (existing.action !== undefined) merged.set('ACTION', existing.action);
  if (existing.args !== undefined) merged.set('ARGS', existing.args);

  const missing = new Map<string, string>();
  const repeat = given('REPEAT');
  if (repeat === undefined || Number(repeat) === existing.repeat) {
    if (existing.repeat !== REPEAT_NONE) merged.set('DAYS', existing.days);
  } else missing.set('DAYS', `REPEAT changes from ${existing.repeat} to ${repeat}: give DAYS as well`);
  const endType = given('END_TYPE');
  if (endType === undefined || Number(endType) === existing.endType) {
    if (existing.endType === END_TIMES || existing.endType === END_DATE) {
      merged.set('END_VALUE', String(existing.endValue));
    }
  } else {
    missing.set(
      'END_VALUE',
      `END_TYPE changes from ${existing.endType} to ${endType}: give END_VALUE as well`,
    );
  }

  for (const [k, v] of vector.values) merged.set(k, v);
  const updated = validate(merged, locator(vector), options, missing);
  // The wall clock the repeats follow stays unless the start or the kind of repeat changed.
  const restarted = ['TIME', 'START', 'REPEAT', 'INTERVAL', 'CRON'].some((k) => given(k) !== undefined);
  const anchor =
    existing.anchor !== undefined && existing.anchor >= 0 && !restarted ? existing.anchor : updated.time;
  return { ...updated, anchor };
}
