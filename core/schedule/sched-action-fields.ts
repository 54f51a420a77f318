/**
 * What a SCHED_ACTION is once validated: the stored fields, the REPEAT and END_TYPE codes, and the
 * options validation takes (sched-action-check.ts validates, sched-action.ts parses and updates).
 */

export const REPEAT_NONE = -1;
export const REPEAT_WEEKLY = 0;
export const REPEAT_MONTHLY = 1;
export const REPEAT_YEARLY = 2;
export const REPEAT_HOURLY = 3;

// END_TYPE: -1 none, 0 never, 1 after END_VALUE runs, 2 at the END_VALUE epoch.
export const END_NONE = -1;
export const END_TIMES = 1;
export const END_DATE = 2;

export type Repeat = -1 | 0 | 1 | 2 | 3;
export type EndType = -1 | 0 | 1 | 2;

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

/** The kinds of repeat; a schedule has one at most (REPEAT -1 is none). */
export const KIND_KEYS = ['REPEAT', 'INTERVAL', 'CRON'] as const;

/** The sorted, de-duplicated day numbers of a DAYS value that passed validation. */
export function daySet(days: string): number[] {
  const pieces = days
    .split(',')
    .map((d) => d.trim())
    .filter((d) => d !== '');
  return [...new Set(pieces.map(Number))].sort((a, b) => a - b);
}
