/**
 * The CLI schedule options (--schedule, --weekly/--monthly/--yearly/--hourly, --end) turned into
 * a SCHED_ACTION template (SPEC.md 3.6) with decision 8: --end is a whole number of runs or an
 * ISO date, never a guess; a relative --schedule is refused for backup jobs.
 */
import { epochToWallClock, offsetString, wallClockToEpoch } from '../core/schedule/zoned-time.js';
import { CliError } from './common/credentials.js';

export interface ScheduleSpec {
  readonly schedule: string;
  readonly weekly?: string;
  readonly monthly?: string;
  readonly yearly?: string;
  readonly hourly?: string;
  readonly end?: string;
}

export interface ScheduleContext {
  /** Epoch seconds. */
  readonly now: number;
  readonly timeZone: string;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?\s*(Z|[+-]\d{2}:?\d{2})?$/;
const US = /^(\d{1,2})\/(\d{1,2})(?:\/(\d{4}))?\s+(\d{1,2}):(\d{2})(?::(\d{2}))?$/;

function valid(y: number, m: number, d: number, h: number, mi: number, s: number): boolean {
  const date = new Date(Date.UTC(y, m - 1, d));
  return date.getUTCMonth() === m - 1 && date.getUTCDate() === d && h < 24 && mi < 60 && s < 60;
}

/** A time as users write it, to epoch seconds in the given zone. */
export function parseTimeSpec(spec: string, ctx: ScheduleContext): number {
  const s = spec.trim();
  if (s === 'now') return ctx.now;
  if (/^\d+$/.test(s)) return Number(s);
  if (/^\+\d+$/.test(s)) {
    throw new CliError(
      `backup jobs need an absolute time, not ${s}: use now, an ISO date (2026-12-01T02:00), MM/DD HH:MM or an epoch`,
    );
  }
  const iso = ISO.exec(s);
  const us = iso ? undefined : US.exec(s);
  if (iso || us) {
    const [y, m, d, h, mi, sec] = iso
      ? [iso[1], iso[2], iso[3], iso[4] ?? '0', iso[5] ?? '0', iso[6] ?? '0'].map(Number)
      : [
          us?.[3] ?? String(epochToWallClock(ctx.now, ctx.timeZone).year),
          us?.[1],
          us?.[2],
          us?.[4],
          us?.[5],
          us?.[6] ?? '0',
        ].map(Number);
    const fields = [y, m, d, h, mi, sec] as [number, number, number, number, number, number];
    if (!valid(...fields)) throw new CliError(`Error parsing time spec: ${spec} (no such date or time)`);
    const zone = iso?.[7];
    if (zone) {
      const sign = zone === 'Z' ? 0 : zone.startsWith('-') ? -1 : 1;
      const digits = zone.replace(/[^0-9]/g, '');
      const offset = sign * (Number(digits.slice(0, 2)) * 3600 + Number(digits.slice(2) || '0') * 60);
      return Date.UTC(fields[0], fields[1] - 1, fields[2], fields[3], fields[4], fields[5]) / 1000 - offset;
    }
    return wallClockToEpoch(
      {
        year: fields[0],
        month: fields[1],
        day: fields[2],
        hour: fields[3],
        minute: fields[4],
        second: fields[5],
      },
      ctx.timeZone,
    );
  }
  throw new CliError(
    `Error parsing time spec: ${spec} (use now, 2026-12-01T02:00, "12/01 02:00" or an epoch)`,
  );
}

function formatLocal(epochS: number, timeZone: string): string {
  const w = epochToWallClock(epochS, timeZone);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${w.year}-${two(w.month)}-${two(w.day)} ${two(w.hour)}:${two(w.minute)}:${two(w.second)} ${offsetString(epochS, timeZone)}`;
}

export function scheduleTemplate(
  spec: ScheduleSpec,
  ctx: ScheduleContext,
): { template: string; time: number; description: string } {
  const time = parseTimeSpec(spec.schedule, ctx);
  const parts = [`TIME = ${time}`];
  const repeat: [number, string] | undefined =
    spec.weekly !== undefined
      ? [0, spec.weekly]
      : spec.monthly !== undefined
        ? [1, spec.monthly]
        : spec.yearly !== undefined
          ? [2, spec.yearly]
          : spec.hourly !== undefined
            ? [3, spec.hourly]
            : undefined;
  if (repeat) parts.push(`REPEAT = ${repeat[0]}`, `DAYS = "${repeat[1].replaceAll('"', '')}"`);
  if (spec.end !== undefined) {
    const end = spec.end.trim();
    if (/^\d+$/.test(end) && Number(end) > 0) parts.push('END_TYPE = 1', `END_VALUE = ${Number(end)}`);
    else if (/^\d{4}-\d{2}-\d{2}/.test(end))
      parts.push('END_TYPE = 2', `END_VALUE = ${parseTimeSpec(end, ctx)}`);
    else {
      throw new CliError(
        `--end ${end}: give a whole number of runs (e.g. 10) or an ISO date (e.g. 2027-01-31)`,
      );
    }
  } else if (repeat) parts.push('END_TYPE = 0');
  return {
    template: `SCHED_ACTION = [${parts.join(', ')}]\n`,
    time,
    description: `backup scheduled at ${formatLocal(time, ctx.timeZone)}`,
  };
}
