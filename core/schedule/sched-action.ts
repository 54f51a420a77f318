/**
 * SCHED_ACTION validation (SPEC.md 5.1-5.2): OpenNebula's messages, with the Product rules:
 * relative TIME refused for backup jobs, non-integer REPEAT/END_TYPE/END_VALUE/DAYS refused
 * instead of ignored, END_TYPE 1/2 without END_VALUE refused, the hourly range stated truly.
 * All problems of one vector are reported at once.
 */
import { TemplateError, type TemplateProblem } from '../errors.js';
import type { Position, VectorAttribute } from '../template/types.js';

export const REPEAT_NONE = -1;
export const REPEAT_WEEKLY = 0;
export const REPEAT_MONTHLY = 1;
export const REPEAT_YEARLY = 2;
export const REPEAT_HOURLY = 3;

export type Repeat = -1 | 0 | 1 | 2 | 3;
export type EndType = -1 | 0 | 1 | 2;

export interface SchedActionFields {
  /** First due time, epoch seconds. */
  readonly time: number;
  readonly repeat: Repeat;
  /** As given (e.g. "5,1,1"); checked on the sorted, de-duplicated set. */
  readonly days: string;
  readonly endType: EndType;
  /** Runs (END_TYPE 1) or an epoch (END_TYPE 2); -1 when unused. */
  readonly endValue: number;
  /** Epoch of the warning mark, 0 when none. */
  readonly warning: number;
}

const INTEGER = /^[+-]?\d+$/;

/** The sorted, de-duplicated day numbers of DAYS. */
export function daySet(days: string): number[] {
  return [
    ...new Set(
      days
        .split(',')
        .filter((d) => d.trim() !== '')
        .map((d) => Number(d.trim())),
    ),
  ].sort((a, b) => a - b);
}

function check(
  values: ReadonlyMap<string, string>,
  where: (key: string) => Position,
  forBackupJob: boolean,
): SchedActionFields {
  const problems: TemplateProblem[] = [];
  const fail = (key: string, message: string) => {
    const at = where(key);
    problems.push({ line: at.line, column: at.column, attribute: `SCHED_ACTION/${key}`, message });
  };
  const get = (key: string) => values.get(key)?.trim();

  const timeText = get('TIME') ?? '';
  let time = -1;
  if (timeText.startsWith('+') && forBackupJob) {
    fail(
      'TIME',
      `Unable to parse the time value or value is empty: ${timeText} (backup jobs need an absolute time in epoch seconds)`,
    );
  } else if (!/^\+?\d+$/.test(timeText)) {
    fail('TIME', `Unable to parse the time value or value is empty: ${timeText}`);
  } else time = Number(timeText);

  let warning = 0;
  const warningText = get('WARNING');
  if (warningText !== undefined && warningText !== '') {
    if (!INTEGER.test(warningText)) fail('WARNING', `Unable to parse the warning value: ${warningText}`);
    else warning = Number(warningText);
  }

  let repeat: Repeat = -1;
  const repeatText = get('REPEAT');
  if (repeatText !== undefined && repeatText !== '') {
    const n = INTEGER.test(repeatText) ? Number(repeatText) : Number.NaN;
    if (!(n >= -1 && n <= 3))
      fail(
        'REPEAT',
        `Wrong REPEAT value: ${repeatText} (use -1 none, 0 weekly, 1 monthly, 2 yearly, 3 hourly)`,
      );
    else repeat = n as Repeat;
  }

  const days = get('DAYS') ?? '';
  if (repeat !== -1) {
    const pieces = days
      .split(',')
      .map((d) => d.trim())
      .filter((d) => d !== '');
    if (days === '') fail('DAYS', 'Repeat set, but DAYS are empty');
    else if (pieces.some((d) => !/^\d+$/.test(d))) {
      fail('DAYS', `DAYS="${days}" must be a comma-separated list of whole numbers`);
    } else if (pieces.length === 0) fail('DAYS', 'Scheduled Action repeat set, but DAYS are empty');
    else {
      const set = daySet(days);
      const min = set[0] as number;
      const max = set.at(-1) as number;
      if (repeat === REPEAT_WEEKLY && max > 6) fail('DAYS', 'Days in a week have to be in [0,6] range');
      if (repeat === REPEAT_MONTHLY && (min < 1 || max > 31))
        fail('DAYS', 'Days in a month have to be in [1,31] range');
      if (repeat === REPEAT_YEARLY && max > 365) fail('DAYS', 'Days in a year have to be in [0,365] range');
      if (repeat === REPEAT_HOURLY && (set.length !== 1 || min < 1 || max > 167)) {
        fail(
          'DAYS',
          'Hours have to be in [1,167] range (hourly takes exactly one value: the period in hours)',
        );
      }
    }
  }

  let endType: EndType = -1;
  const endTypeText = get('END_TYPE');
  if (endTypeText !== undefined && endTypeText !== '') {
    const n = INTEGER.test(endTypeText) ? Number(endTypeText) : Number.NaN;
    if (!(n >= -1 && n <= 2))
      fail(
        'END_TYPE',
        `Wrong END_TYPE value: ${endTypeText} (use -1 none, 0 never, 1 after N times, 2 on a date)`,
      );
    else endType = n as EndType;
  }

  let endValue = -1;
  const endValueText = get('END_VALUE');
  if (endType === 1 || endType === 2) {
    if (endValueText === undefined || endValueText === '') {
      fail(
        'END_VALUE',
        endType === 1
          ? 'END_TYPE 1 needs END_VALUE: the number of runs'
          : 'END_TYPE 2 needs END_VALUE: the end date in epoch seconds',
      );
    } else if (endType === 1) {
      if (!INTEGER.test(endValueText) || Number(endValueText) < 0) {
        fail('END_VALUE', `Error parsing END_VALUE, times has to be greater or equal to 0: ${endValueText}`);
      } else endValue = Number(endValueText);
    } else if (!/^\d+$/.test(endValueText)) {
      fail(
        'END_VALUE',
        `Error parsing END_VALUE, wrong format for date.: ${endValueText} (give epoch seconds)`,
      );
    } else endValue = Number(endValueText);
  } else if (endValueText !== undefined && endValueText !== '' && INTEGER.test(endValueText)) {
    endValue = Number(endValueText);
  }

  if (problems.length > 0) throw new TemplateError(problems);
  return { time, repeat, days: repeat === -1 ? days : days, endType, endValue, warning };
}

function locator(vector: VectorAttribute): (key: string) => Position {
  return (key) => vector.positions.get(key) ?? { line: vector.line, column: vector.column };
}

/** Validates a SCHED_ACTION vector (for jobs: ACTION is always `backup`, ARGS dropped). */
export function parseSchedAction(
  vector: VectorAttribute,
  options: { forBackupJob: boolean },
): SchedActionFields {
  return check(vector.values, locator(vector), options.forBackupJob);
}

/** `schedupdate`: only the sub-keys given change; the result is checked again as a whole. */
export function updateSchedAction(existing: SchedActionFields, vector: VectorAttribute): SchedActionFields {
  const merged = new Map<string, string>([
    ['TIME', String(existing.time)],
    ['REPEAT', String(existing.repeat)],
    ['DAYS', existing.days],
    ['END_TYPE', String(existing.endType)],
    ['END_VALUE', String(existing.endValue)],
    ['WARNING', String(existing.warning)],
  ]);
  for (const [k, v] of vector.values) merged.set(k, v);
  return check(merged, locator(vector), true);
}
