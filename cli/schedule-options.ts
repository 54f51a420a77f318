/**
 * The CLI schedule options (--schedule, --weekly/--monthly/--yearly/--hourly, --end, and the
 * Freezer kinds --interval and --cron) turned into the SCHED_ACTION template `schedadd` sends
 * (SPEC.md 3.6, OpenNebula `OpenNebulaHelper.schedule_action_tmpl`), with decision 8: --end is a
 * whole number of runs or an ISO date, never a guess (ONE's `Date.parse` reads `--end 12` as "the
 * 12th"). Backup jobs need an absolute time, so `+N` is refused here instead of after the server
 * call. Options that make no sense together or alone are refused with the option named:
 * --weekly/--monthly/--yearly/--hourly need --schedule (the first run); --interval, --cron and
 * those four are different kinds of repeat (among the four, the first given wins, as in ONE).
 *
 * The result is validated with the daemon's own SCHED_ACTION rules before anything is sent, so a
 * bad --weekly cannot leave `create` with a job and no schedule. Pure: `now` and the zone come in.
 */
import { TemplateError } from '../core/errors.js';
import { describeSchedule } from '../core/schedule/describe.js';
import { fieldsToEpoch, isoTime, MAX_EPOCH } from '../core/schedule/iso-time.js';
import { parseSchedAction } from '../core/schedule/sched-action.js';
import type { Repeat } from '../core/schedule/sched-action-fields.js';
import { epochToWallClock, isTimeZone, offsetString } from '../core/schedule/zoned-time.js';
import { CliError } from './cli-error.js';

export interface ScheduleOptions {
  /** The first run; optional with --interval (default now) and --cron (default its first match). */
  readonly schedule?: string | undefined;
  readonly weekly?: string | undefined;
  readonly monthly?: string | undefined;
  readonly yearly?: string | undefined;
  readonly hourly?: string | undefined;
  /** Freezer interval: "6 hours", "30 minutes", "1 day", "2 weeks". */
  readonly interval?: string | undefined;
  /** Five-field cron expression, evaluated in the daemon's zone: "0 3 * * 1-5". */
  readonly cron?: string | undefined;
  readonly end?: string | undefined;
}

type ScheduleOptionName = keyof ScheduleOptions;

/** The help text of each option (`onebackupjob create|backup --help`). */
export const SCHEDULE_OPTION_HELP: Readonly<Record<ScheduleOptionName, string>> = {
  schedule:
    'Schedule the backup: now, an ISO date/time (2026-12-01T02:00), MM/DD HH:MM, or an epoch; with --interval or --cron, the earliest start',
  weekly: 'Repeat weekly on these days (0 = Sunday ... 6), e.g. "1,4"; needs --schedule',
  monthly:
    'Repeat monthly on these days of the month (1-31; 31 is the last day of shorter months); needs --schedule',
  yearly: 'Repeat yearly on these days of the year (0 = 1 January ... 365); needs --schedule',
  hourly: 'Repeat every N hours (1-167); needs --schedule',
  interval:
    'Repeat every "N minutes|hours|days|weeks" (e.g. "6 hours"), from --schedule or now; days and weeks keep the wall-clock time',
  cron: 'Repeat on a 5-field cron expression (minute hour day-of-month month day-of-week), e.g. "0 3 * * 1-5", in the daemon\'s time zone',
  end: 'End of a repeating schedule: a whole number of runs, or an ISO date (2027-01-31)',
};

/**
 * The schedule options given on a command line (yargs arguments), or undefined when none is.
 * Values are taken as strings (`--hourly 6` arrives as a number).
 */
export function scheduleOptionsFromArgs(
  argv: Readonly<Record<string, unknown>>,
): ScheduleOptions | undefined {
  const out: Partial<Record<ScheduleOptionName, string>> = {};
  for (const name of Object.keys(SCHEDULE_OPTION_HELP) as ScheduleOptionName[]) {
    const v = argv[name];
    if (v !== undefined) out[name] = String(v);
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

export interface ScheduleContext {
  /** Epoch seconds. */
  readonly now: number;
  /** IANA zone that dates without an offset are read in, and that `description` is shown in. */
  readonly timeZone: string;
}

interface ScheduleTemplate {
  /** `SCHED_ACTION = [TIME    = 1795348414, REPEAT = 3, DAYS = "6", END_TYPE = 0]` */
  readonly template: string;
  readonly time: number;
  /** The verbose line's tail: `backup scheduled at 2026-12-01 02:00:00 +0000`. */
  readonly description: string;
}

type EndSpec =
  | { readonly endType: 1; readonly endValue: number }
  | { readonly endType: 2; readonly endValue: number };

const FORMS =
  'now, an epoch, 2026-12-01T02:00 (optionally with Z or +01:00), "12/01 02:00" or "12/01/2026 02:00"';

// 12/01 | 12/01 02:00 | 12/01/2026 02:00:30 (month first, as Ruby's Time.parse reads it)
const SLASH = /^(\d{1,2})\/(\d{1,2})(?:\/(\d{4}))?(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$/;

function slashTime(text: string, ctx: ScheduleContext): number | null | undefined {
  const m = SLASH.exec(text);
  if (!m) return undefined;
  const n = (i: number) => Number(m[i] ?? '0');
  const year = m[3] !== undefined ? n(3) : epochToWallClock(ctx.now, ctx.timeZone).year;
  return fieldsToEpoch(
    { year, month: n(1), day: n(2), hour: n(4), minute: n(5), second: n(6) },
    undefined,
    ctx.timeZone,
  );
}

/**
 * `--schedule`: `now`, an epoch, an ISO 8601 date or date-time (with or without an offset; without
 * one it is the wall clock of `ctx.timeZone`), `MM/DD [HH:MM[:SS]]` (current year in that zone) or
 * `MM/DD/YYYY [HH:MM[:SS]]`. A missing time is midnight. `+N` is refused: backup jobs need an
 * absolute time.
 */
export function parseTimeSpec(spec: string, ctx: ScheduleContext): number {
  const s = spec.trim();
  if (s === 'now') return ctx.now;
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n > MAX_EPOCH) throw new CliError(`Error parsing time spec: ${spec} (an epoch past year 9999)`);
    return n;
  }
  if (/^\+\d+$/.test(s)) {
    throw new CliError(
      `--schedule ${s}: backup jobs need an absolute time, not one relative to now; use ${FORMS}`,
    );
  }
  const iso = isoTime(s, ctx.timeZone);
  const epoch = iso !== undefined ? iso : slashTime(s, ctx);
  if (epoch === null) {
    throw new CliError(`Error parsing time spec: ${spec} (no such date or time, or not in 1970-9999)`);
  }
  if (epoch === undefined) throw new CliError(`Error parsing time spec: ${spec}`);
  return epoch;
}

/**
 * `--end`: a plain integer > 0 is a number of runs (END_TYPE 1); an ISO date, optionally with a
 * time and offset, is the end (END_TYPE 2) at that date's midnight, or that time, in
 * `ctx.timeZone`. Nothing else is accepted.
 */
export function parseEndSpec(spec: string, ctx: ScheduleContext): EndSpec {
  const s = spec.trim();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n < 1 || !Number.isSafeInteger(n)) {
      throw new CliError(`--end ${s}: the number of runs has to be 1 or more`);
    }
    return { endType: 1, endValue: n };
  }
  const epoch = isoTime(s, ctx.timeZone);
  if (epoch === null) throw new CliError(`--end ${s}: no such date or time, or not in 1970-9999`);
  if (epoch === undefined) {
    throw new CliError(
      `--end ${s}: give a number of runs (--end 10) or an ISO date, optionally with a time (--end 2027-01-31, --end 2027-01-31T02:00)`,
    );
  }
  return { endType: 2, endValue: epoch };
}

/** strftime `%Y-%m-%d %H:%M:%S %z` in `timeZone`. */
function formatScheduleTime(epochS: number, timeZone: string): string {
  const w = epochToWallClock(epochS, timeZone);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${w.year}-${two(w.month)}-${two(w.day)} ${two(w.hour)}:${two(w.minute)}:${two(w.second)} ${offsetString(epochS, timeZone)}`;
}

const REPEATS: readonly (readonly ['weekly' | 'monthly' | 'yearly' | 'hourly', Exclude<Repeat, -1>])[] = [
  ['weekly', 0],
  ['monthly', 1],
  ['yearly', 2],
  ['hourly', 3],
];

/** Refuses options that need another one or exclude each other, naming them. */
function checkCombination(opts: ScheduleOptions): void {
  const repeats = REPEATS.map(([name]) => name).filter((name) => opts[name] !== undefined);
  const kinds = [
    ...(repeats[0] ? [repeats[0]] : []),
    ...(['interval', 'cron'] as const).filter((k) => opts[k] !== undefined),
  ];
  if (kinds.length > 1) {
    throw new CliError(
      `--${kinds[0]} and --${kinds[1]} cannot be combined: --weekly/--monthly/--yearly/--hourly, --interval and --cron are different kinds of repeat; choose one`,
    );
  }
  if (opts.schedule === undefined) {
    const first = repeats[0];
    if (first) {
      throw new CliError(
        `--${first} needs --schedule TIME: the first run (e.g. --schedule now --${first} ...)`,
      );
    }
    if (opts.end !== undefined && kinds.length === 0) {
      throw new CliError(
        '--end needs a repeating schedule: --schedule TIME with --weekly, --monthly, --yearly or --hourly, or --interval, or --cron',
      );
    }
  }
}

/** The daemon's own SCHED_ACTION check, its problems named by the option that caused them. */
function checkAsDaemon(
  values: Map<string, string>,
  opts: ScheduleOptions,
  ctx: ScheduleContext,
  repeatOption?: string,
) {
  try {
    return parseSchedAction(
      { kind: 'vector', name: 'SCHED_ACTION', values, positions: new Map(), line: 1, column: 1 },
      { forBackupJob: true, now: ctx.now, timeZone: ctx.timeZone },
    );
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    const option = (attribute: string | undefined) => {
      switch (attribute) {
        case 'SCHED_ACTION/DAYS':
          return repeatOption
            ? `--${repeatOption} ${JSON.stringify(opts[repeatOption as ScheduleOptionName])}`
            : '--schedule';
        case 'SCHED_ACTION/END_VALUE':
          return `--end ${opts.end ?? ''}`;
        case 'SCHED_ACTION/INTERVAL':
          return `--interval ${JSON.stringify(opts.interval ?? '')}`;
        case 'SCHED_ACTION/CRON':
          return `--cron ${JSON.stringify(opts.cron ?? '')}`;
        default:
          return `--schedule ${opts.schedule ?? ''}`;
      }
    };
    throw new CliError(err.problems.map((p) => `${option(p.attribute)}: ${p.message}`).join('\n'));
  }
}

/** A template string value: the only escape is \" (SPEC.md 1.2); a trailing backslash gets a blank. */
const quote = (text: string) => {
  const escaped = text.replaceAll('"', '\\"');
  return `"${escaped.endsWith('\\') ? `${escaped} ` : escaped}"`;
};

/** The options to the SCHED_ACTION template `schedadd` sends, checked as the daemon will check it. */
export function scheduleTemplate(opts: ScheduleOptions, ctx: ScheduleContext): ScheduleTemplate {
  if (!isTimeZone(ctx.timeZone)) throw new CliError(`unknown time zone ${ctx.timeZone}`);
  checkCombination(opts);
  const given = opts.schedule === undefined ? undefined : parseTimeSpec(opts.schedule, ctx);
  // As OpenNebula: the first of weekly, monthly, yearly, hourly that is given wins.
  const chosen = REPEATS.find(([name]) => opts[name] !== undefined);
  const repeat = chosen && { option: chosen[0], value: chosen[1], days: (opts[chosen[0]] as string).trim() };
  const freezer = opts.interval !== undefined || opts.cron !== undefined;
  const end = opts.end === undefined ? undefined : parseEndSpec(opts.end, ctx);
  if (end && !repeat && !freezer) {
    throw new CliError(
      `--end ${opts.end}: a schedule that does not repeat has no end; add --weekly, --monthly, --yearly, --hourly, --interval or --cron`,
    );
  }
  // --interval starts at --schedule or now; --cron at its first match from --schedule or now.
  const time = given ?? ctx.now;

  const values = new Map<string, string>();
  if (opts.cron === undefined || given !== undefined) values.set('TIME', String(time));
  if (repeat) {
    values.set('REPEAT', String(repeat.value));
    values.set('DAYS', repeat.days);
  }
  if (opts.interval !== undefined) values.set('INTERVAL', opts.interval.trim());
  if (opts.cron !== undefined) values.set('CRON', opts.cron.trim());
  values.set('END_TYPE', String(end?.endType ?? 0));
  if (end) values.set('END_VALUE', String(end.endValue));
  const parsed = checkAsDaemon(values, opts, ctx, repeat?.option);
  if (end?.endType === 2 && end.endValue <= parsed.time) {
    throw new CliError(
      `--end ${opts.end}: ${formatScheduleTime(end.endValue, ctx.timeZone)} is not after the first run at ${formatScheduleTime(parsed.time, ctx.timeZone)}, so the schedule would never run`,
    );
  }

  // Byte for byte what OpenNebula's CLI sends for its options, TIME's padding included.
  const parts: string[] = [];
  if (values.has('TIME')) parts.push(`TIME    = ${time}`);
  if (repeat) parts.push(`REPEAT = ${repeat.value}`, `DAYS = "${repeat.days}"`);
  if (opts.interval !== undefined) parts.push(`INTERVAL = ${quote(opts.interval.trim())}`);
  if (opts.cron !== undefined) parts.push(`CRON = ${quote(opts.cron.trim())}`);
  if (end) parts.push(`END_TYPE = ${end.endType}`, `END_VALUE = ${end.endValue}`);
  else if (repeat || freezer) parts.push('END_TYPE = 0');
  const at = `backup scheduled at ${formatScheduleTime(time, ctx.timeZone)}`;
  // The cron's first match is the daemon's to compute, in its own zone: not shown here.
  const description =
    opts.cron !== undefined
      ? `backup scheduled by ${describeSchedule(parsed)}`
      : opts.interval !== undefined
        ? `${at}, then ${describeSchedule(parsed, ctx.timeZone)}`
        : at;
  return { template: `SCHED_ACTION = [${parts.join(', ')}]`, time: parsed.time, description };
}
