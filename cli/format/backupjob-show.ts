/**
 * `onebackupjob show` (SPEC.md 3.4): OneBackupJobHelper#format_resource, with the SCHEDULED
 * ACTIONS table of OpenNebulaHelper.scheduled_action_table. Pure: `now` and the time zone are
 * parameters (ONE reads Time.now and the process zone).
 */
import { templateToString } from '../../core/template/serialize.js';
import type { BackupJobDoc, SchedAction } from './backupjob-doc.js';
import { periodToStr, TIME_PATTERNS, timeToStr } from './strftime.js';
import { type ColumnDef, formatTable } from './table.js';

interface BackupJobShowOptions {
  /** Epoch seconds, fractions allowed (ONE compares with Time.now). */
  readonly now: number;
  /** IANA zone for every date (the CLI's local zone). */
  readonly timeZone: string;
  /** stdout is a terminal: bold headers, underlined as ONE does. */
  readonly tty?: boolean | undefined;
  /** The run in progress, one line per VM (ours; shown only while a run is in progress). */
  readonly currentRun?: { readonly title: string; readonly lines: string } | undefined;
}

const ESC = '\u001b';

/** CLIHelper.print_header of `%-80s`. */
function header(text: string, tty: boolean, underline = true): string {
  const padded = text.padEnd(80);
  return tty ? `${ESC}[1m${underline ? `${ESC}[4m` : ''}${padded}${ESC}[0m\n` : `${padded}\n`;
}

/** `%-15s: %-20s`: short values get trailing blanks out to 20. */
const field = (name: string, value: string) => `${name.padEnd(15)}: ${value.padEnd(20)}\n`;

const LOCK_LABELS = ['None', 'Use', 'Manage', 'Admin', 'All'] as const;

/** OpenNebulaHelper.level_lock_to_str. */
export function lockLabel(level: number | undefined): string {
  return LOCK_LABELS[level ?? 0] ?? '-';
}

/**
 * Ruby's Float#round(digits) for the few digits the CLI uses: round half away from zero, with
 * Ruby's correction for `x * 10^digits` losing the half (round_half_up in numeric.c).
 */
export function rubyRound(x: number, digits: number): number {
  const s = 10 ** digits;
  let f = Math.sign(x) * Math.round(Math.abs(x * s));
  if (x > 0 && (f + 0.5) / s <= x) f += 1;
  if (x < 0 && (f - 0.5) / s >= x) f -= 1;
  return f / s;
}

/** Ruby's Float#to_s in the range the CLI prints: `2.5`, `3.0`, `0.02`. */
export function rubyFloatToS(x: number): string {
  const text = String(x);
  return /^-?\d+$/.test(text) ? `${Object.is(x, -0) ? '-' : ''}${text}.0` : text;
}

/** The STATUS column: Done on, Error!, Next in X days/hours/minutes, Overdue!. */
export function schedStatus(sa: SchedAction, now: number, timeZone: string): string {
  if (sa.done > 0 && (sa.repeat < 0 || hasEnded(sa, now)))
    return `Done on ${timeToStr(sa.done, TIME_PATTERNS.dayTime, timeZone)}`;
  if (sa.message !== '') return `Error! ${sa.message}`;
  const diff = sa.time - now;
  const days = rubyRound(diff / 86400, 2);
  const hours = rubyRound(diff / 3600, 2);
  const minutes = rubyRound(diff / 60, 2);
  if (days > 1) return `Next in ${rubyFloatToS(days)} days`;
  if (hours > 1) return `Next in ${rubyFloatToS(hours)} hours`;
  if (minutes > 0) return `Next in ${rubyFloatToS(minutes)} minutes`;
  return 'Overdue!';
}

/** A repeating schedule that will not fire again (core/schedule/next-time.ts isFinished). */
function hasEnded(sa: SchedAction, now: number): boolean {
  if (sa.time <= sa.done) return true;
  if (sa.endType === 1 && sa.endValue <= 0) return true;
  return sa.endType === 2 && Math.max(now, sa.time) > sa.endValue;
}

/** REPEAT: `Weekly <DAYS>`, `Monthly <DAYS>`, `Yearly <DAYS>`, `Each <N> hours`, else DAYS alone. */
export function repeatLabel(sa: SchedAction): string {
  if (sa.interval) return `Every ${sa.interval}`;
  if (sa.cron) return `Cron ${sa.cron}`;
  switch (sa.repeat) {
    case 0:
      return `Weekly ${sa.days}`;
    case 1:
      return `Monthly ${sa.days}`;
    case 2:
      return `Yearly ${sa.days}`;
    case 3:
      return `Each ${sa.days} hours`;
    default:
      return sa.days;
  }
}

/** END: `None`, `After <N> times`, `On <%m/%d/%y>`, '' when there is no end. */
export function endLabel(sa: SchedAction, timeZone: string): string {
  switch (sa.endType) {
    case 0:
      return 'None';
    case 1:
      return `After ${sa.endValue} times`;
    case 2:
      return `On ${timeToStr(sa.endValue, TIME_PATTERNS.date, timeZone)}`;
    default:
      return '';
  }
}

/**
 * The SCHEDULED ACTIONS columns: all right-aligned and widened to fit (width 5, never cut)
 * except STATUS, left-aligned and cut at 50. ID gets `*` once WARNING has passed on an action
 * not yet done.
 */
function schedActionColumns(options: {
  readonly now: number;
  readonly timeZone: string;
}): ColumnDef<SchedAction>[] {
  const { now, timeZone } = options;
  const fit = { description: '', width: 5, truncate: false } as const;
  return [
    {
      ...fit,
      name: 'ID',
      value: (a) => (a.done <= 0 && a.warning !== 0 && a.warning < Math.floor(now) ? '*' : '') + a.id,
    },
    { ...fit, name: 'ACTION', value: (a) => a.action },
    { ...fit, name: 'ARGS', value: (a) => (a.args === '' ? '-' : a.args) },
    { ...fit, name: 'SCHEDULED', value: (a) => timeToStr(a.time, TIME_PATTERNS.dayTime, timeZone) },
    { ...fit, name: 'REPEAT', value: repeatLabel },
    { ...fit, name: 'END', value: (a) => endLabel(a, timeZone) },
    {
      name: 'STATUS',
      description: '',
      width: 50,
      align: 'left',
      value: (a) => schedStatus(a, now, timeZone),
    },
  ];
}

/** The SCHEDULED ACTIONS table (header and rows), as `onevm show` prints it too. */
export function formatSchedActions(actions: readonly SchedAction[], options: BackupJobShowOptions): string {
  return formatTable(schedActionColumns(options), actions, { tty: options.tty === true });
}

const mask = (u: boolean, m: boolean, a: boolean) => (u ? 'u' : '-') + (m ? 'm' : '-') + (a ? 'a' : '-');

export function formatBackupJob(doc: BackupJobDoc, options: BackupJobShowOptions): string {
  const tty = options.tty === true;
  const tz = options.timeZone;
  const p = doc.permissions;
  let out = header(`BACKUP JOB ${doc.id} INFORMATION`, tty);
  out += field('ID', String(doc.id));
  out += field('NAME', doc.name);
  out += field('USER', doc.uname);
  out += field('GROUP', doc.gname);
  out += field('LOCK', lockLabel(doc.lock?.locked));
  out += header('PERMISSIONS', tty, false);
  out += field('OWNER', mask(p.ownerU, p.ownerM, p.ownerA));
  out += field('GROUP', mask(p.groupU, p.groupM, p.groupA));
  out += field('OTHER', mask(p.otherU, p.otherM, p.otherA));
  out += '\n';
  out += header('LAST BACKUP JOB EXECUTION INFORMATION', tty);
  out += field('TIME', timeToStr(doc.lastBackupTime, TIME_PATTERNS.dayTimeSeconds, tz));
  out += field('DURATION', periodToStr(doc.lastBackupDuration));
  out += '\n';
  out += header('VIRTUAL MACHINE BACKUP STATUS', tty);
  out += field('UPDATED', doc.updatedVms.join(','));
  out += field('OUTDATED', doc.outdatedVms.join(','));
  out += field('ONGOING', doc.backingUpVms.join(','));
  out += field('ERROR', doc.errorVms.join(','));
  if (options.currentRun) {
    out += '\n';
    out += header(options.currentRun.title, tty);
    out += options.currentRun.lines;
  }
  if (doc.schedActions.length > 0) {
    out += '\n';
    out += header('SCHEDULED ACTIONS', tty, false);
    out += formatSchedActions(doc.schedActions, options);
  }
  out += '\n';
  out += header('TEMPLATE CONTENTS', tty, false);
  // ONE's `puts template_str` prints an empty line for an empty template.
  out += templateToString(doc.template) || '\n';
  return out;
}
