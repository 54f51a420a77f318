/**
 * Compatibility entry for callers written before `strftime.ts`: the same strftime, with the
 * process's zone when none is given. New code imports `strftime.ts` and passes the zone.
 */
import { localTimeZone, strftime as strftimeIn } from './strftime.js';

export { localTimeZone } from './strftime.js';

export function strftime(epochS: number, pattern: string, timeZone: string = localTimeZone()): string {
  return strftimeIn(epochS, pattern, timeZone);
}
