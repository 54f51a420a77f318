/**
 * The CLI schedule options (--schedule, --weekly/--monthly/--yearly/--hourly, --end) turned into
 * the SCHED_ACTION template `schedadd` sends (SPEC.md 3.6, OpenNebula
 * `OpenNebulaHelper.schedule_action_tmpl`), with decision 8: --end is a whole number of runs or an
 * ISO date, never a guess (ONE's `Date.parse` reads `--end 12` as "the 12th"). Backup jobs need an
 * absolute time, so `+N` is refused here instead of after the server call.
 *
 * The result is validated with the daemon's own SCHED_ACTION rules before anything is sent, so a
 * bad --weekly cannot leave `create` with a job and no schedule. Pure: `now` and the zone come in.
 */
import { TemplateError } from '../core/errors.js';
import { parseSchedAction, type Repeat } from '../core/schedule/sched-action.js';
import {
  daysInMonth,
  epochToWallClock,
  isTimeZone,
  offsetString,
  wallClockToEpoch,
} from '../core/schedule/zoned-time.js';
import { CliError } from './common/credentials.js';

export interface ScheduleOptions {
  readonly schedule: string;
  readonly weekly?: string | undefined;
  readonly monthly?: string | undefined;
  readonly yearly?: string | undefined;
  readonly hourly?: string | undefined;
  readonly end?: string | undefined;
}

export interface ScheduleContext {
  /** Epoch seconds. */
  readonly now: number;
  /** IANA zone that dates without an offset are read in, and that `description` is shown in. */
  readonly timeZone: string;
}

export interface ScheduleTemplate {
  /** `SCHED_ACTION = [TIME    = 1795348414, REPEAT = 3, DAYS = "6", END_TYPE = 0]` */
  readonly template: string;
  readonly time: number;
  /** The verbose line's tail: `backup scheduled at 2026-12-01 02:00:00 +0000`. */
  readonly description: string;
}

export type EndSpec =
  | { readonly endType: 1; readonly endValue: number }
  | { readonly endType: 2; readonly endValue: number };

/** 9999-12-31T23:59:59Z, as the daemon's limit. */
const MAX_EPOCH = 253402300799;

const FORMS =
  'now, an epoch, 2026-12-01T02:00 (optionally with Z or +01:00), "12/01 02:00" or "12/01/2026 02:00"';

// 2026-12-01 | 2026-12-01T02:00 | 2026-12-01 02:00:00.5 | ...T02:00Z | ... 02:00:00 +01:00 / +0100 / +01
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?: ?([Zz]|[+-]\d{2}(?::?\d{2})?))?)?$/;
// 12/01 | 12/01 02:00 | 12/01/2026 02:00:30 (month first, as Ruby's Time.parse reads it)
const SLASH = /^(\d{1,2})\/(\d{1,2})(?:\/(\d{4}))?(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$/;

interface Fields {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
}

function exists(f: Fields): boolean {
  return (
    f.month >= 1 &&
    f.month <= 12 &&
    f.day >= 1 &&
    f.day <= daysInMonth(f.year, f.month) &&
    f.hour <= 23 &&
    f.minute <= 59 &&
    f.second <= 59
  );
}

/** Seconds east of UTC from `Z`, `+01`, `+0100`, `-05:00`; undefined when out of range. */
function zoneOffset(text: string): number | undefined {
  if (text === 'Z' || text === 'z') return 0;
  const digits = text.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2) || '0');
  if (hours > 23 || minutes > 59) return undefined;
  return (text.startsWith('-') ? -1 : 1) * (hours * 3600 + minutes * 60);
}

/**
 * A date as the wall clock of `timeZone` (DST-correct: a time the clock skips moves forward, one
 * it shows twice is the first), or at the given offset; null when there is no such date or time.
 * The readers below return undefined when the text is not their form at all.
 */
function toEpoch(f: Fields, offset: string | undefined, timeZone: string): number | null {
  if (!exists(f)) return null;
  let epoch: number;
  if (offset === undefined) epoch = wallClockToEpoch(f, timeZone);
  else {
    const seconds = zoneOffset(offset);
    if (seconds === undefined) return null;
    epoch = wallClockToEpoch(f, 'UTC') - seconds;
  }
  return epoch >= 0 && epoch <= MAX_EPOCH ? epoch : null;
}

function isoTime(text: string, timeZone: string): number | null | undefined {
  const m = ISO.exec(text);
  if (!m) return undefined;
  const n = (i: number) => Number(m[i] ?? '0');
  return toEpoch(
    { year: n(1), month: n(2), day: n(3), hour: n(4), minute: n(5), second: n(6) },
    m[7],
    timeZone,
  );
}

function slashTime(text: string, ctx: ScheduleContext): number | null | undefined {
  const m = SLASH.exec(text);
  if (!m) return undefined;
  const n = (i: number) => Number(m[i] ?? '0');
  const year = m[3] !== undefined ? n(3) : epochToWallClock(ctx.now, ctx.timeZone).year;
  return toEpoch(
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
export function formatScheduleTime(epochS: number, timeZone: string): string {
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

/** The options to the SCHED_ACTION template `schedadd` sends, checked as the daemon will check it. */
export function scheduleTemplate(opts: ScheduleOptions, ctx: ScheduleContext): ScheduleTemplate {
  if (!isTimeZone(ctx.timeZone)) throw new CliError(`unknown time zone ${ctx.timeZone}`);
  const time = parseTimeSpec(opts.schedule, ctx);
  // As OpenNebula: the first of weekly, monthly, yearly, hourly that is given wins.
  const chosen = REPEATS.find(([name]) => opts[name] !== undefined);
  const repeat = chosen && { option: chosen[0], value: chosen[1], days: (opts[chosen[0]] as string).trim() };
  const end = opts.end === undefined ? undefined : parseEndSpec(opts.end, ctx);
  if (end && !repeat) {
    throw new CliError(
      `--end ${opts.end}: a schedule that does not repeat has no end; add --weekly, --monthly, --yearly or --hourly`,
    );
  }
  if (end?.endType === 2 && end.endValue <= time) {
    throw new CliError(
      `--end ${opts.end}: ${formatScheduleTime(end.endValue, ctx.timeZone)} is not after the first run at ${formatScheduleTime(time, ctx.timeZone)}, so the schedule would never run`,
    );
  }

  const values = new Map<string, string>([['TIME', String(time)]]);
  if (repeat) {
    values.set('REPEAT', String(repeat.value));
    values.set('DAYS', repeat.days);
  }
  values.set('END_TYPE', String(end?.endType ?? 0));
  if (end) values.set('END_VALUE', String(end.endValue));
  try {
    parseSchedAction(
      { kind: 'vector', name: 'SCHED_ACTION', values, positions: new Map(), line: 1, column: 1 },
      { forBackupJob: true },
    );
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    const option = (attribute: string | undefined) =>
      attribute === 'SCHED_ACTION/DAYS' && repeat
        ? `--${repeat.option} ${JSON.stringify(repeat.days)}`
        : attribute === 'SCHED_ACTION/END_VALUE'
          ? `--end ${opts.end ?? ''}`
          : `--schedule ${opts.schedule}`;
    throw new CliError(err.problems.map((p) => `${option(p.attribute)}: ${p.message}`).join('\n'));
  }

  // Byte for byte what OpenNebula's CLI sends, TIME's padding included.
  let text = `SCHED_ACTION = [TIME    = ${time}`;
  if (repeat) text += `, REPEAT = ${repeat.value}, DAYS = "${repeat.days}"`;
  if (end) text += `, END_TYPE = ${end.endType}, END_VALUE = ${end.endValue}`;
  else if (repeat) text += ', END_TYPE = 0';
  return {
    template: `${text}]`,
    time,
    description: `backup scheduled at ${formatScheduleTime(time, ctx.timeZone)}`,
  };
}
