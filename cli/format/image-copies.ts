/** `oneimage show`: the image's copies in other datastores (its TEMPLATE's BACKUP_COPY vectors). */
import { localTimeZone, strftime } from './strftime.js';
import type { XmlElement } from './xml-read.js';

export function copiesSection(d: XmlElement): string {
  const copies = d.child('TEMPLATE')?.children('BACKUP_COPY') ?? [];
  if (copies.length === 0) return '';
  const lines = copies.map((c) => {
    const count = (name: string) => (c.text(name) === '' ? 0 : c.text(name).split(',').length);
    const at = Number(c.text('TIME'));
    const what = [
      `${count('COPIED_INCREMENTS')} copied`,
      `${count('PENDING_INCREMENTS')} pending`,
      `${count('FAILED_INCREMENTS')} failed`,
    ].join(', ');
    const reason = c.text('REASON') ? `\n  REASON: ${c.text('REASON')}` : '';
    return `DATASTORE ${c.text('DATASTORE_ID')} (${c.text('DATASTORE')}): ${c.text('STATE')} (increments: ${what}; ${(Number(c.text('BYTES_WRITTEN')) / 1048576).toFixed(1)}M written) at ${at ? strftime(at, '%m/%d/%y %H:%M:%S', localTimeZone()) : '-'}${reason}\n`;
  });
  return `\n${'COPIES'.padEnd(80)}\n${lines.join('')}`;
}
