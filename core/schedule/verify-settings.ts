/**
 * A datastore's scheduled verify: `VERIFY_INTERVAL` (a number of hours, "N minutes|hours|days|
 * weeks", or a cron expression such as "0 3 * * *" or "@daily") and `VERIFY_BUDGET` (bytes read
 * per run, "2 GiB", or time per run, "10 min"). Pure: parsing and the next time.
 */
import { nextCronMatch, parseCron } from './cron.js';
import { intervalSeconds, parseInterval } from './interval.js';
import { ScheduleSyntaxError } from './syntax-error.js';

export type VerifyInterval =
  | { readonly kind: 'every'; readonly seconds: number }
  | { readonly kind: 'cron'; readonly spec: ReturnType<typeof parseCron> };

export type VerifyBudget = { readonly bytes: number } | { readonly seconds: number };

const INTERVAL_FORM =
  'write a number of hours ("24"), "N minutes|hours|days|weeks" ("12 hours") or a cron expression ("0 3 * * *", "@daily")';

/** Reads VERIFY_INTERVAL; throws ScheduleSyntaxError saying what is wrong. */
export function parseVerifyInterval(text: string): VerifyInterval {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) {
    const hours = Number(s);
    if (!(hours > 0) || hours > 24 * 366)
      throw new ScheduleSyntaxError(`VERIFY_INTERVAL="${text}": hours must be more than 0 and at most 8784`);
    return { kind: 'every', seconds: Math.round(hours * 3600) };
  }
  if (s.startsWith('@') || s.split(/\s+/).length === 5) {
    try {
      return { kind: 'cron', spec: parseCron(s) };
    } catch (err) {
      throw new ScheduleSyntaxError(`VERIFY_INTERVAL="${text}": ${(err as Error).message}`);
    }
  }
  if (s.split(/\s+/).length === 2) {
    try {
      return { kind: 'every', seconds: intervalSeconds(parseInterval(s)) };
    } catch (err) {
      // parseInterval's message starts with INTERVAL="...".
      throw new ScheduleSyntaxError(`VERIFY_${(err as Error).message}`);
    }
  }
  throw new ScheduleSyntaxError(`VERIFY_INTERVAL="${text}": ${INTERVAL_FORM}`);
}

/** The first scheduled verify time strictly after `afterS` (epoch seconds). */
export function nextVerifyTime(interval: VerifyInterval, afterS: number, timeZone: string): number {
  if (interval.kind === 'every') return afterS + interval.seconds;
  return nextCronMatch(interval.spec, afterS, timeZone) ?? afterS + 366 * 86400;
}

const BYTE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};
const TIME_UNITS: Readonly<Record<string, number>> = {
  s: 1,
  sec: 1,
  second: 1,
  seconds: 1,
  m: 60,
  min: 60,
  minute: 60,
  minutes: 60,
  h: 3600,
  hour: 3600,
  hours: 3600,
};

const BUDGET_FORM = 'write bytes per run ("2 GiB", "500 MB") or time per run ("10 min", "1 hour")';

/** Reads VERIFY_BUDGET; throws ScheduleSyntaxError saying what is wrong. */
export function parseVerifyBudget(text: string): VerifyBudget {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$/.exec(text);
  if (!m) throw new ScheduleSyntaxError(`VERIFY_BUDGET="${text}": ${BUDGET_FORM}`);
  const count = Number(m[1]);
  const unit = (m[2] as string).toLowerCase();
  if (!(count > 0)) throw new ScheduleSyntaxError(`VERIFY_BUDGET="${text}": the amount must be more than 0`);
  // "m" alone is ambiguous; "M" (upper case) is mebibytes, "m" minutes.
  const bytes = m[2] === 'm' ? undefined : BYTE_UNITS[unit];
  if (bytes !== undefined) return { bytes: Math.round(count * bytes) };
  const seconds = TIME_UNITS[unit];
  if (seconds !== undefined) return { seconds: Math.round(count * seconds) };
  throw new ScheduleSyntaxError(`VERIFY_BUDGET="${text}": unknown unit "${m[2]}"; ${BUDGET_FORM}`);
}
