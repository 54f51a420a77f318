import { epochToWallClock } from './zoned-time.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** OpenNebula's backup image name: `<VM_ID> <DD-Mon> <HH.MM.SS>` (strftime `%d-%b %H.%M.%S`). */
export function backupImageName(vmId: number, epochS: number, timeZone: string): string {
  const w = epochToWallClock(epochS, timeZone);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${vmId} ${two(w.day)}-${MONTHS[w.month - 1]} ${two(w.hour)}.${two(w.minute)}.${two(w.second)}`;
}
